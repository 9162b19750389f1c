"""Reconcile against real backends: local disk + SQLite, and GCS + Firestore emulators.

Blob ages come from the store (mtime, or Cloud Storage's ``updated``), which a test
cannot set on the emulator; so tests move reconcile's clock (``now``) instead.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
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
    user_id_for,
)
from picbucket.ports import Backends
from picbucket.services.reconcile import reconcile
from picbucket.settings import Settings
from picbucket.wiring import build_backends

BIG = Quota(max_bytes=10**12, max_images=10**6)
GRACE = timedelta(hours=1)


@pytest.fixture(params=["local", pytest.param("gcp", marks=pytest.mark.gcp)])
def settings(request: pytest.FixtureRequest, tmp_path: Path) -> Settings:
    """Return settings for local + SQLite, or GCS + Firestore on the emulators."""
    overrides: dict[str, Any] = {}
    if request.param == "gcp":
        overrides = request.getfixturevalue("gcp_settings")
    return Settings(data_dir=tmp_path, **overrides)


@pytest.fixture
def backends(settings: Settings) -> Iterator[Backends]:
    """Build the backends exactly as the app does (wiring.py)."""
    built = build_backends(settings)
    try:
        yield built
    finally:
        built.close()


def make_user(backends: Backends, subject: str) -> User:
    return backends.users.upsert(
        User(
            id=user_id_for("https://idp.example", subject),
            issuer="https://idp.example",
            subject=subject,
            email=f"{subject}@example.com",
            name=subject,
            created=datetime.now(UTC),
        )
    )


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
