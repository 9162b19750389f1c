"""Exports built by a job (services.exports), on SQLite + local disk and Firestore + GCS.

``Later`` stands in for the runner: it only notes what it was asked to start, and the
test then runs ``build_export`` itself, exactly as ``picbucket exports build`` does in
the job (the thread and Cloud Run runners are tested in test_export_runners.py).
"""

from __future__ import annotations

import io
import json
import zipfile
from dataclasses import replace
from datetime import timedelta
from typing import Any

import pytest

import imagefiles
from picbucket.domain import Export, ExportStatus, ImageStatus
from picbucket.ports import Backends, ExportRepository
from picbucket.services.account_export import export_name
from picbucket.services.exports import (
    ExportPolicy,
    build_export,
    current_export,
    export_download,
    needs_job,
    request_export,
)
from picbucket.services.uploads import store_image
from picbucket.settings import Settings
from stacks import backends, make_user, settings

__all__ = ["backends", "settings"]  # fixtures, used by name
POLICY = ExportPolicy(mode="job", stream_max_bytes=0, keep=timedelta(days=7))


class Later:
    """The runner's place: notes each start; the test builds the export as the job would."""

    def __init__(self) -> None:
        self.started: list[tuple[str, str]] = []

    def start(self, owner_id: str, export_id: str) -> None:
        self.started.append((owner_id, export_id))


class SavesSeen:
    """The real export repository, noting each progress save (to count record writes)."""

    def __init__(self, inner: ExportRepository) -> None:
        self._inner = inner
        self.saves: list[tuple[ExportStatus, int]] = []

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    def save(self, export: Export) -> bool:
        self.saves.append((export.status, export.photos_done))
        return self._inner.save(export)


def photos(backends: Backends, settings: Settings, owner_id: str, count: int) -> dict[str, bytes]:
    """Store ``count`` photos; return each image id's uploaded bytes."""
    uploaded = {}
    for seed in range(count):
        data = imagefiles.noise_png((24, 16), seed=seed + 1)
        image = store_image(backends, settings, owner_id, io.BytesIO(data), f"photo {seed}.png")
        uploaded[image.id] = data
    return uploaded


def read(backends: Backends, owner_id: str, export_id: str) -> zipfile.ZipFile:
    """Download the export as its owner would; return it opened as a zip."""
    download = export_download(backends, owner_id, export_id)
    assert download.url is None and download.stream is not None  # neither store signs here
    data = download.stream.read()
    download.stream.close()
    assert len(data) == download.size
    return zipfile.ZipFile(io.BytesIO(data))


def exports_stored(backends: Backends, owner_id: str) -> list[str]:
    return [blob.key for blob in backends.blobs.scan(f"exports/{owner_id}/")]


@pytest.fixture
def job(backends: Backends) -> Later:
    """Job mode: exports are started by a runner (``Later``)."""
    runner = Later()
    backends.export_runner = runner
    return runner


def test_a_built_export_holds_every_original_and_the_manifest(
    backends: Backends, settings: Settings, job: Later
) -> None:
    alice = make_user(backends, "alice").id
    uploaded = photos(backends, settings, alice, 3)
    trashed = next(iter(uploaded))
    backends.images.move_many(
        alice, [trashed], ImageStatus.READY, ImageStatus.TRASHED, backends.clock()
    )
    assert needs_job(backends, POLICY, alice)
    assert not needs_job(backends, replace(POLICY, mode="stream"), alice)
    assert not needs_job(backends, replace(POLICY, stream_max_bytes=10**9), alice)

    asked = request_export(backends, POLICY, alice)
    again = request_export(backends, POLICY, alice)

    assert asked.status is ExportStatus.PENDING
    assert again == asked  # a second click while it waits starts nothing new
    assert job.started == [(alice, asked.id)]
    assert current_export(backends, alice) == asked

    done = build_export(backends, POLICY, alice, asked.id)

    assert done.status is ExportStatus.READY
    assert (done.photos_done, done.photos_total) == (2, 2)  # the trash is not exported
    assert done.expires == done.updated + timedelta(days=7)
    assert current_export(backends, alice) == done
    with read(backends, alice, asked.id) as archive:
        manifest = json.loads(archive.read("manifest.json"))
        images = {image.id: image for image in backends.images.page(alice, None, 10).items}
        names = [export_name(images[photo["id"]]) for photo in manifest["photos"]]
        assert archive.namelist() == [*names, "manifest.json"]
        assert sorted(p["id"] for p in manifest["photos"]) == sorted(set(uploaded) - {trashed})
        for entry in manifest["photos"]:
            assert archive.read(entry["file"]) == uploaded[entry["id"]]  # byte-identical
    download = export_download(backends, alice, asked.id)
    assert download.filename == f"picbucket-export-{asked.created:%Y-%m-%d}.zip"
    assert download.stream is not None
    download.stream.close()
