"""The whole pipeline: lossless originals, upright renditions, date taken, budgets."""

from __future__ import annotations

import io
import threading
import time
from datetime import UTC, datetime
from typing import IO

import pytest
from PIL import Image, ImageChops, ImageSequence

import imagefiles
from picbucket.domain import Busy, InvalidImage, TooLarge
from picbucket.imaging import DecodeBudget, Limits, ProcessedImage, process_upload
from picbucket.imaging.pipeline import decode_cost, jpeg_draft_scale

LIMITS = Limits(max_bytes=25 * 1024 * 1024, max_pixels=50_000_000, max_frames=300)


def process(data: bytes, limits: Limits = LIMITS) -> ProcessedImage:
    return process_upload(io.BytesIO(data), limits)


def pixels(data: bytes | IO[bytes]) -> list[bytes]:
    """Return every frame's decoded pixels, as RGBA bytes."""
    stream = io.BytesIO(data) if isinstance(data, bytes) else data
    with Image.open(stream) as img:
        return [frame.convert("RGBA").tobytes() for frame in ImageSequence.Iterator(img)]


def stored(processed: ProcessedImage) -> bytes:
    data = processed.original.data.read()
    processed.original.data.seek(0)
    return data


def photo(size: tuple[int, int]) -> Image.Image:
    """A photo-like image: smooth gradients, so lossy encoders behave as on photos."""
    gradient = Image.linear_gradient("L").resize(size)
    return Image.merge(
        "RGB", (gradient, gradient.rotate(90).resize(size), Image.new("L", size, 90))
    )


def encoded(img: Image.Image, fmt: str, **options: object) -> bytes:
    out = io.BytesIO()
    img.save(out, fmt, **options)
    return out.getvalue()


@pytest.mark.parametrize(
    ("name", "data"),
    [
        ("baseline jpeg", encoded(photo((640, 480)), "JPEG", quality=92)),
        ("progressive jpeg", encoded(photo((640, 480)), "JPEG", quality=92, progressive=True)),
        ("png", imagefiles.png((300, 200))),
        ("16-bit gray png", encoded(Image.linear_gradient("L").convert("I;16"), "PNG")),
        ("animated gif", imagefiles.gif(frames=4)),
        ("lossy webp", encoded(photo((300, 200)), "WEBP", quality=80)),
        ("lossless webp", encoded(photo((300, 200)), "WEBP", lossless=True)),
        ("animated webp", imagefiles.webp_animated(frames=3)),
        ("avif", encoded(photo((320, 240)), "AVIF", quality=70)),
    ],
)
def test_stored_original_decodes_to_exactly_the_uploaded_pixels(name: str, data: bytes) -> None:
    processed = process(data)
    assert pixels(stored(processed)) == pixels(data), name
    processed.close()


MARKER = b"PICBUCKET-SECRET-MARKER"


def test_jpeg_metadata_and_trailers_are_gone_but_the_photo_is_not() -> None:
    exif = Image.Exif()
    exif[0x010F] = MARKER.decode()  # camera make
    exif[0x0112] = 1
    data = (
        encoded(
            photo((800, 600)), "JPEG", exif=exif.tobytes(), xmp=MARKER, comment=MARKER, quality=90
        )
        + MARKER
    )
    processed = process(data)
    clean = stored(processed)
    assert MARKER not in clean
    assert pixels(clean) == pixels(data)
    assert len(clean) < len(data)
    processed.close()


@pytest.mark.parametrize("orientation", range(1, 9))
def test_every_orientation_displays_upright(orientation: int) -> None:
    # 600x400 sensor pixels with a blue block top-left; orientation says how to turn it.
    processed = process(imagefiles.jpeg((600, 400), orientation=orientation))
    upright = Image.open(io.BytesIO(imagefiles.jpeg((600, 400), orientation=orientation)))
    from PIL import ImageOps

    expected = ImageOps.exif_transpose(upright)
    assert (processed.width, processed.height) == expected.size
    original = Image.open(processed.original.data)
    assert original.getexif() == ({0x0112: orientation} if orientation != 1 else {})
    shown = ImageOps.exif_transpose(original)
    assert shown.size == expected.size
    thumb = Image.open(processed.thumbnail.data).convert("RGB")
    want = expected.convert("RGB").resize(thumb.size)
    # The thumbnail shows the blue block where the upright photo has it.
    assert ImageChops.difference(thumb, want).getbbox() is None or _close(thumb, want)
    processed.close()


def _close(a: Image.Image, b: Image.Image) -> bool:
    diff = ImageChops.difference(a, b).convert("L")
    _darkest, brightest = diff.getextrema()  # one band: (min, max)
    assert not isinstance(brightest, tuple)
    return brightest < 60


def test_date_taken_is_read_from_exif_and_kept_out_of_the_file() -> None:
    exif = Image.Exif()
    exif_ifd = exif.get_ifd(0x8769)
    exif_ifd[0x9003] = "2024:07:14 18:30:05"
    exif_ifd[0x9011] = "+02:00"
    data = encoded(photo((320, 240)), "JPEG", exif=exif.tobytes())
    processed = process(data)
    assert processed.taken_at == datetime(2024, 7, 14, 16, 30, 5, tzinfo=UTC)
    assert b"2024:07:14" not in stored(processed)
    processed.close()


def test_large_photo_gets_a_display_rendition_from_one_reduced_decode() -> None:
    processed = process(encoded(photo((4000, 3000)), "JPEG", quality=90))
    assert processed.display is not None
    display = Image.open(processed.display.data)
    # Decoded at 1/2 scale (draft): 2000 px, "about 2048", without a resize.
    assert (display.format, display.size) == ("JPEG", (2000, 1500))
    assert (processed.display.width, processed.display.height) == (2000, 1500)
    assert processed.display.size < processed.original.size / 2
    thumb = Image.open(processed.thumbnail.data)
    assert min(thumb.size) == 512
    assert thumb.size == (683, 512)
    processed.close()


def test_small_images_are_shown_as_they_are() -> None:
    processed = process(encoded(photo((1600, 1200)), "JPEG"))
    assert processed.display is None
    processed.close()


def test_panorama_thumbnail_is_sharp_in_a_square_cell() -> None:
    # 6000x1000: the old 400x67 thumbnail was stretched 3-5x in a square cell.
    processed = process(encoded(photo((6000, 1000)), "JPEG"))
    thumb = Image.open(processed.thumbnail.data)
    assert thumb.size == (1024, 512)  # centre-cropped to 2:1, short side 512
    processed.close()


def test_transparent_display_rendition_keeps_transparency() -> None:
    img = Image.new("RGBA", (3000, 2000), (0, 128, 0, 0))
    img.paste((255, 0, 0, 255), (0, 0, 1500, 2000))
    processed = process(encoded(img, "PNG"))
    assert processed.display is not None
    display = Image.open(processed.display.data)
    assert display.format == "WEBP"
    assert display.convert("RGBA").getpixel((1500, 10))[3] == 0  # type: ignore[index]
    processed.close()


def test_display_rendition_keeps_the_colour_profile() -> None:
    from PIL import ImageCms

    srgb = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    processed = process(encoded(photo((3000, 2000)), "JPEG", icc_profile=srgb))
    assert processed.display is not None
    assert Image.open(processed.display.data).info.get("icc_profile")
    assert Image.open(processed.thumbnail.data).info.get("icc_profile")
    processed.close()


def test_animation_keeps_its_frames_and_has_no_display_rendition() -> None:
    processed = process(imagefiles.gif(frames=5, size=(3000, 200)))
    assert processed.frames == 5
    assert processed.display is None
    assert len(list(ImageSequence.Iterator(Image.open(processed.original.data)))) == 5
    processed.close()


def test_format_comes_from_the_bytes_not_the_name() -> None:
    processed = process(imagefiles.webp())
    assert processed.original.content_type == "image/webp"
    processed.close()
    with pytest.raises(InvalidImage, match="SVG"):
        process(b"<svg xmlns='http://www.w3.org/2000/svg'></svg>")
    with pytest.raises(InvalidImage, match="empty"):
        process(b"")


def test_a_frame_larger_than_the_first_is_refused_before_decoding() -> None:
    limits = Limits(max_bytes=LIMITS.max_bytes, max_pixels=1_000_000, max_frames=300)
    frames = [Image.new("RGB", (10, 10), "red"), Image.new("RGB", (10, 10), "blue")]
    data = encoded(frames[0], "GIF", save_all=True, append_images=frames[1:])
    process(data, limits).close()
    with pytest.raises(TooLarge):
        process(imagefiles.gif(frames=2, size=(1100, 1000)), limits)


def test_jpeg_decode_cost_counts_the_reduced_scale() -> None:
    assert jpeg_draft_scale(4000, 3000) == 2
    assert jpeg_draft_scale(1000, 800) == 1
    from picbucket.imaging.container import Frame, Parsed

    photo_cost = decode_cost(Parsed("JPEG", 4000, 3000, [Frame(4000, 3000)]))
    png_cost = decode_cost(Parsed("PNG", 4000, 3000, [Frame(4000, 3000)]))
    assert photo_cost < png_cost / 2


def test_budget_waits_then_answers_busy() -> None:
    budget = DecodeBudget(total_bytes=100, wait_seconds=0.3)
    held = threading.Event()
    release = threading.Event()

    def hog() -> None:
        with budget.hold(80):
            held.set()
            release.wait(5)

    thread = threading.Thread(target=hog)
    thread.start()
    held.wait(5)
    started = time.monotonic()
    with pytest.raises(Busy), budget.hold(50):
        pass
    assert time.monotonic() - started >= 0.25  # it waited before giving up
    with budget.hold(20):  # what still fits runs at once
        assert budget.in_use == 100
    release.set()
    thread.join()
    with budget.hold(100):  # and everything is free again
        assert budget.peak == 100


def test_budget_lets_a_waiting_upload_in_when_memory_frees() -> None:
    budget = DecodeBudget(total_bytes=100, wait_seconds=5)
    order: list[str] = []

    def first() -> None:
        with budget.hold(100):
            time.sleep(0.2)
            order.append("first")

    thread = threading.Thread(target=first)
    thread.start()
    time.sleep(0.05)
    with budget.hold(100):
        order.append("second")
    thread.join()
    assert order == ["first", "second"]


def test_process_upload_holds_the_budget_while_decoding() -> None:
    budget = DecodeBudget(total_bytes=1, wait_seconds=0.2)
    with budget.hold(1), pytest.raises(Busy):
        process_upload(io.BytesIO(imagefiles.png()), LIMITS, budget)
    processed = process_upload(io.BytesIO(imagefiles.png()), LIMITS, budget)
    processed.close()
    assert budget.in_use == 0
