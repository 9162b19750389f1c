"""Storage failing part-way: the user is never told "saved" unless everything is stored.

The faults are injected by wrapping the real adapters (a wrapper that raises on the
n-th call), because a real Cloud Storage or Firestore outage cannot be produced here.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

import imagefiles
from helpers import json_of, stored_blob_keys, upload, user_id_of
from picbucket.domain import utcnow
from picbucket.ports import Backends
from picbucket.services.reconcile import reconcile


class Failing:
    """Proxy an adapter; raise ``OSError`` on chosen calls of one method."""

    def __init__(self, inner: Any, method: str, fail_on: set[int]) -> None:
        self._inner = inner
        self._method = method
        self._fail_on = fail_on
        self.calls = 0

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._inner, name)
        if name != self._method:
            return attr

        def wrapped(*args: Any, **kwargs: Any) -> Any:
            self.calls += 1
            if self.calls in self._fail_on:
                raise OSError(f"injected failure in {name} call {self.calls}")
            return attr(*args, **kwargs)

        return wrapped


def _assert_clean(backends: Backends, owner: str) -> None:
    assert stored_blob_keys(backends) == []
    assert backends.images.page(owner, None, 10).items == []
    assert backends.images.usage(owner).images == 0
    assert backends.images.usage(owner).bytes == 0


def test_blob_store_failing_mid_upload(alice: FlaskClient, app: Flask, backends: Backends) -> None:
    real = backends.blobs
    backends.blobs = Failing(real, "put", {2})  # the original lands, the thumbnail fails
    response = upload(alice, imagefiles.jpeg(), "x.jpg")
    assert response.status_code == 503
    assert "nothing was saved" in json_of(response)["error"]["message"]
    backends.blobs = real
    _assert_clean(backends, user_id_of(alice))
    # The app still works afterwards.
    assert upload(alice, imagefiles.jpeg(), "y.jpg").status_code == 201


def test_record_store_failing_after_the_blobs(alice: FlaskClient, backends: Backends) -> None:
    real = backends.images
    backends.images = Failing(real, "set_status", {1})  # pending → ready fails
    response = upload(alice, imagefiles.jpeg(), "x.jpg")
    assert response.status_code == 503
    backends.images = real
    _assert_clean(backends, user_id_of(alice))


def test_crash_with_failed_cleanup_is_finished_by_reconcile(
    alice: FlaskClient, backends: Backends
) -> None:
    real_images, real_blobs = backends.images, backends.blobs
    # Marking ready fails, and so does every cleanup delete: a crash's leftovers.
    backends.images = Failing(real_images, "set_status", {1})
    backends.blobs = Failing(real_blobs, "delete", {1, 2, 3})
    response = upload(alice, imagefiles.jpeg(), "x.jpg")
    assert response.status_code == 503
    backends.images, backends.blobs = real_images, real_blobs
    owner = user_id_of(alice)
    assert stored_blob_keys(backends), "the crash left blobs behind"
    assert list(backends.images.unfinished(utcnow() + timedelta(hours=2)))
    # Invisible to the user meanwhile: never listed, never served.
    assert json_of(alice.get("/api/v1/images"))["items"] == []

    report = reconcile(
        backends, dry_run=False, grace=timedelta(hours=1), now=utcnow() + timedelta(hours=2)
    )
    assert report is not None
    _assert_clean(backends, owner)


@pytest.mark.parametrize("fail_on", [{1}, {2}, {3}])
def test_delete_failing_part_way_is_finished_by_reconcile(
    alice: FlaskClient, backends: Backends, fail_on: set[int]
) -> None:
    """Emptying the trash while blob deletes fail: gone for the user, tidied by reconcile."""
    from conftest import csrf_token

    image = upload(alice, imagefiles.jpeg(), "x.jpg").json
    csrf = {"X-CSRFToken": csrf_token(alice)}
    # DELETE moves the photo to the trash: nothing is removed yet.
    assert alice.delete(f"/api/v1/images/{image['id']}", headers=csrf).status_code == 204
    assert len(stored_blob_keys(backends)) >= 2
    real = backends.blobs
    backends.blobs = Failing(real, "delete", fail_on)
    response = alice.post("/api/v1/trash/empty", headers=csrf)
    backends.blobs = real
    # The delete took effect for the user (a failed one is finished by reconcile)…
    assert response.status_code == 200, response.json
    assert alice.get(f"/api/v1/images/{image['id']}").status_code == 404
    assert json_of(alice.get("/api/v1/trash"))["items"] == []
    # …and reconcile removes every trace, giving the quota back.
    report = reconcile(
        backends, dry_run=False, grace=timedelta(hours=1), now=utcnow() + timedelta(hours=2)
    )
    assert report.errors == []
    _assert_clean(backends, user_id_of(alice))
