"""Exports built by a job (services.exports), on SQLite + local disk and Firestore + GCS.

``Later`` stands in for the runner: it only notes what it was asked to start, and the
test then runs ``build_export`` itself, exactly as ``picbucket exports build`` does in
the job (the thread and Cloud Run runners are tested in test_export_runners.py).
"""

from __future__ import annotations

import io
import json
import shutil
import threading
import zipfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

import imagefiles
from picbucket.domain import (
    Export,
    ExportStatus,
    ImageStatus,
    NotFound,
    export_key,
    new_id,
    user_id_for,
)
from picbucket.ports import Backends, ExportRepository
from picbucket.services import exports
from picbucket.services.account_deletion import start_account_deletion
from picbucket.services.account_export import export_name
from picbucket.services.exports import (
    INTERRUPTED,
    ExportPolicy,
    build_export,
    current_export,
    export_download,
    needs_job,
    purge_expired_exports,
    remove_exports_of,
    request_export,
)
from picbucket.services.reconcile import reconcile
from picbucket.services.uploads import store_image
from picbucket.settings import Settings
from picbucket.wiring import build_backends
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


def test_progress_is_saved_in_batches_not_per_photo(
    backends: Backends, settings: Settings, job: Later, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(exports, "PROGRESS_PHOTOS", 2)
    monkeypatch.setattr(exports, "PROGRESS_SECONDS", 3600.0)  # only the count triggers
    monkeypatch.setattr(exports, "PROGRESS_MIN_SECONDS", 0.0)
    alice = make_user(backends, "alice").id
    photos(backends, settings, alice, 5)
    asked = request_export(backends, POLICY, alice)
    seen = SavesSeen(backends.exports)

    done = build_export(replace(backends, exports=seen), POLICY, alice, asked.id)

    assert done.status is ExportStatus.READY
    running, ready = ExportStatus.RUNNING, ExportStatus.READY
    assert seen.saves == [(running, 0), (running, 2), (running, 4), (ready, 5)]


def test_a_failure_mid_way_is_saved_failed_and_leaves_no_zip(
    backends: Backends, settings: Settings, job: Later
) -> None:
    alice = make_user(backends, "alice").id
    uploaded = photos(backends, settings, alice, 3)
    # The bytes of the oldest photo (written last) are gone: the zip fails part-way.
    oldest = backends.images.page(alice, None, 10, "uploaded").items[-1]
    backends.blobs.delete(oldest.original.key)
    asked = request_export(backends, POLICY, alice)

    failed = build_export(backends, POLICY, alice, asked.id)

    assert failed.status is ExportStatus.FAILED
    assert failed.error == "A photo was deleted while the export was being written. Try again."
    assert failed.photos_done < len(uploaded)
    assert current_export(backends, alice) == failed
    assert exports_stored(backends, alice) == []
    assert list(backends.blobs.scan_partial()) == []
    with pytest.raises(NotFound):
        export_download(backends, alice, asked.id)
    # "Try again" starts a new one.
    retry = request_export(backends, POLICY, alice)
    assert retry.id != asked.id
    assert job.started == [(alice, asked.id), (alice, retry.id)]


def test_building_again_is_safe(backends: Backends, settings: Settings, job: Later) -> None:
    alice = make_user(backends, "alice").id
    photos(backends, settings, alice, 2)
    asked = request_export(backends, POLICY, alice)
    # A run that died after writing part of a zip (put_stream is create-only).
    backends.blobs.put(
        export_key(alice, asked.id), io.BytesIO(b"half a zip"), content_type="application/zip"
    )

    done = build_export(backends, POLICY, alice, asked.id)
    again = build_export(backends, POLICY, alice, asked.id)

    assert done.status is ExportStatus.READY
    assert again == done  # a ready export is left alone
    with read(backends, alice, asked.id) as archive:
        assert len(archive.namelist()) == 3
        assert archive.testzip() is None


def test_a_stalled_export_reads_as_interrupted_and_may_be_replaced(
    backends: Backends, job: Later
) -> None:
    alice = make_user(backends, "alice").id
    asked = request_export(backends, POLICY, alice)
    started = replace(asked, status=ExportStatus.RUNNING, photos_total=10, photos_done=3)
    assert backends.exports.save(started)  # the job started, then its machine went away
    real_clock = backends.clock
    assert current_export(backends, alice) == started

    backends.clock = lambda: real_clock() + exports.STALLED_AFTER + timedelta(seconds=1)
    shown = current_export(backends, alice)
    retry = request_export(backends, POLICY, alice)

    assert shown is not None
    assert (shown.id, shown.status, shown.error) == (asked.id, ExportStatus.FAILED, INTERRUPTED)
    assert backends.exports.get(alice, asked.id) == started  # shown so, not saved so
    assert retry.id != asked.id and retry.status is ExportStatus.PENDING
    assert job.started == [(alice, asked.id), (alice, retry.id)]


def test_another_owners_export_is_not_found(
    backends: Backends, settings: Settings, job: Later
) -> None:
    alice = make_user(backends, "alice").id
    bob = make_user(backends, "bob").id
    photos(backends, settings, alice, 1)
    asked = request_export(backends, POLICY, alice)
    with pytest.raises(NotFound):
        export_download(backends, alice, asked.id)  # not ready yet
    build_export(backends, POLICY, alice, asked.id)

    with pytest.raises(NotFound):
        export_download(backends, bob, asked.id)
    with pytest.raises(NotFound):
        build_export(backends, POLICY, bob, asked.id)
    with pytest.raises(NotFound):
        build_export(backends, POLICY, alice, "no-such-export")
    assert current_export(backends, bob) is None
    assert remove_exports_of(backends, bob) == 0
    assert exports_stored(backends, alice) == [export_key(alice, asked.id)]


def test_expired_exports_are_purged_zip_and_record(
    backends: Backends, settings: Settings, job: Later
) -> None:
    alice = make_user(backends, "alice").id
    bob = make_user(backends, "bob").id
    photos(backends, settings, alice, 1)
    ready = build_export(backends, POLICY, alice, request_export(backends, POLICY, alice).id)
    never_built = request_export(backends, POLICY, bob)  # pending, its job never ran
    real_clock = backends.clock

    backends.clock = lambda: real_clock() + timedelta(days=2)
    assert purge_expired_exports(backends) == 1  # bob's: a day after it was asked for
    assert backends.exports.for_owner(bob) == []
    assert backends.exports.get(alice, ready.id) == ready

    backends.clock = lambda: real_clock() + timedelta(days=8)
    with pytest.raises(NotFound):
        export_download(backends, alice, ready.id)
    report = reconcile(backends, dry_run=False)

    assert report.expired_exports == 1
    assert "expired exports removed: 1" in report.summary()
    assert backends.exports.for_owner(alice) == []
    assert exports_stored(backends, alice) == []
    assert never_built.status is ExportStatus.PENDING


def test_account_deletion_removes_the_exports(
    backends: Backends, settings: Settings, job: Later
) -> None:
    alice = make_user(backends, "alice")
    photos(backends, settings, alice.id, 1)
    first = build_export(backends, POLICY, alice.id, request_export(backends, POLICY, alice.id).id)
    second = request_export(backends, POLICY, alice.id)  # after the first, still pending
    assert second.id != first.id and exports_stored(backends, alice.id)

    start_account_deletion(backends, alice, background=False)

    assert backends.exports.for_owner(alice.id) == []
    assert exports_stored(backends, alice.id) == []
    with pytest.raises(NotFound):
        build_export(backends, POLICY, alice.id, second.id)


def test_a_previous_release_database_gains_exports(tmp_path: Path) -> None:
    """The previous release's SQLite file (tests/fixtures, see test_migrations.py) is
    migrated at start and its owner's photos export like any others."""
    shutil.copyfile(
        Path(__file__).parent / "fixtures" / "previous-release.sqlite3",
        tmp_path / "picbucket.sqlite3",
    )
    old = build_backends(Settings(data_dir=tmp_path))
    try:
        alice = user_id_for("https://idp.example", "alice")
        old.export_runner = Later()
        stored = old.images.page(alice, None, 10).items
        assert len(stored) == 2
        for image in stored:  # the fixture holds records only: give them their bytes
            old.blobs.put(
                image.original.key, io.BytesIO(image.id.encode()), content_type="image/jpeg"
            )

        done = build_export(old, POLICY, alice, request_export(old, POLICY, alice).id)

        assert (done.status, done.photos_done) == (ExportStatus.READY, 2)
        assert old.exports.for_owner(alice) == [done]
        with read(old, alice, done.id) as archive:
            for image in stored:
                assert archive.read(export_name(image)) == image.id.encode()
    finally:
        old.close()


class FinishedMeanwhile:
    """Blob store whose first streamed write lets another run of the export finish first.

    Two runs of one export (a retry racing one thought lost): the other run's zip lands
    while this one is about to write, so this one's create-only write is refused.
    """

    def __init__(self, backends: Backends, owner_id: str, export_id: str) -> None:
        self._backends = backends
        self._other_run = (owner_id, export_id)
        self._raced = False

    def __getattr__(self, name: str) -> Any:
        return getattr(self._backends.blobs, name)

    def put_stream(self, key: str, chunks: Any, **options: Any) -> Any:
        if not self._raced:
            self._raced = True
            owner_id, export_id = self._other_run
            assert build_export(self._backends, POLICY, owner_id, export_id).status is (
                ExportStatus.READY
            )
        return self._backends.blobs.put_stream(key, chunks, **options)


def test_a_second_run_of_one_export_never_loses_the_first_runs_zip(
    backends: Backends, settings: Settings, job: Later
) -> None:
    alice = make_user(backends, "alice").id
    uploaded = photos(backends, settings, alice, 2)
    asked = request_export(backends, POLICY, alice)
    racing = replace(backends, blobs=FinishedMeanwhile(backends, alice, asked.id))

    second = build_export(racing, POLICY, alice, asked.id)

    assert second.status is ExportStatus.READY  # not FAILED over the first run's result
    assert exports_stored(backends, alice) == [export_key(alice, asked.id)]
    with read(backends, alice, asked.id) as archive:
        assert len(archive.namelist()) == len(uploaded) + 1  # photos and the manifest


def test_a_new_ready_export_replaces_the_older_ones(
    backends: Backends, settings: Settings, job: Later
) -> None:
    alice = make_user(backends, "alice").id
    photos(backends, settings, alice, 1)
    first = request_export(backends, POLICY, alice)
    build_export(backends, POLICY, alice, first.id)
    second = request_export(backends, POLICY, alice)
    assert second.id != first.id
    build_export(backends, POLICY, alice, second.id)

    assert exports_stored(backends, alice) == [export_key(alice, second.id)]
    assert [export.id for export in backends.exports.for_owner(alice)] == [second.id]
    with pytest.raises(NotFound):
        export_download(backends, alice, first.id)


@pytest.mark.parametrize("made_up", ["../x", "a/b", "__x__", "x" * 2000, ""])
def test_an_id_that_is_not_an_id_is_not_found_without_a_lookup(
    backends: Backends, job: Later, made_up: str
) -> None:
    alice = make_user(backends, "alice").id
    with pytest.raises(NotFound):
        build_export(backends, POLICY, alice, made_up)
    with pytest.raises(NotFound):
        export_download(backends, alice, made_up)
    assert exports.find_export(backends, alice, made_up) is None


def test_a_double_click_starts_one_build(
    backends: Backends, settings: Settings, job: Later
) -> None:
    """Eight requests at once for one person (double clicks, tabs): one export, one start."""
    alice = make_user(backends, "alice").id
    photos(backends, settings, alice, 1)
    gate = threading.Barrier(8)

    def ask() -> str:
        gate.wait()
        return request_export(backends, POLICY, alice).id

    with ThreadPoolExecutor(8) as pool:
        ids = set(pool.map(lambda _: ask(), range(8)))

    assert len(ids) == 1
    assert job.started == [(alice, ids.pop())]
    assert len(backends.exports.for_owner(alice)) == 1


def test_an_older_build_finishing_last_keeps_the_newer_zip(
    backends: Backends, settings: Settings, job: Later
) -> None:
    """A stalled build comes back after its replacement finished: both zips stay."""
    alice = make_user(backends, "alice").id
    photos(backends, settings, alice, 1)
    long_ago = backends.clock() - timedelta(minutes=30)
    stalled = Export(
        id=new_id(),
        owner_id=alice,
        status=ExportStatus.RUNNING,
        created=long_ago,
        updated=long_ago,
        expires=long_ago + timedelta(days=1),
    )
    backends.exports.add(stalled)
    newer = request_export(backends, POLICY, alice)
    assert build_export(backends, POLICY, alice, newer.id).status is ExportStatus.READY

    assert build_export(backends, POLICY, alice, stalled.id).status is ExportStatus.READY

    assert sorted(exports_stored(backends, alice)) == sorted(
        [export_key(alice, stalled.id), export_key(alice, newer.id)]
    )
    with read(backends, alice, newer.id) as archive:
        assert "manifest.json" in archive.namelist()


def test_a_failed_export_is_not_built_behind_its_owner(
    backends: Backends, settings: Settings, job: Later
) -> None:
    """Told it failed (with Try again), the owner decides; a late job start builds nothing."""
    alice = make_user(backends, "alice").id
    photos(backends, settings, alice, 1)
    asked = request_export(backends, POLICY, alice)
    failed = replace(asked, status=ExportStatus.FAILED, error="The export could not be started.")
    assert backends.exports.save(failed)

    assert build_export(backends, POLICY, alice, asked.id) == failed
    assert exports_stored(backends, alice) == []


def test_a_slower_second_run_never_turns_a_ready_export_back(
    backends: Backends, settings: Settings, job: Later, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Its progress saves are refused once the first run made the export READY."""
    monkeypatch.setattr(exports, "PROGRESS_SECONDS", 0.0)  # save at every chunk
    monkeypatch.setattr(exports, "PROGRESS_MIN_SECONDS", 0.0)
    alice = make_user(backends, "alice").id
    photos(backends, settings, alice, 3)
    asked = request_export(backends, POLICY, alice)
    racing = replace(backends, blobs=FinishedMeanwhile(backends, alice, asked.id))

    second = build_export(racing, POLICY, alice, asked.id)

    assert second.status is ExportStatus.READY
    assert backends.exports.get(alice, asked.id) == second
    assert exports_stored(backends, alice) == [export_key(alice, asked.id)]
