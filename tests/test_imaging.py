"""Stored bytes are clean re-encodings: EXIF (GPS) gone, orientation applied, ICC kept."""

from __future__ import annotations

import io

import pytest
from flask.testing import FlaskClient
from PIL import Image

import imagefiles
from helpers import path_of, upload
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
