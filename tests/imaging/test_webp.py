"""WebP rewrite: identical pixels and frames, alpha and animation kept, metadata chunks gone."""

from __future__ import annotations

import io
import struct
from typing import Any

import iccfiles
import pytest
from PIL import Image, ImageCms, ImageSequence

from picbucket.domain import InvalidImage, TooLarge
from picbucket.imaging.container import Frame, Limits, Parsed
from picbucket.imaging.webp import rewrite

LIMITS = Limits(max_bytes=25_000_000, max_pixels=50_000_000, max_frames=100)
SECRET = b"SECRET-MARKER"


def picture(mode: str = "RGB", size: tuple[int, int] = (64, 48), turn: int = 0) -> Image.Image:
    noise = Image.effect_noise(size, 50).convert("L")
    gradient = Image.linear_gradient("L").resize(size)
    rgba = Image.merge(
        "RGBA",
        (
            noise,
            gradient,
            gradient.rotate(90 * turn),
            gradient.transpose(Image.Transpose.FLIP_LEFT_RIGHT),
        ),
    )
    return rgba.convert(mode)


def chunks(webp: bytes) -> list[tuple[bytes, bytes]]:
    found, at = [], 12
    end = 8 + struct.unpack_from("<I", webp, 4)[0]
    while at < end:
        kind, length = struct.unpack_from("<4sI", webp, at)
        found.append((kind, webp[at + 8 : at + 8 + length]))
        at += 8 + length + (length & 1)
    return found


def assemble(parts: list[tuple[bytes, bytes]]) -> bytes:
    body = b"".join(k + struct.pack("<I", len(d)) + d + b"\0" * (len(d) & 1) for k, d in parts)
    return b"RIFF" + struct.pack("<I", 4 + len(body)) + b"WEBP" + body


def exif(orientation: int | None = None) -> bytes:
    data = Image.Exif()
    data[0x010E] = SECRET.decode()
    if orientation:
        data[0x0112] = orientation
    return data.tobytes()


def laden(image: Image.Image, orientation: int | None = None, **options: object) -> bytes:
    """Return a WebP with the marker in EXIF, XMP, ICC, an unknown chunk and after the RIFF end."""
    out = io.BytesIO()
    image.save(
        out,
        "WEBP",
        exif=exif(orientation),
        xmp=b"<x:xmpmeta>" + SECRET + b"</x:xmpmeta>",
        icc_profile=iccfiles.p3_with_payload(),
        **options,
    )
    parts = chunks(out.getvalue())
    assert parts[0][0] == b"VP8X"
    return assemble([*parts[:2], (b"ZZZZ", SECRET * 5), *parts[2:]]) + SECRET * 20


def run(data: bytes, limits: Limits = LIMITS) -> tuple[bytes, Parsed]:
    out = io.BytesIO()
    out.write(b"x" * 7)  # the rewriter writes from wherever ``out`` stands
    parsed = rewrite(io.BytesIO(data), out, limits)
    return out.getvalue()[7:], parsed


def frames(data: bytes) -> list[tuple[str, tuple[int, int], bytes, object]]:
    with Image.open(io.BytesIO(data)) as img:
        return [
            (f.mode, f.size, f.tobytes(), f.info.get("duration"))
            for f in ImageSequence.Iterator(img)
        ]


@pytest.mark.parametrize(
    ("mode", "options", "kinds"),
    [
        pytest.param("RGB", {"quality": 80}, [b"VP8 "], id="lossy"),
        pytest.param("RGBA", {"quality": 80}, [b"ALPH", b"VP8 "], id="lossy-alpha"),
        pytest.param("RGB", {"lossless": True}, [b"VP8L"], id="lossless"),
        pytest.param("RGBA", {"lossless": True}, [b"VP8L"], id="lossless-alpha"),
    ],
)
def test_pixels_are_identical_and_every_marker_is_gone(
    mode: str, options: dict[str, Any], kinds: list[bytes]
) -> None:
    source = laden(picture(mode), **options)
    assert source.count(SECRET) > 20
    clean, parsed = run(source)
    assert SECRET not in clean and iccfiles.MARKER not in clean
    assert frames(clean) == frames(source)
    assert [kind for kind, _ in chunks(clean)] == [b"VP8X", b"ICCP", *kinds]
    assert len(clean) == 8 + struct.unpack_from("<I", clean, 4)[0]
    assert (parsed.format, parsed.width, parsed.height, parsed.frames) == (
        "WEBP",
        64,
        48,
        [Frame(64, 48)],
    )
    assert parsed.exif is not None and SECRET in parsed.exif
    assert parsed.icc_kept
    with Image.open(io.BytesIO(clean)) as img:
        assert img.mode == mode
        assert "xmp" not in img.info and dict(img.getexif()) == {}
        profile = ImageCms.ImageCmsProfile(io.BytesIO(img.info["icc_profile"]))
    assert ImageCms.getProfileDescription(profile).strip() == "Display P3"
    flags = chunks(clean)[0][1][0]
    assert flags == 0x20 | (0x10 if mode == "RGBA" else 0)  # ICC (+ alpha); no EXIF, no XMP


def test_simple_lossy_file_is_kept_and_trailing_bytes_dropped() -> None:
    out = io.BytesIO()
    picture().save(out, "WEBP", quality=70)
    source = out.getvalue()
    assert chunks(source)[0][0] == b"VP8 "
    clean, parsed = run(source + SECRET)
    assert clean == source and parsed.frames == [Frame(64, 48)]


@pytest.mark.parametrize("orientation", range(1, 9))
def test_orientation_is_the_only_exif_field_left(orientation: int) -> None:
    clean, parsed = run(laden(picture(), orientation, quality=80))
    assert parsed.orientation == orientation
    with Image.open(io.BytesIO(clean)) as img:
        assert dict(img.getexif()) == ({0x0112: orientation} if orientation != 1 else {})
    assert bool(chunks(clean)[0][1][0] & 0x08) == (orientation != 1)


def animation(count: int = 4, **options: object) -> bytes:
    images = [picture("RGBA", turn=i) for i in range(count)]
    out = io.BytesIO()
    images[0].save(
        out,
        "WEBP",
        save_all=True,
        append_images=images[1:],
        duration=[40, 50, 60, 70][:count],
        **options,
    )
    return out.getvalue()


@pytest.mark.parametrize(
    "options", [{"lossless": True}, {"quality": 70}], ids=["lossless", "lossy"]
)
def test_animation_frames_are_identical(options: dict[str, Any]) -> None:
    source = animation(**options, exif=exif(), xmp=SECRET)
    clean, parsed = run(source)
    assert SECRET not in clean
    assert frames(clean) == frames(source)
    assert len(parsed.frames) == 4 and parsed.frames[0] == Frame(64, 48)
    assert chunks(clean)[0][1][0] & 0x02  # animation flag


def patch_first_frame(webp: bytes, x: int | None = None, width: int | None = None) -> bytes:
    parts = chunks(webp)
    index = next(i for i, (kind, _) in enumerate(parts) if kind == b"ANMF")
    header = bytearray(parts[index][1])
    if x is not None:
        header[0:3] = (x // 2).to_bytes(3, "little")
    if width is not None:
        header[6:9] = (width - 1).to_bytes(3, "little")
    parts[index] = (b"ANMF", bytes(header))
    return assemble(parts)


def test_frame_outside_the_canvas_is_invalid() -> None:
    with pytest.raises(InvalidImage, match="outside"):
        run(patch_first_frame(animation(lossless=True), x=40))


def test_frame_header_that_lies_about_its_bitstream_is_invalid() -> None:
    with pytest.raises(InvalidImage, match="does not match"):
        run(patch_first_frame(animation(lossless=True), width=10))


def test_frame_and_pixel_budgets_are_checked() -> None:
    with pytest.raises(TooLarge, match="frames"):
        run(
            animation(lossless=True),
            Limits(max_bytes=25_000_000, max_pixels=50_000_000, max_frames=3),
        )
    with pytest.raises(TooLarge, match="megapixels"):
        run(laden(picture()), Limits(max_bytes=25_000_000, max_pixels=1000, max_frames=3))


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"RIFF\0\0\0\0WEBP",
        b"RIFF\x20\0\0\0WEBPVP8 \x10\0\0\0" + b"\0" * 16,  # not a key frame start code
        assemble([(b"VP8X", b"\0" * 10)]),  # extended, but no image
        assemble([(b"XMP ", SECRET)]),
    ],
)
def test_damaged_files_are_invalid(data: bytes) -> None:
    with pytest.raises(InvalidImage):
        run(data)


def test_truncated_file_is_invalid() -> None:
    with pytest.raises(InvalidImage):
        run(laden(picture(), quality=80)[:300])


# One ALPH per image or frame: a second one would carry anything at all.

PAYLOAD = (b"ALPH", b"\0\0" + SECRET * 1000)  # header byte 0: "uncompressed alpha"


def lossy_alpha() -> list[tuple[bytes, bytes]]:
    out = io.BytesIO()
    picture("RGBA").save(out, "WEBP", quality=80)
    parts = chunks(out.getvalue())
    assert [kind for kind, _ in parts] == [b"VP8X", b"ALPH", b"VP8 "]
    return parts


@pytest.mark.parametrize("where", [1, 2], ids=["before-alph", "after-alph"])
def test_second_alpha_chunk_is_invalid(where: int) -> None:
    parts = lossy_alpha()
    with pytest.raises(InvalidImage, match="two alpha"):
        run(assemble([*parts[:where], PAYLOAD, *parts[where:]]))


def test_second_alpha_chunk_in_a_frame_is_invalid() -> None:
    parts = chunks(animation(quality=70))
    index = next(i for i, (kind, _) in enumerate(parts) if kind == b"ANMF")
    frame = parts[index][1]
    assert frame[16 : 16 + 4] == b"ALPH"  # lossy frames with alpha start with ALPH
    alph = PAYLOAD[0] + struct.pack("<I", len(PAYLOAD[1])) + PAYLOAD[1]
    parts[index] = (b"ANMF", frame[:16] + alph + frame[16:])
    with pytest.raises(InvalidImage, match="two alpha"):
        run(assemble(parts))


def test_alpha_chunk_before_a_lossless_bitstream_is_invalid() -> None:
    out = io.BytesIO()
    picture("RGBA").save(out, "WEBP", lossless=True)
    [(kind, bitstream)] = chunks(out.getvalue())
    assert kind == b"VP8L"
    vp8x = bytes([0x10, 0, 0, 0]) + (63).to_bytes(3, "little") + (47).to_bytes(3, "little")
    assert len(frames(assemble([(b"VP8X", vp8x), (kind, bitstream)]))) == 1
    with pytest.raises(InvalidImage, match="lossless"):
        run(assemble([(b"VP8X", vp8x), PAYLOAD, (kind, bitstream)]))
