"""What is stored is the uploaded photo, losslessly, with its metadata gone (over HTTP too)."""

from __future__ import annotations

import io
import random

import pytest
from flask.testing import FlaskClient
from PIL import Image, ImageOps, ImageSequence

import imagefiles
from helpers import path_of, upload
from picbucket.domain import InvalidImage, TooLarge
from picbucket.imaging import Limits, process_upload

LIMITS = Limits(max_bytes=25 * 1024 * 1024, max_pixels=50_000_000, max_frames=300)


def test_stored_jpeg_is_the_uploaded_photo_without_its_metadata(alice: FlaskClient) -> None:
    # 600x400 landscape pixels with "rotate 90° CW" (orientation 6): a portrait photo.
    source = imagefiles.jpeg((600, 400), orientation=6, gps=True, icc=True)
    assert b"TestCam" in source and Image.open(io.BytesIO(source)).getexif().get_ifd(0x8825)
    created = upload(alice, source, "gps.jpg").json
    assert (created["width"], created["height"]) == (400, 600)

    stored = alice.get(path_of(created["image_url"])).data
    assert b"TestCam" not in stored
    img = Image.open(io.BytesIO(stored))
    # Orientation is the only EXIF field left; GPS and the camera are gone.
    assert dict(img.getexif()) == {0x0112: 6}
    assert not img.getexif().get_ifd(0x8825)
    assert img.info.get("icc_profile"), "the colour profile must be kept"
    # Lossless: the same compressed data, so exactly the same pixels.
    assert img.tobytes() == Image.open(io.BytesIO(source)).tobytes()
    upright = ImageOps.exif_transpose(img)
    assert upright.size == (400, 600)
    # The blue marker was top-left of the sensor image; rotated 90° CW it is top-right.
    top_right = upright.getpixel((upright.width - 10, 10))
    assert isinstance(top_right, tuple) and top_right[2] > 200 and top_right[0] < 60


def test_thumbnail_and_display_are_upright_renditions(alice: FlaskClient) -> None:
    created = upload(alice, imagefiles.jpeg((4000, 3000), orientation=8), "big.jpg").json
    assert (created["width"], created["height"]) == (3000, 4000)
    display = Image.open(io.BytesIO(alice.get(path_of(created["display_url"])).data))
    assert display.size == (1500, 2000)
    thumb = Image.open(io.BytesIO(alice.get(path_of(created["thumbnail_url"])).data))
    assert min(thumb.size) == 512 and thumb.height > thumb.width
    assert (created["thumbnail_width"], created["thumbnail_height"]) == thumb.size


def test_date_taken_comes_back_in_the_api(alice: FlaskClient) -> None:
    exif = Image.Exif()
    exif.get_ifd(0x8769)[0x9003] = "2023:12:31 23:59:00"
    exif.get_ifd(0x8769)[0x9011] = "-05:00"
    out = io.BytesIO()
    Image.new("RGB", (64, 48), "red").save(out, "JPEG", exif=exif.tobytes())
    created = upload(alice, out.getvalue(), "newyear.jpg").json
    assert created["taken_at"] == "2024-01-01T04:59:00+00:00"
    assert b"2023:12:31" not in alice.get(path_of(created["image_url"])).data


def test_appended_payload_does_not_survive() -> None:
    payload = b"<script>alert(1)</script>PK\x03\x04zip-payload"
    processed = process_upload(io.BytesIO(imagefiles.png() + payload), LIMITS)
    data = processed.original.data.read()
    assert payload not in data
    assert b"script" not in data
    processed.close()


def test_animated_gif_keeps_its_frames(alice: FlaskClient) -> None:
    created = upload(alice, imagefiles.gif(frames=4), "anim.gif").json
    stored = Image.open(io.BytesIO(alice.get(path_of(created["image_url"])).data))
    assert stored.format == "GIF"
    assert len(list(ImageSequence.Iterator(stored))) == 4


def test_files_without_a_known_name_or_type_are_judged_by_their_bytes(
    alice: FlaskClient,
) -> None:
    for name in ("photo-from-chat", "tweet.jpg_large", "IMG_5001.HEIC"):
        response = upload(alice, imagefiles.webp(), name)
        assert response.status_code == 201, response.json
        assert response.json["content_type"] == "image/webp"


def test_png_text_chunks_are_dropped() -> None:
    from PIL import PngImagePlugin

    info = PngImagePlugin.PngInfo()
    info.add_text("Comment", "secret location: 51.5N")
    out = io.BytesIO()
    Image.new("RGB", (50, 50), "white").save(out, "PNG", pnginfo=info)
    processed = process_upload(io.BytesIO(out.getvalue()), LIMITS)
    assert b"secret location" not in processed.original.data.read()
    processed.close()


@pytest.mark.parametrize("fmt", ["PNG", "GIF"])
def test_palette_transparency_is_kept(fmt: str) -> None:
    img = Image.new("P", (40, 30), 1)
    img.putpalette([255, 0, 0, 0, 255, 0] + [0] * 762)
    img.paste(0, (0, 0, 20, 30))
    out = io.BytesIO()
    img.save(out, fmt, transparency=0)
    processed = process_upload(io.BytesIO(out.getvalue()), LIMITS)
    stored = Image.open(processed.original.data).convert("RGBA")
    assert stored.getpixel((5, 5))[3] == 0  # type: ignore[index]
    assert stored.getpixel((30, 5))[3] == 255  # type: ignore[index]
    thumb = Image.open(processed.thumbnail.data)
    assert thumb.mode == "RGBA"
    processed.close()


def test_multi_picture_jpeg_keeps_the_photo_as_a_jpeg() -> None:
    # Phones save HDR gain maps and depth maps as extra pictures in one JPEG (MPO).
    first = Image.new("RGB", (300, 200), "red")
    second = Image.new("RGB", (150, 100), "blue")
    out = io.BytesIO()
    first.save(out, "MPO", save_all=True, append_images=[second])
    assert Image.open(io.BytesIO(out.getvalue())).format == "MPO"
    processed = process_upload(io.BytesIO(out.getvalue()), LIMITS)
    assert (processed.format, processed.frames) == ("JPEG", 1)
    assert processed.original.content_type == "image/jpeg"
    stored = Image.open(processed.original.data)
    assert stored.format == "JPEG"
    assert stored.size == (300, 200)
    pixel = stored.getpixel((10, 10))
    assert isinstance(pixel, tuple) and pixel[0] > 200  # the first picture, not the second
    processed.close()


def test_animation_pixels_are_budgeted_over_every_frame() -> None:
    # 10 frames of 100x100 = 100,000 pixels in all: over a 50,000-pixel total budget,
    # although each frame alone is well under the per-frame limit.
    small = Limits(
        max_bytes=LIMITS.max_bytes, max_pixels=50_000, max_frames=300, max_total_pixels=50_000
    )
    with pytest.raises(TooLarge):
        process_upload(io.BytesIO(imagefiles.gif(frames=10, size=(100, 100))), small)


@pytest.mark.filterwarnings("ignore:.*(EXIF|Tag data|Truncated File):UserWarning")
def test_corrupted_files_are_refused_cleanly_never_crash() -> None:
    """Seeded byte mutations of every format: each is stored or refused, never a crash."""
    rng = random.Random(20261124)
    sources = [
        imagefiles.jpeg((64, 48), orientation=6, gps=True),
        imagefiles.png((40, 30)),
        imagefiles.gif(frames=3, size=(20, 16)),
        imagefiles.webp((40, 30)),
        imagefiles.webp_animated(),
    ]
    outcomes: dict[str, int] = {}
    for _ in range(1500):
        data = bytearray(rng.choice(sources))
        for _ in range(rng.randint(1, 6)):
            data[rng.randrange(len(data))] = rng.randrange(256)
        try:
            process_upload(io.BytesIO(bytes(data)), LIMITS).close()
            outcome = "stored"
        except (InvalidImage, TooLarge) as exc:
            outcome = type(exc).__name__
        outcomes[outcome] = outcomes.get(outcome, 0) + 1
    assert outcomes.get("InvalidImage", 0) > 100, outcomes
