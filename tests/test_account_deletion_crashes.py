"""Account deletion survives a crash at every step: reconcile finishes it.

For each step k of a deletion (every call it makes to a blob store or a record
repository), the k-th call raises; then ``reconcile`` runs on the real backends.
Afterwards nothing of the account remains, and nobody else's photos, links, tokens,
albums or quota changed. Runs on local disk + SQLite and on GCS + Firestore emulators.
"""

from __future__ import annotations

import io
from dataclasses import dataclass, replace
from datetime import timedelta
from typing import Any, cast

import pytest

import imagefiles
from picbucket.domain import (
    AccountChange,
    Album,
    Export,
    ExportStatus,
    ImageStatus,
    Share,
    User,
    hash_secret,
    new_id,
    user_id_for,
)
from picbucket.ports import Backends
from picbucket.services.account_deletion import finish_account_deletion
from picbucket.services.exports import ExportPolicy, build_export
from picbucket.services.links import LinkOptions, create_link
from picbucket.services.reconcile import reconcile
from picbucket.services.tokens import create_token
from picbucket.services.uploads import store_image
from picbucket.settings import Settings
from stacks import backends, settings

__all__ = ["backends", "settings"]  # fixtures, used by name
FAULTY = ("blobs", "users", "images", "shares", "tokens", "albums", "exports")
EXPORTS = ExportPolicy(mode="job", stream_max_bytes=0, keep=timedelta(days=7))


class Crash(Exception):
    """The injected failure: a process dying at this call."""


@dataclass
class Steps:
    """Counts the calls a deletion makes and fails the ``crash_at``-th (0: never)."""

    crash_at: int
    count: int = 0


class Faulty:
    """Wrap a port so that one chosen call raises ``Crash`` before it reaches the store."""

    def __init__(self, inner: object, steps: Steps) -> None:
        self._inner = inner
        self._steps = steps

    def __getattr__(self, name: str) -> Any:
        target = getattr(self._inner, name)
        if not callable(target):
            return target

        def call(*args: Any, **kwargs: Any) -> Any:
            self._steps.count += 1
            if self._steps.count == self._steps.crash_at:
                raise Crash(f"crash at step {self._steps.count}: {name}")
            return target(*args, **kwargs)

        return call


def faulty(backends: Backends, steps: Steps) -> Backends:
    """Return ``backends`` with every blob and record call counted (and one failing)."""
    wrapped = {name: Faulty(getattr(backends, name), steps) for name in FAULTY}
    return replace(backends, **cast(dict[str, Any], wrapped))


def person(backends: Backends, settings: Settings, email: str) -> str:
    """Create an account with three photos (one trashed), an album, links, a token and
    an export (its zip built)."""
    user_id = user_id_for("https://idp.example", email)
    backends.users.upsert(
        User(
            id=user_id,
            issuer="https://idp.example",
            subject=email,
            email=email,
            name=email,
            created=backends.clock(),
        )
    )
    images = [
        store_image(
            backends, settings, user_id, io.BytesIO(imagefiles.noise_png((40, 30), seed=i)), "p.png"
        )
        for i in range(1, 4)
    ]
    create_link(backends, user_id, LinkOptions("never"), image_id=images[0].id)
    backends.images.move_many(
        user_id, [images[2].id], ImageStatus.READY, ImageStatus.TRASHED, backends.clock()
    )
    album = Album(id=new_id(), owner_id=user_id, title="Trip", created=backends.clock())
    backends.albums.add(album)
    backends.albums.add_items(user_id, album.id, [images[0].id, images[1].id])
    backends.shares.add(
        Share(
            id=new_id(),
            owner_id=user_id,
            image_id="",
            album_id=album.id,
            token_hash=hash_secret(new_id()),
            created=backends.clock(),
        )
    )
    create_token(backends, user_id, "curl")
    now = backends.clock()
    export = Export(new_id(), user_id, ExportStatus.PENDING, now, now, now + timedelta(days=1))
    backends.exports.add(export)
    assert build_export(backends, EXPORTS, user_id, export.id).status is ExportStatus.READY
    return user_id


def snapshot(backends: Backends, user_id: str) -> dict[str, Any]:
    """Return everything stored for one account, in comparable form."""
    user = backends.users.get(user_id)
    ready = backends.images.page(user_id, None, 100).items
    trashed = backends.images.trashed(user_id, 100)
    albums = backends.albums.for_owner(user_id)
    return {
        "user": None if user is None else (user.email, user.usage, user.deleting),
        "images": sorted((i.id, i.status.value) for i in ready + trashed),
        "blobs": sorted(b.key for b in backends.blobs.scan(f"users/{user_id}/")),
        "shares": sorted(s.id for s in backends.shares.for_owner(user_id)),
        "tokens": sorted(t.id for t in backends.tokens.for_owner(user_id)),
        "albums": sorted((a.id, tuple(backends.albums.item_ids(user_id, a.id))) for a in albums),
        "exports": sorted(e.id for e in backends.exports.for_owner(user_id)),
        "export_zips": sorted(b.key for b in backends.blobs.scan(f"exports/{user_id}/")),
    }


NOTHING: dict[str, Any] = {
    "user": None,
    "images": [],
    "blobs": [],
    "shares": [],
    "tokens": [],
    "albums": [],
    "exports": [],
    "export_zips": [],
}


def test_a_crash_at_any_step_is_finished_by_reconcile(
    backends: Backends, settings: Settings
) -> None:
    bob = person(backends, settings, "bob@example.org")
    bob_before = snapshot(backends, bob)
    assert bob_before["blobs"] and bob_before["albums"] and bob_before["shares"]
    assert bob_before["exports"] and bob_before["export_zips"]

    def delete_with_crash_at(step: int, email: str) -> Steps:
        user_id = person(backends, settings, email)
        backends.users.change_account(user_id, AccountChange(deleting=True))
        steps = Steps(crash_at=step)
        crashing = faulty(backends, steps)
        if step:
            with pytest.raises(Crash):
                finish_account_deletion(crashing, user_id)
        else:
            finish_account_deletion(crashing, user_id)
        return steps

    total = delete_with_crash_at(0, "counting@example.com").count
    assert total >= 20  # tokens, albums, links, 3 photos' records and blobs, the account
    for step in range(1, total + 1):
        email = f"alice{step}@example.com"
        delete_with_crash_at(step, email)
        user_id = user_id_for("https://idp.example", email)
        assert snapshot(backends, user_id) != NOTHING or step == total  # the crash left work
        report = reconcile(backends, dry_run=False)
        assert not report.refused and not report.errors, (step, report.summary())
        assert user_id in report.deleted_accounts or step == total
        assert snapshot(backends, user_id) == NOTHING, f"crash at step {step} left something"
        assert snapshot(backends, bob) == bob_before, f"crash at step {step} touched bob"
    assert backends.users.marked_deleting() == []
