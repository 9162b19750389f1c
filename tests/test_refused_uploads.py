"""Every refused input gets a clear 4xx and stores nothing: no record, no blob, no quota."""

from __future__ import annotations

import io
from typing import Any

import pytest
from flask.testing import FlaskClient
from PIL import Image

import imagefiles
from helpers import json_of, stored_blob_keys, upload, user_id_of
from picbucket.ports import Backends

SVG = (
    b'<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>'
)
HTML = b"<!doctype html><html><body><script>alert(document.cookie)</script></body></html>"


def _polyglot() -> bytes:
    # HTML first, a PNG after it: a browser sniffing it would see a page.
    return b"<html><script>alert(1)</script></html>" + imagefiles.png()


def _gifar() -> bytes:
    # GIF header followed by script, not a decodable GIF.
    return b"GIF89a/*\x00\x00*/=1;alert(document.domain);//" + b"\x00" * 64


def _bomb() -> bytes:
    # 20000 x 20000 = 400 MP of one colour: a few hundred KB as PNG.
    out = io.BytesIO()
    Image.new("1", (20000, 20000), 0).save(out, "PNG")
    return out.getvalue()


def _truncated() -> bytes:
    data = imagefiles.jpeg((1200, 900))
    return data[: len(data) // 2]


REFUSED = [
    ("svg", SVG, "drawing.svg", 415, "SVG"),
    ("html", HTML, "page.jpg", 415, "SVG, HTML"),
    ("text renamed jpg", b"just some text, not an image\n" * 10, "notes.jpg", 415, "not a JPEG"),
    ("polyglot", _polyglot(), "poly.png", 415, "SVG, HTML"),
    ("gifar", _gifar(), "anim.gif", 415, "damaged"),
    ("truncated", _truncated(), "half.jpg", 415, "truncated"),
    ("empty", b"", "empty.png", 415, "empty"),
    ("bomb", _bomb(), "bomb.png", 413, "megapixels"),
    ("tiff", b"II*\x00" + b"\x00" * 100, "scan.tiff", 415, "not a JPEG"),
]


def _assert_nothing_stored(backends: Backends, owner: str) -> None:
    assert stored_blob_keys(backends) == []
    assert backends.images.page(owner, None, 10).items == []
    usage = backends.images.usage(owner)
    assert (usage.bytes, usage.images) == (0, 0)
    assert list(backends.images.unfinished(_far_future())) == []


def _far_future() -> Any:
    from datetime import UTC, datetime

    return datetime(2999, 1, 1, tzinfo=UTC)


@pytest.mark.parametrize(
    ("data", "filename", "status", "message"),
    [pytest.param(*case[1:], id=case[0]) for case in REFUSED],
)
def test_refused_input_stores_nothing(
    alice: FlaskClient, backends: Backends, data: bytes, filename: str, status: int, message: str
) -> None:
    response = upload(alice, data, filename)
    assert response.status_code == status, response.json
    assert json_of(response)["error"]["code"] in ("invalid_image", "too_large")
    assert message in json_of(response)["error"]["message"]
    _assert_nothing_stored(backends, user_id_of(alice))


@pytest.mark.parametrize("settings_overrides", [{"max_upload_mb": 1}])
def test_oversize_request_is_refused_before_reading(alice: FlaskClient, backends: Backends) -> None:
    big = b"\xff\xd8" + b"\x00" * (3 * 1024 * 1024)
    response = upload(alice, big, "big.jpg")
    assert response.status_code == 413
    assert json_of(response)["error"]["code"] == "too_large"
    _assert_nothing_stored(backends, user_id_of(alice))


@pytest.mark.parametrize("settings_overrides", [{"max_upload_mb": 1}])
def test_oversize_file_under_request_cap_is_refused(alice: FlaskClient, backends: Backends) -> None:
    # Just over 1 MiB: inside the request allowance (multipart overhead), over the file limit.
    data = imagefiles.noise_png((700, 700))
    assert 1024 * 1024 < len(data) < 2 * 1024 * 1024
    response = upload(alice, data, "noise.png")
    assert response.status_code == 413
    assert "the limit is 1.0 MB" in json_of(response)["error"]["message"]
    _assert_nothing_stored(backends, user_id_of(alice))


@pytest.mark.parametrize("settings_overrides", [{"max_frames": 5}])
def test_too_many_frames_is_refused(alice: FlaskClient, backends: Backends) -> None:
    response = upload(alice, imagefiles.gif(frames=8), "long.gif")
    assert response.status_code == 413
    assert "more than 5 frames" in json_of(response)["error"]["message"]
    _assert_nothing_stored(backends, user_id_of(alice))


@pytest.mark.parametrize("settings_overrides", [{"quota_images": 2}])
def test_over_quota_count_is_refused_and_changes_nothing(
    alice: FlaskClient, backends: Backends
) -> None:
    # Three different photos: the same one again would be a duplicate, not a new image.
    assert upload(alice, imagefiles.png((300, 200)), "a.png").status_code == 201
    assert upload(alice, imagefiles.png((301, 200)), "b.png").status_code == 201
    owner = user_id_of(alice)
    before_usage = backends.images.usage(owner)
    before_keys = stored_blob_keys(backends)
    response = upload(alice, imagefiles.png((302, 200)), "c.png")
    assert response.status_code == 413
    assert json_of(response)["error"]["code"] == "quota_exceeded"
    assert backends.images.usage(owner) == before_usage
    assert stored_blob_keys(backends) == before_keys


@pytest.mark.parametrize("settings_overrides", [{"quota_mb": 1}])
def test_over_quota_bytes_is_refused_and_changes_nothing(
    alice: FlaskClient, backends: Backends
) -> None:
    data = imagefiles.noise_png((450, 450))  # ~600 KB: two do not fit in 1 MB
    assert upload(alice, data, "first.png").status_code == 201
    owner = user_id_of(alice)
    before_usage = backends.images.usage(owner)
    before_keys = stored_blob_keys(backends)
    response = upload(alice, imagefiles.noise_png((450, 450), seed=2), "second.png")
    assert response.status_code == 413
    assert "quota" in json_of(response)["error"]["message"]
    assert backends.images.usage(owner) == before_usage
    assert stored_blob_keys(backends) == before_keys


def test_missing_file_field_is_a_clear_400(alice: FlaskClient, backends: Backends) -> None:
    from conftest import csrf_token

    response = alice.post(
        "/api/v1/images", data={"other": "x"}, headers={"X-CSRFToken": csrf_token(alice)}
    )
    assert response.status_code == 400
    assert "field named “file”" in json_of(response)["error"]["message"]
    _assert_nothing_stored(backends, user_id_of(alice))
