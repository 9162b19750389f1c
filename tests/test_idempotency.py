"""Idempotent uploads: Idempotency-Key on POST /api/v1/images, on both backend families."""

from __future__ import annotations

from datetime import timedelta

import pytest
from flask.testing import FlaskClient

import imagefiles
from helpers import json_of, stored_blob_keys, upload, user_id_of
from picbucket.domain import Image, ImageStatus, Quota, Variant, new_id
from picbucket.ports import Backends, IdempotencyKeys, IdempotencyRecord


@pytest.fixture
def keys(backends: Backends) -> IdempotencyKeys:
    assert backends.idempotency is not None, "wiring gives every record store its key records"
    return backends.idempotency


def test_a_retry_with_the_same_key_answers_the_first_result(
    alice: FlaskClient, backends: Backends
) -> None:
    data = imagefiles.jpeg()
    first = upload(alice, data, "one.jpg", **{"Idempotency-Key": "k-1"})
    retry = upload(alice, data, "one.jpg", **{"Idempotency-Key": "k-1"})
    assert first.status_code == retry.status_code == 201
    assert json_of(retry)["id"] == json_of(first)["id"]
    assert "Idempotent-Replayed" not in first.headers
    assert retry.headers["Idempotent-Replayed"] == "true"
    assert retry.headers["Location"] == first.headers["Location"]
    # One copy stored and charged, not two.
    usage = backends.images.usage(user_id_of(alice))
    assert usage.images == 1
    assert len({key.rsplit("/", 2)[1] for key in stored_blob_keys(backends)}) == 1


def test_a_key_reused_with_another_file_is_refused_and_stores_nothing(
    alice: FlaskClient, backends: Backends
) -> None:
    assert upload(alice, imagefiles.jpeg(), **{"Idempotency-Key": "k-2"}).status_code == 201
    other = upload(alice, imagefiles.png(), "other.png", **{"Idempotency-Key": "k-2"})
    assert other.status_code == 409
    assert "different file" in json_of(other)["error"]["message"]
    assert backends.images.usage(user_id_of(alice)).images == 1


def test_keys_are_per_owner_and_uploads_without_a_key_are_deduplicated(
    alice: FlaskClient, bob: FlaskClient, backends: Backends
) -> None:
    data = imagefiles.jpeg()
    mine = upload(alice, data, **{"Idempotency-Key": "shared"})
    theirs = upload(bob, data, **{"Idempotency-Key": "shared"})
    assert json_of(mine)["id"] != json_of(theirs)["id"]
    assert "Idempotent-Replayed" not in theirs.headers
    # Without a key the same photo again is noticed (issue 12) and not charged twice.
    again = upload(alice, data)
    assert again.status_code == 201 and json_of(again)["duplicate"] is True
    assert json_of(again)["id"] == json_of(mine)["id"]
    assert backends.images.usage(user_id_of(alice)).images == 1


def test_a_malformed_key_is_a_400(alice: FlaskClient) -> None:
    answer = upload(alice, imagefiles.jpeg(), **{"Idempotency-Key": "x" * 256})
    assert answer.status_code == 400
    assert "Idempotency-Key" in json_of(answer)["error"]["message"]


def _pending_image(owner_id: str, created_ago: timedelta, backends: Backends) -> Image:
    image_id = new_id()
    base = f"users/{owner_id}/{image_id}"
    image = Image(
        id=image_id,
        owner_id=owner_id,
        title="crashed",
        width=1,
        height=1,
        original=Variant(f"{base}/original.png", "image/png", 100, "f" * 64),
        thumbnail=Variant(f"{base}/thumb.webp", "image/webp", 10, "e" * 64),
        created=backends.clock() - created_ago,
        status=ImageStatus.PENDING,
    )
    backends.images.add(image, Quota(max_bytes=10**9, max_images=1000))
    return image


def test_a_key_whose_first_request_died_mid_upload(
    alice: FlaskClient, backends: Backends, keys: IdempotencyKeys
) -> None:
    """A worker killed after binding the key but before ``ready`` leaves a pending record.

    While it may still be in flight the retry is told to wait (409); once it cannot
    be (older than an upload may run), the retry stores the file under the key.
    """
    owner = user_id_of(alice)
    data = imagefiles.jpeg()
    # Learn the fingerprint the pipeline gives this file (the cleaned original's sha256).
    probe = json_of(upload(alice, data, **{"Idempotency-Key": "probe"}))
    fingerprint = backends.images.get(owner, probe["id"]).original.sha256  # type: ignore[union-attr]

    for ago, expected in ((timedelta(seconds=5), 409), (timedelta(minutes=10), 201)):
        crashed = _pending_image(owner, ago, backends)
        key = f"died-{ago.seconds}"
        keys.claim(
            IdempotencyRecord(owner, key, crashed.id, fingerprint, backends.clock()),
            backends.clock() - timedelta(hours=24),
        )
        retry = upload(alice, data, **{"Idempotency-Key": key})
        assert retry.status_code == expected, json_of(retry)
        if expected == 201:
            assert json_of(retry)["id"] != crashed.id
            again = upload(alice, data, **{"Idempotency-Key": key})
            assert json_of(again)["id"] == json_of(retry)["id"]


def test_a_worker_killed_after_saving_is_answered_on_retry(
    alice: FlaskClient, backends: Backends
) -> None:
    """The first answer is lost (as if the worker died before sending it): same image."""
    data = imagefiles.jpeg()
    lost = json_of(upload(alice, data, **{"Idempotency-Key": "lost-answer"}))["id"]
    retry = upload(alice, data, **{"Idempotency-Key": "lost-answer"})
    assert json_of(retry)["id"] == lost


def test_keys_expire_after_24_hours_and_after_a_delete(
    alice: FlaskClient, backends: Backends
) -> None:
    data = imagefiles.jpeg()
    first = json_of(upload(alice, data, **{"Idempotency-Key": "old"}))["id"]
    start = backends.clock()
    backends.clock = lambda: start + timedelta(hours=24, minutes=1)
    # Another file (the same one again would be a duplicate, returned as such).
    other = imagefiles.jpeg(color="blue")
    later = json_of(upload(alice, other, **{"Idempotency-Key": "old"}))["id"]
    assert later != first
    # Deleted (to the trash) since: a retry does not answer with the trashed record; the
    # photo is noticed as a duplicate and brought back from the trash, charged once.
    headers = {"X-CSRFToken": _csrf(alice)}
    assert alice.delete(f"/api/v1/images/{later}", headers=headers).status_code == 204
    again = upload(alice, other, **{"Idempotency-Key": "old"})
    assert again.status_code == 201 and json_of(again)["id"] == later
    assert alice.get(f"/api/v1/images/{later}", headers=headers).status_code == 200


def _csrf(client: FlaskClient) -> str:
    from conftest import csrf_token

    return csrf_token(client)


def test_purge_drops_only_expired_keys(alice: FlaskClient, keys: IdempotencyKeys) -> None:
    owner = user_id_of(alice)
    now = alice.application.extensions["picbucket"].clock()
    old = IdempotencyRecord(owner, "a", new_id(), "f", now - timedelta(hours=25))
    fresh = IdempotencyRecord(owner, "b", new_id(), "f", now)
    for record in (old, fresh):
        keys.claim(record, now - timedelta(days=30))
    assert keys.purge(now - timedelta(hours=24)) == 1
    assert keys.claim(replace_image(old), now - timedelta(days=30)).image_id != old.image_id
    assert keys.claim(replace_image(fresh), now - timedelta(days=30)) == fresh


def replace_image(record: IdempotencyRecord) -> IdempotencyRecord:
    from dataclasses import replace

    return replace(record, image_id=new_id())


def test_the_sharex_file_sends_a_fresh_key_per_upload(
    alice: FlaskClient, client: FlaskClient, backends: Backends
) -> None:
    """ShareX expands %guid in header values (its name parser) once per upload."""
    import io
    import json
    import uuid

    from conftest import csrf_token
    from helpers import path_of

    config = json.loads(alice.post("/settings/sharex", data={"csrf_token": csrf_token(alice)}).data)
    assert config["Headers"]["Idempotency-Key"] == "sharex-%guid"
    ids = set()
    for n in range(2):
        headers = {
            name: value.replace("%guid", str(uuid.uuid4()))
            for name, value in config["Headers"].items()
        }
        sent = client.post(
            path_of(config["RequestURL"]),
            data={"file": (io.BytesIO(imagefiles.png((300 + n, 200))), "screenshot.png")},
            headers=headers,
        )
        assert sent.status_code == 201
        ids.add(json_of(sent)["id"])
    assert len(ids) == 2
