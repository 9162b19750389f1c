"""Behaviour that mutation testing showed no test was watching.

Each test here failed against one surviving mutant (issue 9): share expiry ignored,
/readyz not asking the backends, ``no-store`` dropped, ``If-Range`` ignored.
Time is moved with the injected clock (``backends.clock``), never waited for.
"""

from __future__ import annotations

import shutil
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from flask.testing import FlaskClient

import imagefiles
from conftest import csrf_token
from helpers import json_of, path_of, upload
from picbucket.domain import Share
from picbucket.ports import Backends
from picbucket.settings import Settings

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def _share(alice: FlaskClient, expires: str) -> tuple[dict[str, Any], dict[str, Any]]:
    image = json_of(upload(alice, imagefiles.png(), "sunset.png"))
    share = json_of(
        alice.post(
            f"/api/v1/images/{image['id']}/shares",
            json={"expires": expires},
            headers={"X-CSRFToken": csrf_token(alice)},
        )
    )
    return image, share


def test_a_share_link_stops_at_its_expiry_not_before(
    alice: FlaskClient, client: FlaskClient, backends: Backends
) -> None:
    backends.clock = lambda: T0
    _image, share = _share(alice, "1h")
    page, picture = path_of(share["share_url"]), path_of(share["share_image_url"])

    backends.clock = lambda: T0 + timedelta(minutes=59, seconds=59)
    assert client.get(page).status_code == 200
    assert client.get(picture).status_code == 200

    backends.clock = lambda: T0 + timedelta(hours=1)
    assert client.get(page).status_code == 404
    assert client.get(picture).status_code == 404


def test_a_link_that_never_expires_still_opens_years_later(
    alice: FlaskClient, client: FlaskClient, backends: Backends
) -> None:
    backends.clock = lambda: T0
    _image, share = _share(alice, "never")
    backends.clock = lambda: T0 + timedelta(days=3650)
    assert client.get(path_of(share["share_url"])).status_code == 200


def test_share_liveness_at_the_edges() -> None:
    share = Share(
        id="s1",
        owner_id="u1",
        image_id="i1",
        token_hash="h",
        created=T0,
        expires=T0 + timedelta(hours=1),
        max_views=2,
    )
    assert share.is_live(T0)
    assert not share.is_live(T0 + timedelta(hours=1))  # the expiry instant is past
    assert replace(share, views=1).is_live(T0)
    used_up = replace(share, views=2)
    assert not used_up.is_live(T0)  # the last allowed view was used
    assert used_up.is_live(T0, viewed=True)  # ...but the page that used it loads its image
    assert not replace(used_up, revoked=T0).is_live(T0, viewed=True)
    assert not replace(share, revoked=T0).is_live(T0)


@pytest.fixture
def backend_overrides() -> dict[str, Any]:
    """Local adapters: the readiness test breaks the data directory on disk."""
    return {}


def test_readyz_fails_while_a_backend_is_down_and_recovers(
    client: FlaskClient, settings: Settings
) -> None:
    assert client.get("/readyz").status_code == 200
    blobs = settings.data_dir / "blobs"
    assert blobs.is_dir()
    shutil.move(blobs, settings.data_dir / "blobs-away")
    down = client.get("/readyz")
    assert down.status_code == 503
    assert json_of(down)["backends"] == {"blobs": "unreachable"}
    assert client.get("/healthz").status_code == 200  # liveness never asks the backends
    shutil.move(settings.data_dir / "blobs-away", blobs)
    assert client.get("/readyz").status_code == 200


def test_pages_and_api_answers_are_never_stored_by_caches(
    alice: FlaskClient, client: FlaskClient
) -> None:
    assert alice.get("/").headers["Cache-Control"] == "no-store"
    assert alice.get("/settings").headers["Cache-Control"] == "no-store"
    assert alice.get("/api/v1/images").headers["Cache-Control"] == "no-store"
    assert client.get("/api/v1/images").headers["Cache-Control"] == "no-store"  # a 401 too
    assert client.get("/no-such-page").headers["Cache-Control"] == "no-store"
    # Image bytes carry their own caching rule: private to the browser, not no-store.
    image = json_of(upload(alice, imagefiles.png(), "x.png"))
    media = alice.get(path_of(image["image_url"])).headers["Cache-Control"]
    assert "private" in media and "no-store" not in media


def test_if_range_serves_the_range_only_while_the_copy_is_current(alice: FlaskClient) -> None:
    image = json_of(upload(alice, imagefiles.jpeg((300, 200)), "x.jpg"))
    url = path_of(image["image_url"])
    whole = alice.get(url)
    etag = whole.headers["ETag"]
    assert whole.headers["Accept-Ranges"] == "bytes"  # tells clients they may resume

    fresh = alice.get(url, headers={"Range": "bytes=0-9", "If-Range": etag})
    assert fresh.status_code == 206
    assert fresh.data == whole.data[:10]
    assert fresh.headers["Content-Range"] == f"bytes 0-9/{len(whole.data)}"

    stale = alice.get(url, headers={"Range": "bytes=0-9", "If-Range": '"an-older-copy"'})
    assert stale.status_code == 200
    assert stale.data == whole.data
    assert "Content-Range" not in stale.headers

    plain = alice.get(url, headers={"Range": "bytes=10-19"})
    assert plain.status_code == 206 and plain.data == whole.data[10:20]
    assert plain.headers["Content-Length"] == "10"
    assert whole.headers["Content-Length"] == str(len(whole.data))


def test_conditional_and_unsatisfiable_requests_keep_their_headers(alice: FlaskClient) -> None:
    image = json_of(upload(alice, imagefiles.jpeg((300, 200)), "x.jpg"))
    url = path_of(image["image_url"])
    whole = alice.get(url)
    etag = whole.headers["ETag"]

    cached = alice.get(url, headers={"If-None-Match": etag})
    assert cached.status_code == 304 and cached.data == b""
    assert cached.headers["ETag"] == etag  # the browser keeps using its copy
    assert cached.headers["Cache-Control"] == whole.headers["Cache-Control"]

    beyond = alice.get(url, headers={"Range": f"bytes={len(whole.data) + 10}-"})
    assert beyond.status_code == 416
    assert beyond.headers["Content-Range"] == f"bytes */{len(whole.data)}"
    assert beyond.headers["ETag"] == etag
