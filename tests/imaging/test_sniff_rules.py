"""Sniffing and the orientation-only EXIF payload, byte for byte (mutants survived here)."""

from __future__ import annotations

import struct

import pytest

from picbucket.domain import InvalidImage
from picbucket.imaging.exif import orientation_only
from picbucket.imaging.sniff import detect, ftyp_brands

MARKUP = "SVG, HTML and other text files are not accepted"


@pytest.mark.parametrize(
    "head",
    [
        b'\xef\xbb\xbf<svg xmlns="http://www.w3.org/2000/svg"/>',  # UTF-8 byte order mark
        b"\x00\x00 \t\r\n<!DOCTYPE html><p>hi",
        b"  <?xml version='1.0'?><svg/>",
    ],
)
def test_markup_behind_a_bom_or_blank_space_is_named_as_markup(head: bytes) -> None:
    with pytest.raises(InvalidImage, match=MARKUP):
        detect(head)


def test_other_bytes_are_simply_not_an_image() -> None:
    with pytest.raises(InvalidImage) as refused:
        detect(b"just some text <svg/> later on")
    assert MARKUP not in refused.value.message
    assert "(or it is damaged)" in refused.value.message


def _ftyp(major: bytes, *compatible: bytes, size: int | None = None) -> bytes:
    body = major + b"\0\0\0\0" + b"".join(compatible)
    return struct.pack(">I", size or 8 + len(body)) + b"ftyp" + body


def test_ftyp_brands_are_the_major_and_every_compatible_brand() -> None:
    assert ftyp_brands(_ftyp(b"avif", b"mif1", b"miaf")) == {b"avif", b"mif1", b"miaf"}
    assert ftyp_brands(_ftyp(b"heic")) == {b"heic"}


def test_ftyp_brands_stop_at_the_box_end_and_refuse_broken_boxes() -> None:
    # The box says 20 bytes: "miaf" after it belongs to the next box.
    assert ftyp_brands(_ftyp(b"avif", b"mif1", size=20) + b"miaf") == {b"avif", b"mif1"}
    # The head is cut inside the box: only whole brands count.
    assert ftyp_brands(_ftyp(b"avif", b"mif1", b"miaf")[:23]) == {b"avif", b"mif1"}
    assert ftyp_brands(_ftyp(b"avif", size=15) + b"pad!") == set()
    assert ftyp_brands(b"\0\0\0\x18moov" + b"avif" * 4) == set()
    assert ftyp_brands(_ftyp(b"avif")[:15]) == set()


def test_orientation_only_is_the_smallest_tiff_holding_it() -> None:
    assert orientation_only(6) == (
        b"MM\0*"  # big-endian TIFF
        + b"\0\0\0\x08"  # IFD0 right after the header
        + b"\0\x01"  # one entry
        + b"\x01\x12\0\x03\0\0\0\x01\0\x06\0\0"  # Orientation, SHORT, count 1, value 6
        + b"\0\0\0\0"  # no next IFD
    )
    for wrong in (0, 9):
        with pytest.raises(ValueError, match=r"orientation must be 1\.\.8"):
            orientation_only(wrong)
