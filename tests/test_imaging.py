"""Stored bytes are clean re-encodings: EXIF (GPS) gone, orientation applied, ICC kept."""

from __future__ import annotations

import io
import random

import pytest
from flask.testing import FlaskClient
from PIL import Image

import imagefiles
from helpers import path_of, upload
from picbucket.domain import InvalidImage, TooLarge
from picbucket.imaging import Limits, process_upload, thumbnail_box

LIMITS = Limits(max_bytes=25 * 1024 * 1024, max_pixels=50_000_000, max_frames=300)


def test_stored_jpeg_has_no_exif_and_is_upright(alice: FlaskClient) -> None:
    # 600x400 landscape pixels with "rotate 90° CW" (orientation 6): a portrait photo.
    source = imagefiles.jpeg((600, 400), orientation=6, gps=True, icc=True)
    assert b"TestCam" in source and Image.open(io.BytesIO(source)).getexif().get_ifd(0x8825)
    created = upload(alice, source, "gps.jpg").json
    assert (created["width"], created["height"]) == (400, 600)

    stored = alice.get(path_of(created["image_url"])).data
    assert b"Exif" not in stored[:4096]
    assert b"TestCam" not in stored
    img = Image.open(io.BytesIO(stored))
    assert img.size == (400, 600)
    assert len(img.getexif()) == 0
    assert not img.getexif().get_ifd(0x8825)
    assert img.info.get("icc_profile"), "the colour profile must be kept"
    # The blue marker was top-left of the sensor image; rotated 90° CW it is top-right.
    top_right = img.getpixel((img.width - 10, 10))
    top_left = img.getpixel((10, 10))
    assert isinstance(top_right, tuple) and isinstance(top_left, tuple)
    assert top_right[2] > 200 and top_right[0] < 60
    assert top_left[0] > 200


def test_appended_payload_does_not_survive() -> None:
    payload = b"<script>alert(1)</script>PK\x03\x04zip-payload"
    processed = process_upload(io.BytesIO(imagefiles.png() + payload), LIMITS)
    data = processed.original.data.read()
    assert payload not in data
    assert b"script" not in data
    processed.close()


def test_thumbnail_is_small_webp_with_reduced_scale_decoding() -> None:
    processed = process_upload(io.BytesIO(imagefiles.jpeg((4000, 3000))), LIMITS)
    thumb = Image.open(processed.thumbnail.data)
    assert thumb.format == "WEBP"
    assert max(thumb.size) == 400
    assert thumb.size == (400, 300)
    processed.close()


def test_draft_mode_decodes_large_jpegs_at_reduced_scale() -> None:
    source = Image.open(io.BytesIO(imagefiles.jpeg((4000, 3000))))
    source.draft("RGB", thumbnail_box(*source.size))
    assert source.size == (500, 375)  # 1/8 scale: the decoder skipped 63/64 of the pixels


def test_animated_gif_keeps_its_frames(alice: FlaskClient) -> None:
    created = upload(alice, imagefiles.gif(frames=4), "anim.gif").json
    stored = Image.open(io.BytesIO(alice.get(path_of(created["image_url"])).data))
    assert stored.format == "GIF"
    assert stored.n_frames == 4


@pytest.mark.parametrize(
    ("data", "fmt", "content_type"),
    [
        (imagefiles.png(), "PNG", "image/png"),
        (imagefiles.webp(), "WEBP", "image/webp"),
        (imagefiles.jpeg(), "JPEG", "image/jpeg"),
    ],
)
def test_each_allowed_format_round_trips(data: bytes, fmt: str, content_type: str) -> None:
    processed = process_upload(io.BytesIO(data), LIMITS)
    assert processed.format == fmt
    assert processed.original.content_type == content_type
    assert Image.open(processed.original.data).format == fmt
    processed.close()


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
    assert stored.getpixel((5, 5))[3] == 0  # the transparent half stays transparent
    assert stored.getpixel((30, 5))[3] == 255
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
    assert stored.getpixel((10, 10))[0] > 200  # the first picture, not the second
    processed.close()


def test_animation_pixels_share_one_still_image_budget() -> None:
    # 10 frames of 100x100 = 100,000 pixels in all: over a 50,000-pixel budget, although
    # each frame alone is well under it.
    small = Limits(max_bytes=LIMITS.max_bytes, max_pixels=50_000, max_frames=300)
    with pytest.raises(TooLarge, match="animation is too large"):
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
