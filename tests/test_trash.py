"""The trash on both stacks: delete hides at once, restore, empty, and reconcile's purge."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import pytest

from picbucket.domain import ImageStatus, InvalidInput, Share, hash_secret, new_id
from picbucket.ports import Backends
from picbucket.services import trash
from picbucket.services.images import delete_image
from picbucket.services.links import OpenedLink, open_link
from picbucket.services.reconcile import Guards, reconcile
from picbucket.settings import Settings
from stacks import make_user
from test_reconcile import BIG, backends, image_record, keys, put, settings

__all__ = ["backends", "settings"]  # fixtures used by name

NOW = datetime(2026, 3, 1, 12, tzinfo=UTC)


def stored_images(backends: Backends, owner_name: str, count: int) -> list[str]:
    owner = make_user(backends, owner_name)
    ids = []
    for _ in range(count):
        image = image_record(owner, NOW - timedelta(days=60), ImageStatus.READY)
        backends.images.add(image, BIG)
        for variant in image.variants:
            put(backends, variant.key)
        ids.append(image.id)
    return ids


def test_deleted_photo_goes_to_trash_its_link_stops_and_quota_still_counts(
    backends: Backends, settings: Settings
) -> None:
    [photo] = stored_images(backends, "alice", 1)
    owner = make_user(backends, "alice").id
    token = new_id()
    share = Share(new_id(), owner, photo, hash_secret(token), NOW - timedelta(days=1))
    backends.shares.add(share)
    backends.clock = lambda: NOW
    assert _image_of(open_link(backends, settings, token)) == photo

    delete_image(backends, owner, photo)

    with pytest.raises(Exception, match="does not exist"):
        open_link(backends, settings, token)
    assert backends.images.page(owner, None, 10).items == []
    [trashed] = trash.trashed_images(backends, owner)
    assert trashed.trashed_at == NOW
    assert backends.images.usage(owner).images == 1
    assert len(keys(backends)) == 2

    assert trash.restore_images(backends, owner, [photo]) == [photo]
    assert [i.id for i in backends.images.page(owner, None, 10).items] == [photo]
    # The link was not deleted by the trash: restoring brings it back.
    assert _image_of(open_link(backends, settings, token)) == photo


def test_empty_trash_removes_bytes_and_refunds_quota(backends: Backends) -> None:
    ids = stored_images(backends, "alice", 3)
    owner = make_user(backends, "alice").id
    trash.trash_images(backends, owner, ids[:2])
    assert trash.empty_trash(backends, owner) == 2
    assert backends.images.usage(owner).images == 1
    assert {k.split("/")[2] for k in keys(backends)} == {ids[2]}


def test_bulk_calls_refuse_more_than_the_cap(backends: Backends) -> None:
    owner = make_user(backends, "alice").id
    with pytest.raises(InvalidInput, match="at most 1000"):
        trash.trash_images(backends, owner, [new_id() for _ in range(1001)])


def test_reconcile_purges_only_expired_trash_and_respects_dry_run(backends: Backends) -> None:
    ids = stored_images(backends, "alice", 3)
    owner = make_user(backends, "alice").id
    backends.clock = lambda: NOW - timedelta(days=31)
    trash.trash_images(backends, owner, ids[:1])
    backends.clock = lambda: NOW - timedelta(days=2)
    trash.trash_images(backends, owner, ids[1:2])

    dry = reconcile(backends, dry_run=True, now=NOW, trash_days=30)
    assert dry.purged_trash == [f"{owner}/{ids[0]}"]
    assert len(keys(backends)) == 6

    report = reconcile(backends, dry_run=False, now=NOW, trash_days=30, guards=Guards())
    assert report.purged_trash == [f"{owner}/{ids[0]}"] and not report.errors
    assert {k.split("/")[2] for k in keys(backends)} == set(ids[1:])
    assert backends.images.get(owner, ids[0]) is None
    assert backends.images.usage(owner).images == 2
    # Without a trash period reconcile leaves the trash alone.
    assert reconcile(backends, dry_run=False, now=NOW + timedelta(days=90)).purged_trash == []


def test_bulk_trash_of_1000_photos(backends: Backends) -> None:
    owner = make_user(backends, "alice")
    ids = []
    for _ in range(1000):
        image = image_record(owner, NOW, ImageStatus.READY)
        backends.images.add(image, BIG)
        ids.append(image.id)
    started = time.perf_counter()
    moved = trash.trash_images(backends, owner.id, ids)
    elapsed = time.perf_counter() - started
    print(f"bulk trash of 1,000 photos: {elapsed:.2f} s")
    assert len(moved) == 1000
    assert backends.images.page(owner.id, None, 10).items == []


def _image_of(opened: OpenedLink) -> str:
    assert opened.image is not None
    return opened.image.id
