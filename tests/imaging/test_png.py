"""PNG/APNG rewrite: identical pixels and frames, colour kept, every text and private chunk gone."""

from __future__ import annotations

import io
import struct
import time
import zlib
from collections.abc import Callable

import iccfiles
import pytest
from PIL import Image, ImageCms, ImageSequence, PngImagePlugin

from picbucket.domain import InvalidImage, TooLarge
from picbucket.imaging.container import Frame, Limits, Parsed
from picbucket.imaging.png import rewrite

LIMITS = Limits(max_bytes=25_000_000, max_pixels=50_000_000, max_frames=100)
SECRET = b"SECRET-MARKER"


def picture(mode: str, size: tuple[int, int] = (90, 60)) -> Image.Image:
    noise = Image.effect_noise(size, 60).convert("L")
    gradient = Image.linear_gradient("L").resize(size)
    rgba = Image.merge(
        "RGBA", (noise, gradient, gradient.transpose(Image.Transpose.FLIP_LEFT_RIGHT), noise)
    )
    if mode == "I;16":
        return Image.frombytes("I;16", size, rgba.convert("LA").tobytes())
    if mode == "P":
        return rgba.convert("RGB").quantize(16)
    return rgba.convert(mode)


def chunks(png: bytes) -> list[tuple[bytes, bytes]]:
    """Return (type, data) of every chunk up to IEND."""
    found, at = [], 8
    while at < len(png):
        length, kind = struct.unpack_from(">I4s", png, at)
        found.append((kind, png[at + 8 : at + 8 + length]))
        at += 12 + length
        if kind == b"IEND":
            break
    return found


def assemble(parts: list[tuple[bytes, bytes]]) -> bytes:
    out = b"\x89PNG\r\n\x1a\n"
    for kind, data in parts:
        out += (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )
    return out


def laden(image: Image.Image, orientation: int | None = None, **options: object) -> bytes:
    """Return a PNG with the marker in tEXt, zTXt, iTXt, tIME, eXIf, a private chunk, ICC and after IEND."""
    info = PngImagePlugin.PngInfo()
    info.add_text("Comment", SECRET.decode())
    info.add_text("Software", SECRET.decode(), zip=True)
    info.add_itxt("XML:com.adobe.xmp", SECRET.decode(), zip=False)
    info.add(b"tIME", b"\x07\xe8\x06\x01\x0c\x00\x00")
    info.add(b"prVt", SECRET * 10)
    exif = Image.Exif()
    exif[0x010E] = SECRET.decode()
    if orientation:
        exif[0x0112] = orientation
    out = io.BytesIO()
    icc = iccfiles.p3_with_payload() if image.mode in ("RGB", "RGBA", "P") else None
    image.save(out, "PNG", pnginfo=info, exif=exif.tobytes(), icc_profile=icc, **options)
    return out.getvalue() + SECRET * 50


def run(data: bytes, limits: Limits = LIMITS) -> tuple[bytes, Parsed]:
    out = io.BytesIO()
    parsed = rewrite(io.BytesIO(data), out, limits)
    return out.getvalue(), parsed


def frames(data: bytes) -> list[tuple[str, tuple[int, int], bytes, dict[str, object]]]:
    with Image.open(io.BytesIO(data)) as img:
        return [
            (
                f.mode,
                f.size,
                f.tobytes(),
                {k: f.info.get(k) for k in ("duration", "disposal", "blend", "transparency")},
            )
            for f in ImageSequence.Iterator(img)
        ]


@pytest.mark.parametrize("mode", ["RGB", "RGBA", "L", "LA", "I;16", "1", "P"])
def test_pixels_are_identical_and_every_marker_is_gone(mode: str) -> None:
    image = picture(mode)
    options = {"transparency": 3} if mode == "P" else {}
    source = laden(image, **options)
    assert source.count(SECRET) > 50
    clean, parsed = run(source)
    assert SECRET not in clean and iccfiles.MARKER not in clean
    assert frames(clean) == frames(source)
    kinds = [kind for kind, _ in chunks(clean)]
    assert not {b"tEXt", b"zTXt", b"iTXt", b"tIME", b"eXIf", b"prVt"} & set(kinds)
    assert clean.endswith(b"IEND\xaeB`\x82")
    assert (parsed.format, parsed.width, parsed.height, parsed.frames) == (
        "PNG",
        90,
        60,
        [Frame(90, 60)],
    )
    assert parsed.exif is not None and SECRET in parsed.exif
    with Image.open(io.BytesIO(clean)) as img:
        assert img.mode == image.mode
        if mode == "P":
            assert img.info["transparency"] == 3


def test_display_p3_profile_is_rebuilt_and_kept() -> None:
    clean, parsed = run(laden(picture("RGB")))
    assert parsed.icc_kept
    with Image.open(io.BytesIO(clean)) as img:
        profile = img.info["icc_profile"]
    assert (
        ImageCms.getProfileDescription(ImageCms.ImageCmsProfile(io.BytesIO(profile))).strip()
        == "Display P3"
    )


def test_colour_chunks_are_kept_and_unrebuildable_profile_dropped() -> None:
    parts = chunks(laden(picture("L")))
    lab = zlib.compress(ImageCms.ImageCmsProfile(ImageCms.createProfile("LAB")).tobytes())
    colour = [(b"gAMA", struct.pack(">I", 45455)), (b"sBIT", b"\x05"), (b"iCCP", b"lab\0\0" + lab)]
    clean, parsed = run(assemble(parts[:1] + colour + parts[1:]))
    kinds = [kind for kind, _ in chunks(clean)]
    assert kinds[:3] == [b"IHDR", b"gAMA", b"sBIT"] and b"iCCP" not in kinds
    assert not parsed.icc_kept


@pytest.mark.parametrize("orientation", range(1, 9))
def test_orientation_is_the_only_exif_field_left(orientation: int) -> None:
    clean, parsed = run(laden(picture("RGB"), orientation))
    assert parsed.orientation == orientation
    with Image.open(io.BytesIO(clean)) as img:
        img.load()
        assert dict(img.getexif()) == ({0x0112: orientation} if orientation != 1 else {})
    kinds = [kind for kind, _ in chunks(clean)]
    if orientation != 1:
        assert kinds.index(b"eXIf") < kinds.index(b"IDAT")


def apng(count: int = 4, size: tuple[int, int] = (40, 30), **options: object) -> bytes:
    images = [picture("RGBA", size).rotate(i * 90) for i in range(count)]
    out = io.BytesIO()
    images[0].save(
        out,
        "PNG",
        save_all=True,
        append_images=images[1:],
        duration=[50, 60, 70, 80][:count],
        **options,
    )
    return out.getvalue()


def test_apng_frames_are_identical() -> None:
    source = apng(disposal=1, blend=1)
    clean, parsed = run(source)
    assert frames(clean) == frames(source)
    # Pillow stores later frames as the rectangle that changed: positions are kept.
    assert len(parsed.frames) == 4 and parsed.frames[0] == Frame(40, 30)
    assert Frame(30, 30, 5, 0) in parsed.frames


def test_apng_with_a_separate_default_image_keeps_it() -> None:
    source = apng(default_image=True)
    clean, parsed = run(source)
    assert frames(clean) == frames(source)
    # The default image is frame 0 for Pillow too: frames match what a decoder iterates.
    with Image.open(io.BytesIO(source)) as img:
        assert len(parsed.frames) == len(list(ImageSequence.Iterator(img))) == 4


def patch_fctl(png: bytes, index: int, **fields: int) -> bytes:
    """Return the APNG with the ``index``-th fcTL's fields changed (CRCs recomputed)."""
    parts, seen = chunks(png), 0
    names = ["sequence", "width", "height", "x", "y"]
    for i, (kind, data) in enumerate(parts):
        if kind == b"fcTL":
            if seen == index:
                values = list(struct.unpack(">5I", data[:20]))
                for name, value in fields.items():
                    values[names.index(name)] = value
                parts[i] = (kind, struct.pack(">5I", *values) + data[20:])
            seen += 1
    return assemble(parts)


@pytest.mark.parametrize(
    "fields",
    [{"x": 30}, {"width": 41, "x": 0}, {"sequence": 7}],
    ids=["outside", "wider", "out-of-order"],
)
def test_broken_apng_frames_are_invalid(fields: dict[str, int]) -> None:
    with pytest.raises(InvalidImage):
        run(patch_fctl(apng(), 2, **fields))


def test_apng_frame_budgets_are_checked_from_headers() -> None:
    with pytest.raises(TooLarge, match="4 frames; the limit is 3"):
        run(apng(), Limits(max_bytes=25_000_000, max_pixels=50_000_000, max_frames=3))
    with pytest.raises(TooLarge, match="in all its frames"):
        run(
            apng(),
            Limits(max_bytes=25_000_000, max_pixels=1200, max_frames=10, max_total_pixels=3000),
        )


def test_too_many_pixels_are_refused() -> None:
    with pytest.raises(TooLarge, match="megapixels"):
        run(laden(picture("RGB")), Limits(max_bytes=25_000_000, max_pixels=5000, max_frames=1))


def test_bad_idat_checksum_is_invalid_but_a_bad_text_checksum_is_not() -> None:
    source = bytearray(laden(picture("RGB")))
    text = source.index(b"tEXt")
    source[text + 6] ^= 0xFF
    run(bytes(source))
    idat = source.index(b"IDAT")
    source[idat + 10] ^= 0xFF
    with pytest.raises(InvalidImage, match="checksum"):
        run(bytes(source))


def test_zero_width_is_invalid() -> None:
    parts = chunks(laden(picture("RGB")))
    parts[0] = (b"IHDR", b"\0\0\0\0" + parts[0][1][4:])
    with pytest.raises(InvalidImage, match="no pixels"):
        run(assemble(parts))


def test_split_image_data_is_invalid() -> None:
    out = io.BytesIO()
    picture("RGB", (300, 300)).save(out, "PNG")
    parts = chunks(out.getvalue())
    idats = [i for i, (kind, _) in enumerate(parts) if kind == b"IDAT"]
    assert len(idats) > 1
    parts.insert(idats[1], (b"tEXt", b"a\0b"))
    with pytest.raises(InvalidImage, match="split"):
        run(assemble(parts))


@pytest.mark.parametrize("cut", [20, 60, -12, -1])
def test_truncated_file_is_invalid(cut: int) -> None:
    with pytest.raises(InvalidImage):
        run(laden(picture("RGB"))[: cut - 50 * len(SECRET) if cut < 0 else cut])


def test_unknown_critical_chunk_is_invalid() -> None:
    parts = chunks(laden(picture("RGB")))
    with pytest.raises(InvalidImage, match="unsupported"):
        run(assemble([*parts[:1], (b"ABCD", b""), *parts[1:]]))


def test_short_header_with_a_valid_checksum_is_invalid() -> None:
    parts = chunks(laden(picture("RGB")))
    parts[0] = (b"IHDR", parts[0][1][:12])
    with pytest.raises(InvalidImage, match="header"):
        run(assemble(parts))


# Image data is one zlib stream per image: nothing may ride after its end.


def with_idat(png: bytes, build: Callable[[bytes], list[bytes]]) -> bytes:
    """Return ``png`` with its IDAT chunks replaced by ``build(joined IDAT data)``."""
    parts = chunks(png)
    data = b"".join(d for kind, d in parts if kind == b"IDAT")
    first = next(i for i, (kind, _) in enumerate(parts) if kind == b"IDAT")
    rest = [p for p in parts if p[0] != b"IDAT"]
    return assemble(rest[:first] + [(b"IDAT", d) for d in build(data)] + rest[first:])


def plain(size: tuple[int, int] = (64, 64)) -> bytes:
    out = io.BytesIO()
    picture("RGB", size).save(out, "PNG")
    return out.getvalue()


def test_idat_chunk_after_the_end_of_the_image_data_is_dropped() -> None:
    source = with_idat(plain(), lambda data: [data, SECRET * 1000])
    with Image.open(io.BytesIO(source)) as img:
        img.load()  # decoders accept it: the bytes would otherwise reach the stored original
    clean, _ = run(source)
    assert SECRET not in clean
    assert frames(clean) == frames(source)


@pytest.mark.parametrize(
    "build",
    [
        lambda data: [data + SECRET],  # after the zlib stream, in the same chunk
        lambda data: [data[:10], data[10:] + SECRET],
        lambda data: [zlib.compress(zlib.decompress(data) + SECRET)],  # past the scanlines
        lambda data: [zlib.compress(zlib.decompress(data)[:-1])],  # a row cut short
        lambda data: [data[:-8]],  # the stream does not end
        lambda data: [data[:40] + bytes([data[40] ^ 0xFF]) + data[41:]],  # a valid CRC over it
    ],
    ids=["after-end", "after-end-split", "past-scanlines", "short", "unterminated", "corrupt"],
)
def test_image_data_that_does_not_match_its_scanlines_is_invalid(
    build: Callable[[bytes], list[bytes]],
) -> None:
    with pytest.raises(InvalidImage):
        run(with_idat(plain(), build))


@pytest.mark.parametrize("size", [(37, 23), (1, 1), (3, 9)])
def test_interlaced_png_is_kept(size: tuple[int, int]) -> None:
    """Adam7 data is counted pass by pass (Pillow cannot write it: built by hand, 8-bit grey)."""
    width, height = size
    pixels = bytes((x * 7 + y * 13) & 255 for y in range(height) for x in range(width))
    raw = b""
    for x0, y0, dx, dy in ((0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4),
                           (0, 2, 2, 4), (1, 0, 2, 2), (0, 1, 1, 2)):  # fmt: skip
        for y in range(y0, height, dy):
            row = bytes(pixels[y * width + x] for x in range(x0, width, dx))
            raw += b"\0" + row if row else b""
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 1)
    source = assemble([(b"IHDR", header), (b"IDAT", zlib.compress(raw)), (b"IEND", b"")])
    clean, _ = run(source)
    assert frames(clean) == frames(source)
    assert frames(clean)[0][2] == pixels


def test_deflate_bomb_in_image_data_is_refused_quickly() -> None:
    """A 1x1 image whose IDAT inflates to 50 MB: refused after inflating 4 bytes' worth."""
    bomb = zlib.compress(b"\0" * 50_000_000, 9)
    started = time.perf_counter()
    with pytest.raises(InvalidImage):
        run(with_idat(plain((1, 1)), lambda _: [bomb]))
    assert time.perf_counter() - started < 0.25


def test_apng_frame_data_after_its_end_is_invalid() -> None:
    parts = chunks(apng())
    last = max(i for i, (kind, _) in enumerate(parts) if kind == b"fdAT")
    sequence = struct.unpack(">I", parts[last][1][:4])[0] + 1
    extra = (b"fdAT", struct.pack(">I", sequence) + SECRET * 100)
    with pytest.raises(InvalidImage, match="after the end"):
        run(assemble([*parts[: last + 1], extra, *parts[last + 1 :]]))
