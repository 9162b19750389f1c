"""Large files go browser → bucket via a signed URL, then through the normal pipeline."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import requests
from flask.testing import FlaskClient

import imagefiles
from conftest import csrf_token
from helpers import stored_blob_keys, user_id_of
from picbucket.dev.emulators import write_throwaway_key
from picbucket.ports import Backends


@pytest.fixture
def backend_overrides(gcp_settings: dict[str, Any], tmp_path: Path) -> dict[str, Any]:
    """Only the Cloud Storage adapter can hand out upload URLs; sign with a throwaway key."""
    key = write_throwaway_key(tmp_path / "key.json")
    return {**gcp_settings, "signing_key_file": str(key)}


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    """A 1 MB in-app limit, so a ~2 MB file must take the direct path."""
    return {"max_upload_mb": 1, "max_direct_upload_mb": 5}


def _finish(client: FlaskClient, upload_id: str) -> Any:
    return client.post(
        f"/api/v1/uploads/{upload_id}/complete",
        json={"filename": "scan.png"},
        headers={"X-CSRFToken": csrf_token(client)},
    )


def _start(client: FlaskClient, size: int, content_type: str = "image/png") -> Any:
    return client.post(
        "/api/v1/uploads",
        json={"size": size, "content_type": content_type},
        headers={"X-CSRFToken": csrf_token(client)},
    )


def test_large_file_goes_straight_to_the_bucket(alice: FlaskClient, backends: Backends) -> None:
    data = imagefiles.noise_png((900, 800))
    assert len(data) > 1024 * 1024
    ticket = _start(alice, len(data))
    assert ticket.status_code == 201, ticket.json
    body = ticket.json
    assert body["method"] == "PUT"
    # Cloud Storage itself refuses a body of any other length than the announced one.
    assert body["headers"]["x-goog-content-length-range"] == f"{len(data)},{len(data)}"
    assert "X-Goog-Signature=" in body["url"]
    assert f"/incoming/{user_id_of(alice)}/" in body["url"]

    put = requests.put(body["url"], data=data, headers=body["headers"], timeout=30)
    assert put.status_code == 200

    done = alice.post(
        f"/api/v1/uploads/{body['upload_id']}/complete",
        json={"filename": "big scan.png"},
        headers={"X-CSRFToken": csrf_token(alice)},
    )
    assert done.status_code == 201, done.json
    image: dict[str, Any] = done.json or {}
    assert image["title"] == "big scan"
    assert image["id"] in alice.get("/").get_data(as_text=True)
    keys = stored_blob_keys(backends)
    assert not [k for k in keys if k.startswith("incoming/")], "the incoming copy is removed"
    assert len(keys) == 2


def test_refused_direct_upload_stores_nothing(alice: FlaskClient, backends: Backends) -> None:
    fake = b"<svg xmlns='http://www.w3.org/2000/svg'/>" + b" " * 2_000_000
    body = _start(alice, len(fake)).json
    requests.put(body["url"], data=fake, headers=body["headers"], timeout=30).raise_for_status()
    done = alice.post(
        f"/api/v1/uploads/{body['upload_id']}/complete",
        json={"filename": "x.png"},
        headers={"X-CSRFToken": csrf_token(alice)},
    )
    assert done.status_code == 415
    assert "SVG" in (done.json or {})["error"]["message"]
    assert stored_blob_keys(backends) == []
    assert backends.images.usage(user_id_of(alice)).images == 0


def test_direct_upload_checks_type_size_and_owner(
    alice: FlaskClient, bob: FlaskClient, backends: Backends
) -> None:
    assert _start(alice, 10, "image/svg+xml").status_code == 400
    assert _start(alice, 6 * 1024 * 1024).status_code == 413
    assert _start(alice, 0).status_code == 400
    body = _start(alice, 100).json
    requests.put(body["url"], data=imagefiles.png(), headers=body["headers"], timeout=30)
    # Bob cannot finish Alice's upload: the id is looked up under his own prefix.
    stolen = bob.post(
        f"/api/v1/uploads/{body['upload_id']}/complete",
        json={},
        headers={"X-CSRFToken": csrf_token(bob)},
    )
    assert stolen.status_code == 404
    assert backends.images.usage(user_id_of(bob)).images == 0
    unknown = alice.post(
        "/api/v1/uploads/AAAAAAAAAAAAAAAAAAAAAA/complete",
        json={},
        headers={"X-CSRFToken": csrf_token(alice)},
    )
    assert unknown.status_code == 404
    assert "expired" in (unknown.json or {})["error"]["message"]


@pytest.mark.parametrize(
    "announced_minus_sent",
    [-1, 1, -1024 * 1024],
    ids=["one-byte-more", "one-byte-less", "1MB-more"],
)
def test_a_file_of_another_size_than_announced_is_refused(
    alice: FlaskClient, backends: Backends, announced_minus_sent: int
) -> None:
    """The emulator ignores signed headers (a bucket would not): finish is the backstop."""
    data = imagefiles.noise_png((900, 800))
    announced = len(data) + announced_minus_sent
    body = _start(alice, announced).json
    put = requests.put(body["url"], data=data, headers=body["headers"], timeout=30)
    assert put.status_code == 200  # a real bucket answers 400 here; the emulator stores it
    done = _finish(alice, body["upload_id"])
    assert done.status_code == 400, done.json
    assert f"{len(data)} bytes but {announced} were announced" in done.json["error"]["message"]
    assert stored_blob_keys(backends) == []  # the incoming copy is removed, nothing stored
    assert backends.images.usage(user_id_of(alice)).images == 0
    assert _finish(alice, body["upload_id"]).status_code == 404  # and it cannot be retried


@pytest.mark.parametrize(
    "settings_overrides", [{"max_upload_mb": 1, "max_direct_upload_mb": 5, "quota_mb": 4}]
)
def test_abandoned_incoming_bytes_count_against_the_quota(
    alice: FlaskClient, backends: Backends
) -> None:
    data = imagefiles.noise_png((900, 800))  # ~2.1 MB of a 4 MB quota
    abandoned = _start(alice, len(data)).json
    requests.put(abandoned["url"], data=data, headers=abandoned["headers"], timeout=30)
    # Never finished: the 2 MB still sit in the bucket, so a second one does not fit.
    refused = _start(alice, len(data))
    assert refused.status_code == 413, refused.json
    assert refused.json["error"]["code"] == "quota_exceeded"
    # Once it is finished (or reconcile removes it), the room is back.
    assert _finish(alice, abandoned["upload_id"]).status_code == 201
    kept = backends.images.usage(user_id_of(alice)).bytes
    assert kept > 0
    again = _start(alice, 4 * 1024 * 1024 - kept + 1)
    assert again.status_code == 413  # stored bytes still count, of course
    assert _start(alice, 1000).status_code == 201


@pytest.mark.parametrize(
    "settings_overrides", [{"max_upload_mb": 1, "max_direct_upload_mb": 5, "quota_images": 2}]
)
def test_abandoned_incoming_files_count_against_the_image_quota(alice: FlaskClient) -> None:
    for _ in range(2):
        body = _start(alice, 100).json
        requests.put(body["url"], data=b"x" * 100, headers=body["headers"], timeout=30)
    refused = _start(alice, 100)
    assert refused.status_code == 413
    assert "quota of 2 images" in refused.json["error"]["message"]
