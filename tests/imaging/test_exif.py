"""EXIF facts: orientation and date taken from real Pillow-written EXIF, garbage never raises."""

from __future__ import annotations

import io
import struct
from datetime import UTC, datetime

import pytest
from PIL import Image

from picbucket.imaging.exif import ExifFacts, orientation_only, read_exif


def pillow_exif(ifd0: dict[int, object], exif_ifd: dict[int, object] | None = None) -> bytes:
    """Return TIFF EXIF bytes written by Pillow (little-endian, no Exif prefix)."""
    exif = Image.Exif()
    for tag, value in ifd0.items():
        exif[tag] = value
    if exif_ifd:
        sub = exif.get_ifd(0x8769)
        for tag, value in exif_ifd.items():
            sub[tag] = value
    data = exif.tobytes()
    assert data.startswith(b"Exif\0\0")
    return data[6:]


@pytest.mark.parametrize("orientation", range(1, 9))
def test_orientation_is_read(orientation: int) -> None:
    assert read_exif(pillow_exif({0x0112: orientation})).orientation == orientation


def test_out_of_range_orientation_means_upright() -> None:
    assert read_exif(pillow_exif({0x0112: 9})).orientation == 1


def test_date_taken_with_offset_is_converted_to_utc() -> None:
    tiff = pillow_exif({}, {0x9003: "2024:06:01 14:30:05", 0x9011: "+02:00"})
    assert read_exif(tiff).taken_at == datetime(2024, 6, 1, 12, 30, 5, tzinfo=UTC)


def test_date_without_offset_is_taken_as_utc_wall_clock() -> None:
    tiff = b"Exif\0\0" + pillow_exif({0x0112: 6}, {0x9003: "2023:12:31 23:59:59"})
    assert read_exif(tiff) == ExifFacts(6, datetime(2023, 12, 31, 23, 59, 59, tzinfo=UTC))


def test_falls_back_to_digitized_then_ifd0_datetime() -> None:
    digitized = pillow_exif({}, {0x9004: "2020:01:02 03:04:05", 0x9012: "-05:00"})
    assert read_exif(digitized).taken_at == datetime(2020, 1, 2, 8, 4, 5, tzinfo=UTC)
    ifd0 = pillow_exif({0x0132: "2019:07:08 09:10:11"})
    assert read_exif(ifd0).taken_at == datetime(2019, 7, 8, 9, 10, 11, tzinfo=UTC)


def test_big_endian_exif_is_read() -> None:
    tiff = orientation_only(8)
    assert read_exif(tiff) == ExifFacts(8, None)


@pytest.mark.parametrize(
    "garbage",
    [
        b"",
        b"Exif\0\0",
        b"II*\0",
        b"II*\0\xff\xff\xff\xff",
        b"MM\0*\0\0\0\x08\xff\xff" + b"\0" * 20,  # 65535 entries claimed, 1 present
        # A DateTimeOriginal pointing far outside the buffer, and an Exif IFD pointing at itself.
        b"MM\0*\0\0\0\x08\0\x02"
        + struct.pack(">HHII", 0x0132, 2, 20, 0x7FFFFFF0)
        + struct.pack(">HHII", 0x8769, 4, 1, 8)
        + b"\0\0\0\0",
        b"\x00" * 1000,
        bytes(range(256)) * 10,
    ],
)
def test_garbage_never_raises(garbage: bytes) -> None:
    assert read_exif(garbage) == ExifFacts(1, None)


@pytest.mark.parametrize("orientation", range(1, 9))
def test_orientation_only_is_the_single_field_pillow_sees(orientation: int) -> None:
    out = io.BytesIO()
    Image.new("RGB", (4, 2)).save(out, "JPEG", exif=b"Exif\0\0" + orientation_only(orientation))
    exif = Image.open(io.BytesIO(out.getvalue())).getexif()
    assert dict(exif) == {0x0112: orientation}


def test_orientation_only_refuses_invalid_values() -> None:
    with pytest.raises(ValueError, match="must be 1"):
        orientation_only(0)
