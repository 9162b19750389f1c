"""Reconcile against real backends: local disk + SQLite, and GCS + Firestore emulators.

Blob ages come from the store (mtime, or Cloud Storage's ``updated``), which a test
cannot set on the emulator; so tests move reconcile's clock (``now``) instead.
"""

from __future__ import annotations

import io
import os
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from picbucket.domain import (
    Image,
    ImageStatus,
    Quota,
    Share,
    Usage,
    User,
    Variant,
    hash_secret,
    new_id,
)
from picbucket.ports import Backends
from picbucket.services.reconcile import Guards, reconcile
from picbucket.settings import Settings
from picbucket.wiring import build_backends
from stacks import backends, make_user, settings

__all__ = ["backends", "settings"]  # fixtures, used by name

BIG = Quota(max_bytes=10**12, max_images=10**6)
GRACE = timedelta(hours=1)


def image_record(owner: User, created: datetime, status: ImageStatus) -> Image:
    image_id = new_id()
    base = f"users/{owner.id}/{image_id}"
    return Image(
        id=image_id,
        owner_id=owner.id,
        title="t",
        width=1,
        height=1,
        original=Variant(f"{base}/original.png", "image/png", 400, "0" * 64),
        thumbnail=Variant(f"{base}/thumb.webp", "image/webp", 100, "1" * 64),
        created=created,
        status=status,
    )


def put(backends: Backends, key: str) -> None:
    backends.blobs.put(key, io.BytesIO(b"bytes of " + key.encode()), content_type="image/png")


def keys(backends: Backends) -> set[str]:
    return {b.key for b in backends.blobs.scan("users/")} | {
        b.key for b in backends.blobs.scan("incoming/")
    }


@dataclass
class Scene:
    """A store after assorted crashes, seen from reconcile's clock ``now``."""

    now: datetime
    alice: User
    ready: Image
    stale_pending: Image
    young_pending: Image
    deleting: Image
    deleting_share: Share
    orphan_keys: list[str]
    incoming_key: str


def crashed_scene(backends: Backends) -> Scene:
    """Build every leftover a crash can cause, plus things that must survive."""
    # Blobs are written now (real time); reconcile looks from two hours later.
    now = datetime.now(UTC) + timedelta(hours=2)
    alice = make_user(backends, "alice")

    ready = image_record(alice, now - timedelta(hours=5), ImageStatus.READY)
    # Crashed after the record and one blob: the user was never told "saved".
    stale_pending = image_record(alice, now - timedelta(hours=3), ImageStatus.PENDING)
    # An upload in progress right now (from reconcile's point of view).
    young_pending = image_record(alice, now - timedelta(minutes=10), ImageStatus.PENDING)
    # Crashed part-way through a delete: thumbnail already gone.
    deleting = image_record(alice, now - timedelta(hours=4), ImageStatus.DELETING)
    for image in (ready, stale_pending, young_pending, deleting):
        backends.images.add(image, BIG)
    for key in (
        ready.original.key,
        ready.thumbnail.key,
        stale_pending.original.key,
        young_pending.original.key,
        deleting.original.key,
    ):
        put(backends, key)
    share = Share(
        id=new_id(),
        owner_id=alice.id,
        image_id=deleting.id,
        token_hash=hash_secret("s_x"),
        created=now - timedelta(hours=4),
    )
    backends.shares.add(share)

    # Blobs nobody owns: the record was removed but a blob delete failed, and a
    # key not shaped like any the app writes.
    gone = new_id()
    orphan_keys = [
        f"users/{alice.id}/{gone}/original.png",
        f"users/{alice.id}/{gone}/thumb.webp",
        f"users/{alice.id}/stray.bin",
    ]
    for key in orphan_keys:
        put(backends, key)
    incoming_key = f"incoming/{alice.id}/{new_id()}"
    put(backends, incoming_key)
    return Scene(
        now, alice, ready, stale_pending, young_pending, deleting, share, orphan_keys, incoming_key
    )


def test_reconcile_removes_orphans_on_both_sides(backends: Backends) -> None:
    scene = crashed_scene(backends)
    report = reconcile(backends, dry_run=False, grace=GRACE, now=scene.now)

    alice = scene.alice.id
    assert report.stale_pending == [f"{alice}/{scene.stale_pending.id}"]
    assert report.finished_deletes == [f"{alice}/{scene.deleting.id}"]
    assert sorted(report.orphan_blobs) == sorted(scene.orphan_keys)
    assert report.abandoned_incoming == [scene.incoming_key]
    assert report.errors == []
    assert report.changed == 2 + len(scene.orphan_keys) + 1

    # What the user was told was saved, and the upload in progress, are intact.
    assert keys(backends) == {
        scene.ready.original.key,
        scene.ready.thumbnail.key,
        scene.young_pending.original.key,
    }
    assert backends.images.get(alice, scene.ready.id) == scene.ready
    assert backends.images.get(alice, scene.young_pending.id) == scene.young_pending
    assert backends.images.get(alice, scene.stale_pending.id) is None
    assert backends.images.get(alice, scene.deleting.id) is None
    assert backends.shares.by_token_hash(scene.deleting_share.token_hash) is None
    # Quota refunded for the two removed records.
    assert backends.images.usage(alice) == Usage(bytes=1000, images=2)

    # A second run finds nothing left to do.
    again = reconcile(backends, dry_run=False, grace=GRACE, now=scene.now)
    assert again.changed == 0


def test_dry_run_reports_the_same_and_changes_nothing(backends: Backends) -> None:
    scene = crashed_scene(backends)
    blobs_before = keys(backends)
    unfinished_before = {i.id for i in backends.images.unfinished(scene.now)}
    usage_before = backends.images.usage(scene.alice.id)

    dry = reconcile(backends, dry_run=True, grace=GRACE, now=scene.now)

    assert dry.dry_run
    assert keys(backends) == blobs_before
    assert {i.id for i in backends.images.unfinished(scene.now)} == unfinished_before
    assert backends.images.usage(scene.alice.id) == usage_before
    assert backends.shares.by_token_hash(scene.deleting_share.token_hash) is not None
    assert "would remove" in dry.summary()

    real = reconcile(backends, dry_run=False, grace=GRACE, now=scene.now)
    assert (dry.stale_pending, dry.finished_deletes, dry.abandoned_incoming) == (
        real.stale_pending,
        real.finished_deletes,
        real.abandoned_incoming,
    )
    assert sorted(dry.orphan_blobs) == sorted(real.orphan_blobs)


def test_young_blobs_are_left_alone(backends: Backends) -> None:
    scene = crashed_scene(backends)
    # Seen from now (real time) every blob is seconds old: maybe an upload in flight.
    report = reconcile(backends, dry_run=False, grace=GRACE, now=datetime.now(UTC))
    assert report.orphan_blobs == []
    assert report.abandoned_incoming == []
    assert set(scene.orphan_keys) | {scene.incoming_key} <= keys(backends)
    assert report.young_blobs_kept == len(keys(backends))


def test_cli_dry_run_prints_a_summary(settings: Settings) -> None:
    from picbucket import create_app
    from picbucket.cli import reconcile_command

    app = create_app(settings)
    backends: Backends = app.extensions["picbucket"]
    put(backends, f"incoming/someone/{new_id()}")
    with app.app_context():
        result = CliRunner().invoke(reconcile_command, ["--dry-run", "--grace-minutes", "1"])
    assert result.exit_code == 0, result.output
    assert "reconcile (dry run):" in result.output
    assert "recent blobs left alone (may be uploads in progress): 1" in result.output
    assert len(keys(backends)) == 1


class Crash(BaseException):
    """The process dies here: nothing after this line runs, not even cleanup."""


class CrashingBlobs:
    """Wrap a real blob store; die on the n-th put, and let no delete through."""

    def __init__(self, inner: Any, crash_on_put: int) -> None:
        self.inner = inner
        self.puts = 0
        self.crash_on_put = crash_on_put

    def put(self, key: str, data: Any, **kw: Any) -> Any:
        self.puts += 1
        if self.puts == self.crash_on_put:
            self.inner.put(key, data, **kw)  # the bytes land, then the process dies
            raise Crash
        return self.inner.put(key, data, **kw)

    def delete(self, key: str) -> None:
        raise Crash  # a dead process cleans nothing up

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


@pytest.mark.parametrize("crash_on_put", [1, 2])
def test_crash_mid_upload_then_reconcile_leaves_nothing_behind(
    backends: Backends, settings: Settings, crash_on_put: int
) -> None:
    """Fault injection around the real blob store: a crash between upload steps."""
    from dataclasses import replace as dc_replace

    import imagefiles
    from picbucket.services.uploads import store_image

    alice = make_user(backends, "alice")
    crashing = dc_replace(backends, blobs=CrashingBlobs(backends.blobs, crash_on_put))
    with pytest.raises(Crash):
        store_image(crashing, settings, alice.id, io.BytesIO(imagefiles.png()), "a.png")
    # The crash left a pending record (never shown, never "saved") and some bytes.
    assert backends.images.page(alice.id, None, 10).items == []
    assert len(keys(backends)) == crash_on_put
    assert backends.images.usage(alice.id).images == 1

    later = datetime.now(UTC) + timedelta(hours=2)
    report = reconcile(backends, dry_run=False, grace=GRACE, now=later)
    assert len(report.stale_pending) == 1
    assert keys(backends) == set()
    assert list(backends.images.unfinished(later)) == []
    assert backends.images.usage(alice.id) == Usage()


# --- Temp files of killed uploads -------------------------------------------------

# The child writes through the real LocalBlobStore.put from a body that never ends,
# says so once a few MiB are on disk, and is then killed with SIGKILL: no cleanup runs.
_KILLED_WRITER = """
import io, sys, time
from pathlib import Path
from picbucket.adapters.local_blobs import LocalBlobStore

class EndlessBody(io.RawIOBase):
    sent = 0
    def readable(self):
        return True
    def read(self, size=-1):
        if self.sent >= 3 * 1024 * 1024:
            print("writing", flush=True)
            time.sleep(3600)
        self.sent += 1024 * 1024
        return b"x" * (1024 * 1024)

LocalBlobStore(Path(sys.argv[1])).put(sys.argv[2], EndlessBody(), content_type="image/png")
"""


def kill_mid_upload(root: Path, key: str) -> None:
    """Start a real upload in another process and SIGKILL it half-way."""
    import os
    import signal
    import subprocess
    import sys

    import picbucket

    env = {**os.environ, "PYTHONPATH": str(Path(picbucket.__file__).parents[1])}
    child = subprocess.Popen(
        [sys.executable, "-c", _KILLED_WRITER, str(root), key],
        stdout=subprocess.PIPE,
        env=env,
    )
    try:
        assert child.stdout is not None
        assert child.stdout.readline() == b"writing\n"
        os.kill(child.pid, signal.SIGKILL)
    finally:
        child.kill()
        child.wait(timeout=10)
    assert child.returncode == -signal.SIGKILL


def test_temp_file_of_a_killed_upload_is_removed_after_the_grace_period(tmp_path: Path) -> None:
    backends = build_backends(Settings(data_dir=tmp_path))
    try:
        root = tmp_path / "blobs"
        kill_mid_upload(root, f"users/u1/{new_id()}/original.png")
        (leftover,) = root.rglob(".upload-*")
        size = leftover.stat().st_size
        assert size >= 3 * 1024 * 1024
        assert keys(backends) == set()  # never a blob: the rename did not happen

        # Within the grace period it may be an upload still writing: left alone.
        soon = reconcile(backends, dry_run=False, grace=GRACE, now=datetime.now(UTC))
        assert soon.stale_temp_files == []
        assert soon.young_temp_files_kept == 1
        assert leftover.exists()

        later = datetime.now(UTC) + timedelta(hours=2)
        dry = reconcile(backends, dry_run=True, grace=GRACE, now=later)
        assert dry.stale_temp_files == [leftover.relative_to(root).as_posix()]
        assert leftover.exists()

        report = reconcile(backends, dry_run=False, grace=GRACE, now=later)
        assert report.stale_temp_files == [leftover.relative_to(root).as_posix()]
        assert report.stale_temp_bytes == size
        assert f"temp files of killed uploads removed: 1 ({size:,} bytes)" in report.summary()
        assert not leftover.exists()
        assert list(root.iterdir()) == []  # its empty directories went too
        assert reconcile(backends, dry_run=False, grace=GRACE, now=later).changed == 0
    finally:
        backends.close()


def test_delete_partial_refuses_anything_but_a_temp_file(tmp_path: Path) -> None:
    from picbucket.adapters.local_blobs import LocalBlobStore

    store = LocalBlobStore(tmp_path / "blobs")
    key = f"users/u1/{new_id()}/original.png"
    store.put(key, io.BytesIO(b"saved"), content_type="image/png")
    outside = tmp_path / ".upload-outside"
    outside.write_bytes(b"not the store's")
    for bad in (key, "../.upload-outside", str(outside)):
        with pytest.raises(ValueError, match="not a temp file"):
            store.delete_partial(bad)
    assert outside.exists()
    assert [b.key for b in store.scan("users/")] == [key]


# --- Guards ------------------------------------------------------------------------


def ready_images(backends: Backends, owner: User, count: int, created: datetime) -> None:
    """Store ``count`` saved images (record + two blobs each)."""
    for _ in range(count):
        image = image_record(owner, created, ImageStatus.READY)
        backends.images.add(image, BIG)
        put(backends, image.original.key)
        put(backends, image.thumbnail.key)


def orphans(backends: Backends, owner: User, count: int) -> set[str]:
    """Store ``count`` blobs shaped like image blobs that have no record."""
    made = {f"users/{owner.id}/{new_id()}/original.png" for _ in range(count)}
    for key in made:
        put(backends, key)
    return made


def test_no_record_for_any_blob_deletes_nothing(backends: Backends) -> None:
    """The incident: the record store came back empty and every blob looked orphaned."""
    alice = make_user(backends, "alice")
    # Few enough that the share guard alone would let them go (limit: 5 blobs).
    lost = orphans(backends, alice, 4)
    later = datetime.now(UTC) + timedelta(hours=2)

    report = reconcile(backends, dry_run=False, grace=GRACE, now=later)

    assert keys(backends) == lost
    assert len(report.refused) == 1
    assert "looks empty or is the wrong database" in report.refused[0]
    assert "blob deletions REFUSED" in report.summary()

    forced = reconcile(backends, dry_run=False, grace=GRACE, now=later, guards=Guards(force=True))
    assert forced.refused == []
    assert sorted(forced.orphan_blobs) == sorted(lost)
    assert keys(backends) == set()


def test_deleting_more_than_the_share_is_refused_unless_forced(backends: Backends) -> None:
    """A refusal keeps the blobs; records, accounts and the trash are still tidied."""
    from picbucket.domain import AccountChange

    alice = make_user(backends, "alice")
    now = datetime.now(UTC) + timedelta(hours=2)
    ready_images(backends, alice, 10, now - timedelta(hours=5))
    stale = image_record(alice, now - timedelta(hours=3), ImageStatus.PENDING)
    backends.images.add(stale, BIG)
    # A photo trashed 40 days ago (past the 30-day trash period), blob-less like ``stale``.
    expired = image_record(alice, now - timedelta(days=41), ImageStatus.READY)
    backends.images.add(expired, BIG)
    backends.images.move_many(
        alice.id, [expired.id], ImageStatus.READY, ImageStatus.TRASHED, now - timedelta(days=40)
    )
    # Bob asked to leave; his removal was interrupted before it began.
    bob = make_user(backends, "bob")
    backends.users.change_account(bob.id, AccountChange(deleting=True), None)
    lost = orphans(backends, alice, 8)  # 8 of 28 blobs: 29 %, over 10 % (limit 5)
    before = keys(backends)

    refused = reconcile(backends, dry_run=False, grace=GRACE, now=now, trash_days=30)
    assert refused.refused == [
        "it would delete 8 of 28 blobs (29%), more than the 10% limit (5 blobs)"
    ]
    # No blob goes…
    assert keys(backends) == before
    assert refused.orphan_blobs == []
    # …but Bob's account, the stale upload and the expired trash do.
    assert refused.deleted_accounts == [bob.id]
    assert backends.users.get(bob.id) is None
    assert backends.images.get(alice.id, stale.id) is None
    assert backends.images.get(alice.id, expired.id) is None
    assert refused.errors == []
    assert "blob deletions REFUSED" in refused.summary()

    wider = reconcile(backends, dry_run=True, grace=GRACE, now=now, guards=Guards(0.5))
    assert wider.refused == []

    forced = reconcile(backends, dry_run=False, grace=GRACE, now=now, guards=Guards(force=True))
    assert forced.refused == []
    assert keys(backends) == before - lost


def test_a_normal_small_cleanup_proceeds(backends: Backends) -> None:
    alice = make_user(backends, "alice")
    now = datetime.now(UTC) + timedelta(hours=2)
    ready_images(backends, alice, 60, now - timedelta(hours=5))
    lost = orphans(backends, alice, 8)  # 8 of 128 blobs: 6 %, within 10 % (limit 12)
    before = keys(backends)

    report = reconcile(backends, dry_run=False, grace=GRACE, now=now)

    assert report.refused == []
    assert sorted(report.orphan_blobs) == sorted(lost)
    assert keys(backends) == before - lost


# --- The command line, through the console script's entry point -------------------


def run_cli(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    """Run ``picbucket ARGV`` in-process; return its exit code and output."""
    from picbucket.cli import main

    with pytest.raises(SystemExit) as exited:
        main(argv)
    captured = capsys.readouterr()
    code = exited.value.code
    return (
        code if isinstance(code, int) else 0 if code is None else 1
    ), captured.out + captured.err


@pytest.fixture
def cli_store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Point the console script at a local data directory; return its blob root."""
    for name in list(os.environ):
        if name.startswith("PICBUCKET_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("PICBUCKET_DATA_DIR", str(tmp_path))
    return tmp_path / "blobs"


def age(root: Path, hours: float) -> None:
    """Make every file under ``root`` look ``hours`` old (local blob ages are mtimes)."""
    then = time.time() - hours * 3600
    for path in root.rglob("*"):
        if path.is_file():
            os.utime(path, (then, then))


def test_cli_against_an_empty_record_store_deletes_nothing_and_exits_3(
    cli_store: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from picbucket.adapters.local_blobs import LocalBlobStore

    store = LocalBlobStore(cli_store)
    for _ in range(20):
        key = f"users/u1/{new_id()}/original.png"
        store.put(key, io.BytesIO(b"a photo"), content_type="image/png")
    age(cli_store, hours=3)
    before = {b.key for b in store.scan("users/")}

    code, out = run_cli(["reconcile"], capsys)
    assert code == 3, out
    # The plan comes first, then why it was refused.
    assert out.index("orphan blobs to remove: 20") < out.index("REFUSED: the record store")
    assert "blob deletions REFUSED" in out
    assert {b.key for b in store.scan("users/")} == before

    code, out = run_cli(["reconcile", "--dry-run"], capsys)
    assert code == 3, out

    code, out = run_cli(["reconcile", "--force"], capsys)
    assert code == 0, out
    assert "orphan blobs removed: 20" in out
    assert list(store.scan("users/")) == []


def test_cli_grace_zero_needs_force(cli_store: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from picbucket.adapters.local_blobs import LocalBlobStore

    store = LocalBlobStore(cli_store)
    key = f"incoming/u1/{new_id()}"
    store.put(key, io.BytesIO(b"abandoned"), content_type="image/png")

    code, out = run_cli(["reconcile", "--grace-minutes", "0"], capsys)
    assert code == 2
    assert "--grace-minutes 0 can remove uploads in progress; add --force" in out
    assert [b.key for b in store.scan("incoming/")] == [key]

    code, out = run_cli(["reconcile", "--grace-minutes", "0", "--force"], capsys)
    assert code == 0, out
    assert "abandoned direct uploads removed: 1" in out
    assert list(store.scan("incoming/")) == []
