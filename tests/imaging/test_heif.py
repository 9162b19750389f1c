"""HEIC/HEIF -> JPEG: upright, close to the source, no metadata, date taken read, limits first."""

from __future__ import annotations

import io
import math
import struct
import time
from datetime import UTC, datetime

import iccfiles
import pillow_heif
import pytest
from PIL import Image, ImageChops, ImageStat

from picbucket.domain import InvalidImage, TooLarge
from picbucket.imaging import icc
from picbucket.imaging.container import Frame, Limits, Parsed
from picbucket.imaging.exif import read_exif
from picbucket.imaging.heif import convert_heif
from picbucket.imaging.isobmff import looks_like_avif, looks_like_heif

LIMITS = Limits(max_bytes=25_000_000, max_pixels=50_000_000, max_frames=100)
EXIF_MARK, XMP_MARK = b"EXIF-SECRET-CAM", b"XMP-SECRET-GPS"

pillow_heif.register_heif_opener()


def picture(size: tuple[int, int] = (96, 64)) -> Image.Image:
    """Return a gradient with a blue marker block in the top-left corner."""
    img = Image.merge(
        "RGB",
        (
            Image.linear_gradient("L").resize(size),
            Image.linear_gradient("L").rotate(90).resize(size),
            Image.new("L", size, 90),
        ),
    )
    img.paste((0, 0, 255), (0, 0, size[0] // 4, size[1] // 4))
    return img


def heic(img: Image.Image, orientation: int | None = None, **options: object) -> bytes:
    """Return ``img`` as HEIC with an Exif (make, date taken, optional orientation) and XMP."""
    exif = Image.Exif()
    exif[0x010F] = EXIF_MARK.decode()
    if orientation:
        exif[0x0112] = orientation
    sub = exif.get_ifd(0x8769)
    sub[0x9003] = "2024:07:14 18:30:05"  # DateTimeOriginal
    sub[0x9011] = "+02:00"  # OffsetTimeOriginal
    out = io.BytesIO()
    xmp = b"<x:xmpmeta><rdf:Description>" + XMP_MARK + b"</rdf:Description></x:xmpmeta>"
    img.save(out, "HEIF", exif=exif.tobytes(), xmp=xmp, quality=90, **options)
    return out.getvalue()


def convert(data: bytes, limits: Limits = LIMITS) -> tuple[bytes, Parsed]:
    out = io.BytesIO()
    parsed = convert_heif(io.BytesIO(data), out, limits)
    return out.getvalue(), parsed


def opened(data: bytes) -> Image.Image:
    with Image.open(io.BytesIO(data)) as img:
        img.load()
        return img.copy()


def psnr(a: Image.Image, b: Image.Image) -> float:
    mse = sum(rms**2 for rms in ImageStat.Stat(ImageChops.difference(a, b)).rms) / 3
    return math.inf if mse == 0 else 10 * math.log10(255**2 / mse)


def test_heic_becomes_a_close_jpeg_without_metadata() -> None:
    source = heic(picture())
    jpeg, parsed = convert(source)
    out = opened(jpeg)
    assert Image.open(io.BytesIO(jpeg)).format == "JPEG"
    assert out.size == (96, 64)
    assert psnr(out.convert("RGB"), pillow_heif.open_heif(io.BytesIO(source)).to_pillow()) > 38
    for marker in (EXIF_MARK, XMP_MARK, b"Exif\0\0", b"http://ns.adobe.com/xap"):
        assert marker not in jpeg
    assert EXIF_MARK in source and XMP_MARK in source
    assert not out.getexif()
    assert parsed.format == "JPEG"
    assert (parsed.width, parsed.height, parsed.orientation) == (96, 64, 1)
    assert parsed.frames == [Frame(96, 64)]


def test_date_taken_is_read_from_the_heic_exif() -> None:
    _, parsed = convert(heic(picture()))
    assert parsed.exif is not None
    assert read_exif(parsed.exif).taken_at == datetime(2024, 7, 14, 16, 30, 5, tzinfo=UTC)


@pytest.mark.parametrize("orientation", [3, 6, 8])
def test_rotated_heic_comes_out_upright(orientation: int) -> None:
    t = Image.Transpose
    undo = {3: t.ROTATE_180, 6: t.ROTATE_90, 8: t.ROTATE_270}
    source = heic(picture().transpose(undo[orientation]), orientation=orientation)
    assert b"irot" in source
    jpeg, parsed = convert(source)
    out = opened(jpeg).convert("RGB")
    assert out.size == (96, 64) == (parsed.width, parsed.height)
    r, _, b = out.getpixel((4, 4))  # type: ignore[misc]
    assert b > 200 and r < 60, "the marker block must be top-left"
    r, _, b = out.getpixel((91, 59))  # type: ignore[misc]
    assert b < 150, "and nowhere else"


def test_icc_profile_is_rebuilt_and_its_payload_dropped() -> None:
    source = heic(picture(), icc_profile=iccfiles.p3_with_payload())
    assert iccfiles.MARKER in source
    jpeg, parsed = convert(source)
    assert iccfiles.MARKER not in jpeg
    assert parsed.icc_kept
    assert opened(jpeg).info["icc_profile"] == icc.rebuild(iccfiles.p3_with_payload())


def test_nclx_only_heic_gets_no_profile() -> None:
    jpeg, parsed = convert(heic(picture()))
    assert not parsed.icc_kept
    assert "icc_profile" not in opened(jpeg).info


def test_nclx_only_p3_heic_stays_p3() -> None:
    """A HEIC that names P3 primaries in its nclx box only: the JPEG says Display P3."""
    source = heic(
        picture(),
        color_primaries=12,
        transfer_characteristics=13,
        matrix_coefficients=6,
        full_range_flag=1,
    )
    assert pillow_heif.open_heif(io.BytesIO(source)).info["nclx_profile"]["color_primaries"] == 12
    jpeg, parsed = convert(source)
    assert parsed.icc_kept
    assert opened(jpeg).info["icc_profile"] == icc.display_p3()


def test_only_the_primary_image_of_a_multi_image_heic_is_kept() -> None:
    out = io.BytesIO()
    images = [picture(), picture((40, 30))]
    images[0].save(out, "HEIF", save_all=True, append_images=images[1:], primary_index=1)
    assert len(pillow_heif.open_heif(io.BytesIO(out.getvalue()))) == 2
    jpeg, parsed = convert(out.getvalue())
    assert opened(jpeg).size == (40, 30) == (parsed.width, parsed.height)


def test_huge_claimed_size_is_refused_before_decoding() -> None:
    source = bytearray(heic(picture()))
    at = source.index(b"ispe") + 8
    source[at : at + 8] = struct.pack(">II", 100_000, 100_000)
    started = time.perf_counter()
    with pytest.raises(TooLarge, match=r"10000\.0 megapixels; the limit is 50 megapixels"):
        convert(bytes(source))
    assert time.perf_counter() - started < 0.1


@pytest.mark.parametrize("kind", ["empty", "garbage", "truncated", "avif"])
def test_garbage_truncated_and_avif_are_invalid(kind: str) -> None:
    source = heic(picture())
    data = {
        "empty": b"",
        "garbage": b"\0\0\0\x18ftypheic" + b"\x17" * 500,
        "truncated": source[: len(source) * 2 // 3],
    }.get(kind)
    if kind == "avif":
        buf = io.BytesIO()
        picture().save(buf, "AVIF")
        data = buf.getvalue()
    assert data is not None
    with pytest.raises(InvalidImage):
        convert(data)


def test_sniffer_tells_heic_from_avif() -> None:
    source = heic(picture())
    assert looks_like_heif(source[:64]) and not looks_like_avif(source[:64])
