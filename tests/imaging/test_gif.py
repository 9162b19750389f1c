"""GIF rewrite: identical frames, looping and timing kept, extensions dropped, bombs refused early."""

from __future__ import annotations

import io
import struct
import time
from typing import Any

import pytest
from PIL import Image, ImageSequence

from picbucket.domain import InvalidImage, TooLarge
from picbucket.imaging.container import Frame, Limits, Parsed
from picbucket.imaging.gif import rewrite

LIMITS = Limits(max_bytes=25_000_000, max_pixels=50_000_000, max_frames=100)
SECRET = b"SECRET-MARKER"


def animation(count: int = 4, size: tuple[int, int] = (60, 40), **options: object) -> bytes:
    images = []
    for i in range(count):
        noise = Image.effect_noise(size, 40 + i * 10).convert("L")
        images.append(
            Image.merge(
                "RGB",
                (noise, noise.rotate(90 * i), noise.transpose(Image.Transpose.FLIP_TOP_BOTTOM)),
            )
        )
    out = io.BytesIO()
    images[0].save(
        out,
        "GIF",
        save_all=True,
        append_images=images[1:],
        duration=[40, 50, 60, 70][:count],
        **options,
    )
    return out.getvalue()


def blocks(*parts: bytes) -> bytes:
    """Return data split into GIF sub-blocks with a terminator."""
    data = b"".join(parts)
    return (
        b"".join(
            bytes([len(data[i : i + 255])]) + data[i : i + 255] for i in range(0, len(data), 255)
        )
        + b"\0"
    )


def extension(label: int, *data: bytes) -> bytes:
    return bytes([0x21, label]) + blocks(*data)


def application(name: bytes, *data: bytes) -> bytes:
    return bytes([0x21, 0xFF, len(name)]) + name + blocks(*data)


def after_tables(gif: bytes) -> int:
    """Return the offset just after the logical screen descriptor and global colour table."""
    packed = gif[10]
    return 13 + (3 * (2 << (packed & 7)) if packed & 0x80 else 0)


def laden(gif: bytes) -> bytes:
    """Return the GIF with the marker in XMP, ICC, unknown app, comment, plain text and after the end."""
    at = after_tables(gif)
    extras = (
        application(b"XMP DataXMP", b"<x:xmpmeta>" + SECRET + b"</x:xmpmeta>")
        + application(b"ICCRGBG1012", SECRET * 30)
        + application(b"SECRETAPP01", SECRET)
        + extension(0xFE, SECRET)
        + extension(0x01, b"\x0c" + b"\0" * 12, SECRET)
    )
    return gif[:at] + extras + gif[at:] + SECRET * 20


def run(data: bytes, limits: Limits = LIMITS) -> tuple[bytes, Parsed]:
    out = io.BytesIO()
    parsed = rewrite(io.BytesIO(data), out, limits)
    return out.getvalue(), parsed


def frames(data: bytes) -> list[tuple[str, tuple[int, int], bytes, object, object]]:
    with Image.open(io.BytesIO(data)) as img:
        loop = img.info.get("loop")
        return [
            (f.mode, f.size, f.tobytes(), f.info.get("duration"), loop)
            for f in ImageSequence.Iterator(img)
        ]


@pytest.mark.parametrize(
    "options", [{"loop": 0}, {"loop": 3}, {}, {"transparency": 0, "disposal": 2}]
)
def test_frames_timing_and_looping_are_identical_and_markers_gone(
    options: dict[str, Any],
) -> None:
    source = laden(animation(comment=SECRET, **options))
    assert source.count(SECRET) > 50
    clean, parsed = run(source)
    assert SECRET not in clean and b"XMP" not in clean and b"ICCRGBG" not in clean
    assert frames(clean) == frames(source)
    assert clean.endswith(b"\x3b")
    assert (parsed.format, parsed.width, parsed.height, len(parsed.frames)) == ("GIF", 60, 40, 4)
    assert parsed.exif is None and parsed.orientation == 1


def test_still_gif87a_is_kept() -> None:
    out = io.BytesIO()
    Image.effect_noise((30, 20), 50).convert("P").save(out, "GIF")
    source = b"GIF87a" + out.getvalue()[6:]
    clean, parsed = run(source)
    assert frames(clean) == frames(source)
    assert parsed.frames == [Frame(30, 20)]


def handmade(screen: tuple[int, int], rects: list[tuple[int, int, int, int]]) -> bytes:
    """Return a GIF with these frame rectangles (x, y, w, h), each with a tiny LZW stream."""
    out = b"GIF89a" + struct.pack("<HHBBB", *screen, 0x80, 0, 0) + b"\0\0\0\xff\xff\xff"
    for x, y, w, h in rects:
        out += b"\x2c" + struct.pack("<HHHHB", x, y, w, h, 0)
        out += b"\x02" + blocks(b"\x44\x01")  # clear code, one pixel, end of information
    return out + b"\x3b"


def refused_quickly(data: bytes, limits: Limits = LIMITS) -> str:
    started = time.perf_counter()
    with pytest.raises(TooLarge) as refused:
        run(data, limits)
    assert time.perf_counter() - started < 0.05  # headers only: nothing was decoded
    return refused.value.message


def test_small_first_frame_then_huge_frames_is_refused_from_headers() -> None:
    # The bomb: 184 KB, a 1x1 image whose later frames are 7000x7000 each.
    for count in (1, 4, 20):
        rects = [(0, 0, 1, 1)] + [(0, 0, 7000, 7000)] * count
        message = refused_quickly(handmade((1, 1), rects))
        assert message.startswith("A frame of this GIF (7000x7000 at 0,0) reaches past the 1x1")


def test_huge_frames_within_the_canvas_are_counted_over_all_frames() -> None:
    rects = [(0, 0, 7000, 7000)] * 20
    assert "in all its frames" in refused_quickly(handmade((7000, 7000), rects))
    strict = Limits(max_bytes=25_000_000, max_pixels=40_000_000, max_frames=100)
    message = refused_quickly(handmade((7000, 7000), rects[:1]), strict)
    assert message == "A frame of the image is 49 megapixels; the limit is 40 megapixels."


def test_canvas_grown_by_a_far_frame_is_refused() -> None:
    message = refused_quickly(handmade((1, 1), [(0, 0, 1, 1), (9000, 9000, 1, 1)]))
    assert "reaches past the 1x1 image" in message
    # A first frame larger than the screen sets the size, as browsers do; still budgeted.
    message = refused_quickly(handmade((1, 1), [(9000, 9000, 1, 1)]))
    assert message == "The image is 81 megapixels; the limit is 50 megapixels."


def test_first_frame_larger_than_the_screen_is_kept() -> None:
    _, parsed = run(handmade((1, 1), [(0, 0, 4, 3), (1, 1, 2, 2)]))
    assert (parsed.width, parsed.height) == (4, 3)


def test_many_frames_are_refused() -> None:
    assert "frames" in refused_quickly(handmade((2, 2), [(0, 0, 1, 1)] * 101))


def test_handmade_gif_within_limits_is_kept_with_its_frames() -> None:
    clean, parsed = run(handmade((4, 4), [(0, 0, 1, 1), (3, 3, 1, 1)]))
    assert parsed.frames == [Frame(1, 1), Frame(1, 1, 3, 3)]
    assert frames(clean) == frames(handmade((4, 4), [(0, 0, 1, 1), (3, 3, 1, 1)]))


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"GIF89a",
        b"GIF90a" + b"\0" * 20,
        handmade((4, 4), [(0, 0, 1, 1)])[:-1],  # no trailer
        handmade((4, 4), [(0, 0, 1, 1)])[:-4],  # cut inside the image data
        handmade((4, 4), [])[:-1] + b"\x3b",  # no image at all
        handmade((4, 4), [(0, 0, 0, 1)]),  # an empty frame
        handmade((4, 4), [(0, 0, 1, 1)])[:-1] + b"\x99\x3b",  # an unknown block
    ],
)
def test_damaged_gifs_are_invalid(data: bytes) -> None:
    with pytest.raises(InvalidImage):
        run(data)
