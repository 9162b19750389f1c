"""JPEG rewrite: identical pixels, no metadata but orientation, colour profile rebuilt."""

from __future__ import annotations

import io
import struct
from typing import Any

import iccfiles
import pytest
from PIL import Image, ImageCms

from picbucket.domain import InvalidImage, TooLarge
from picbucket.imaging.container import Frame, Limits, Parsed
from picbucket.imaging.jpeg import rewrite

LIMITS = Limits(max_bytes=25_000_000, max_pixels=50_000_000, max_frames=100)
SECRET = b"SECRET-MARKER"


def picture(mode: str = "RGB", size: tuple[int, int] = (160, 120)) -> Image.Image:
    """Return a textured image (noise over a gradient) so every block has real coefficients."""
    noise = Image.effect_noise(size, 60).convert("L")
    gradient = Image.linear_gradient("L").resize(size)
    rgb = Image.merge("RGB", (noise, gradient, gradient.transpose(Image.Transpose.FLIP_LEFT_RIGHT)))
    return rgb.convert(mode)


def save(image: Image.Image, **options: object) -> bytes:
    out = io.BytesIO()
    image.save(out, "JPEG", quality=90, **options)
    return out.getvalue()


def segment(marker: int, payload: bytes) -> bytes:
    return struct.pack(">BBH", 0xFF, marker, len(payload) + 2) + payload


def insert_after_soi(jpeg: bytes, *segments: bytes) -> bytes:
    return jpeg[:2] + b"".join(segments) + jpeg[2:]


def exif_with_secrets(orientation: int | None = None) -> bytes:
    exif = Image.Exif()
    exif[0x010E] = SECRET.decode()  # ImageDescription
    exif[0x010F] = "TestCam"
    if orientation:
        exif[0x0112] = orientation
    gps = exif.get_ifd(0x8825)
    gps[1], gps[2] = "N", (51.0, 30.0, 0.0)
    exif.get_ifd(0x8769)[0x9003] = "2024:06:01 14:30:05"
    return exif.tobytes()


def laden(image: Image.Image, orientation: int | None = None, **options: object) -> bytes:
    """Return a JPEG carrying the marker in EXIF, XMP, COM, IPTC, ICC, APP9 and after EOI."""
    jpeg = save(
        image,
        exif=exif_with_secrets(orientation),
        xmp=b"<x:xmpmeta>" + SECRET + b"</x:xmpmeta>",
        comment=SECRET,
        icc_profile=iccfiles.p3_with_payload() if image.mode == "RGB" else None,
        **options,
    )
    iptc = segment(0xED, b"Photoshop 3.0\0" + b"8BIM\x04\x04\0\0\0\0\0\x10" + SECRET + b"abc")
    return insert_after_soi(jpeg, iptc, segment(0xE9, SECRET)) + SECRET * 100


def run(data: bytes, limits: Limits = LIMITS) -> tuple[bytes, Parsed]:
    out = io.BytesIO()
    parsed = rewrite(io.BytesIO(data), out, limits)
    return out.getvalue(), parsed


def pixels(data: bytes) -> bytes:
    with Image.open(io.BytesIO(data)) as img:
        return img.tobytes()


@pytest.mark.parametrize(
    ("mode", "options"),
    [
        pytest.param("RGB", {}, id="baseline"),
        pytest.param("RGB", {"progressive": True}, id="progressive"),
        pytest.param("RGB", {"restart_marker_blocks": 3}, id="restart-markers"),
        pytest.param("RGB", {"subsampling": 0, "qtables": "web_high"}, id="444"),
        pytest.param("L", {}, id="grayscale"),
        pytest.param("CMYK", {}, id="cmyk-adobe"),
    ],
)
def test_pixels_are_identical_and_every_marker_is_gone(mode: str, options: dict[str, Any]) -> None:
    source = laden(picture(mode), **options)
    assert source.count(SECRET) > 100
    clean, parsed = run(source)
    assert SECRET not in clean
    assert pixels(clean) == pixels(source)
    with Image.open(io.BytesIO(clean)) as img:
        assert img.mode == mode
        assert dict(img.getexif()) == {}
        assert "comment" not in img.info and "xmp" not in img.info and "exif" not in img.info
    assert parsed.format == "JPEG" and (parsed.width, parsed.height) == (160, 120)
    assert parsed.frames == [Frame(160, 120)]
    assert parsed.exif is not None and SECRET in parsed.exif  # read, never written
    assert clean.endswith(b"\xff\xd9")


def test_display_p3_profile_is_rebuilt_and_kept() -> None:
    clean, parsed = run(laden(picture()))
    assert parsed.icc_kept
    with Image.open(io.BytesIO(clean)) as img:
        profile = img.info["icc_profile"]
    assert iccfiles.MARKER not in profile
    assert (
        ImageCms.getProfileDescription(ImageCms.ImageCmsProfile(io.BytesIO(profile))).strip()
        == "Display P3"
    )


def test_unrebuildable_profile_is_dropped() -> None:
    lab = ImageCms.ImageCmsProfile(ImageCms.createProfile("LAB")).tobytes()
    clean, parsed = run(save(picture(), icc_profile=lab))
    assert not parsed.icc_kept
    assert b"ICC_PROFILE" not in clean


def test_large_profile_spanning_segments_is_reassembled() -> None:
    big = iccfiles.with_private_tag(
        iccfiles.display_p3(), iccfiles.MARKER * 20_000
    )  # 420 KB: 7 segments
    clean, parsed = run(save(picture(), icc_profile=big))
    assert parsed.icc_kept
    assert iccfiles.MARKER not in clean


@pytest.mark.parametrize("orientation", range(1, 9))
def test_orientation_is_the_only_exif_field_left(orientation: int) -> None:
    clean, parsed = run(laden(picture(), orientation))
    assert parsed.orientation == orientation
    with Image.open(io.BytesIO(clean)) as img:
        assert dict(img.getexif()) == ({0x0112: orientation} if orientation != 1 else {})
        assert img.getexif().get_ifd(0x8825) == {}


def test_only_the_first_picture_of_an_mpo_is_kept() -> None:
    out = io.BytesIO()
    first, second = picture(), picture().transpose(Image.Transpose.ROTATE_180)
    first.save(out, "MPO", save_all=True, append_images=[second])
    source = out.getvalue()
    clean, _ = run(source)
    assert len(clean) < len(source) * 0.6
    with Image.open(io.BytesIO(source)) as mpo:
        assert pixels(clean) == mpo.tobytes()
    assert b"MPF" not in clean


def test_too_many_pixels_are_refused_from_the_header() -> None:
    with pytest.raises(
        TooLarge, match=r"^The image is 0\.019 megapixels; the limit is 0\.01 megapixels\.$"
    ):
        run(save(picture()), Limits(max_bytes=25_000_000, max_pixels=10_000, max_frames=1))


def test_oversized_file_is_refused() -> None:
    # Sizes read as everywhere else in the app (domain.human_bytes).
    with pytest.raises(TooLarge, match=r"^The file is \d+ KB; the limit is 1000 B\.$"):
        run(save(picture()), Limits(max_bytes=1000, max_pixels=50_000_000, max_frames=1))


def test_zero_height_is_invalid() -> None:
    source = bytearray(save(picture()))
    sof = source.index(b"\xff\xc0")
    source[sof + 5 : sof + 7] = b"\0\0"
    with pytest.raises(InvalidImage, match="no pixels"):
        run(bytes(source))


@pytest.mark.parametrize("cut", [100, -2, -500])
def test_truncated_file_is_invalid(cut: int) -> None:
    with pytest.raises(InvalidImage):
        run(save(picture())[:cut])


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"\xff\xd8",
        b"GIF89a",
        b"\xff\xd8\xff\xd9",
        b"\xff\xd8\xff\xe0\x00\x01",
        b"\xff\xd8\x00\x00",
    ],
)
def test_garbage_is_invalid(data: bytes) -> None:
    with pytest.raises(InvalidImage):
        run(data)


def test_lossless_jpeg_is_refused() -> None:
    source = bytearray(save(picture()))
    source[source.index(b"\xff\xc0") + 1] = 0xC3
    with pytest.raises(InvalidImage, match="not supported"):
        run(bytes(source))
