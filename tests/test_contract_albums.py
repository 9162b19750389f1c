"""Contract of albums, the trash and the new share-link fields, on SQLite and Firestore."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import timedelta
from pathlib import Path

import pytest

from picbucket.domain import Album, AlbumOrder, ImageStatus, Share, hash_secret, new_id, utcnow
from picbucket.ports import AlbumRepository, ImageRepository, ShareRepository, UserRepository
from test_contract_records import BIG, T0, make_image, open_records


@dataclass
class Stores:
    """The repositories these tests need, from one adapter family."""

    users: UserRepository
    images: ImageRepository
    shares: ShareRepository
    albums: AlbumRepository


@pytest.fixture(params=["sqlite", pytest.param("firestore", marks=pytest.mark.gcp)])
def stores(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Stores]:
    """Yield each adapter's repositories (albums included) over an empty database."""
    store = open_records(request.param, tmp_path, request)
    if request.param == "sqlite":
        from picbucket.adapters.sqlite_albums import SqliteAlbums

        albums: AlbumRepository = SqliteAlbums(store)
    else:
        from picbucket.adapters.firestore_albums import FirestoreAlbums

        albums = FirestoreAlbums(store.client)
    try:
        yield Stores(store.users, store.images, store.shares, albums)
    finally:
        store.close()


def user(stores: Stores, name: str) -> str:
    from test_contract_records import Records, make_user

    records = Records(stores.users, stores.images, stores.shares, None)  # type: ignore[arg-type]
    return make_user(records, name).id


def add_images(stores: Stores, owner: str, count: int) -> list[str]:
    owner_user = stores.users.get(owner)
    assert owner_user is not None
    ids = []
    for n in range(count):
        image = make_image(owner_user, created=T0 + timedelta(minutes=n))
        stores.images.add(image, BIG)
        ids.append(image.id)
    return ids


def album(owner: str, title: str = "Holiday") -> Album:
    return Album(id=new_id(), owner_id=owner, title=title, created=utcnow())


def test_album_roundtrip_update_and_listing(stores: Stores) -> None:
    alice = user(stores, "alice")
    first, second = album(alice, "First"), album(alice, "Second")
    stores.albums.add(first)
    stores.albums.add(replace(second, created=first.created + timedelta(seconds=1)))
    assert stores.albums.get(alice, first.id) == first
    assert [a.title for a in stores.albums.for_owner(alice)] == ["Second", "First"]
    changed = replace(first, title="Renamed", description="Sea", order=AlbumOrder.TAKEN)
    assert stores.albums.update(changed)
    assert stores.albums.get(alice, first.id) == changed


def test_items_keep_order_skip_duplicates_and_reorder(stores: Stores) -> None:
    alice = user(stores, "alice")
    ids = add_images(stores, alice, 4)
    holiday = album(alice)
    stores.albums.add(holiday)
    assert stores.albums.add_items(alice, holiday.id, [ids[2], ids[0]]) == 2
    # Adding again appends only what is new, after what is there.
    assert stores.albums.add_items(alice, holiday.id, [ids[0], ids[1]]) == 1
    assert stores.albums.item_ids(alice, holiday.id) == [ids[2], ids[0], ids[1]]
    stores.albums.set_order(alice, holiday.id, [ids[1], ids[2], ids[0]])
    assert stores.albums.item_ids(alice, holiday.id) == [ids[1], ids[2], ids[0]]
    assert stores.albums.counts(alice) == {holiday.id: 3}
    assert stores.albums.remove_items(alice, holiday.id, [ids[2], ids[3]]) == 1
    assert stores.albums.item_ids(alice, holiday.id) == [ids[1], ids[0]]
    assert stores.albums.albums_of(alice, ids[0]) == [holiday.id]


def test_a_photo_in_many_albums_leaves_all_when_purged(stores: Stores) -> None:
    alice = user(stores, "alice")
    [photo, other] = add_images(stores, alice, 2)
    one, two = album(alice, "One"), album(alice, "Two")
    stores.albums.add(replace(one, cover_id=photo))
    stores.albums.add(two)
    for each in (one, two):
        stores.albums.add_items(alice, each.id, [photo, other])
    assert sorted(stores.albums.albums_of(alice, photo)) == sorted([one.id, two.id])
    stores.albums.remove_image(alice, photo)
    assert stores.albums.item_ids(alice, one.id) == [other]
    assert stores.albums.item_ids(alice, two.id) == [other]
    cover_cleared = stores.albums.get(alice, one.id)
    assert cover_cleared is not None and cover_cleared.cover_id is None


def test_removing_an_album_keeps_its_photos(stores: Stores) -> None:
    alice = user(stores, "alice")
    ids = add_images(stores, alice, 2)
    holiday = album(alice)
    stores.albums.add(holiday)
    stores.albums.add_items(alice, holiday.id, ids)
    assert stores.albums.remove(alice, holiday.id)
    assert stores.albums.get(alice, holiday.id) is None
    assert stores.albums.item_ids(alice, holiday.id) == []
    assert not stores.albums.remove(alice, holiday.id)
    assert len(stores.images.get_many(alice, ids)) == 2


def test_another_owners_album_is_absent_everywhere(stores: Stores) -> None:
    alice, bob = user(stores, "alice"), user(stores, "bob")
    [photo] = add_images(stores, alice, 1)
    holiday = album(alice)
    stores.albums.add(holiday)
    stores.albums.add_items(alice, holiday.id, [photo])
    assert stores.albums.get(bob, holiday.id) is None
    assert stores.albums.for_owner(bob) == []
    assert stores.albums.item_ids(bob, holiday.id) == []
    assert not stores.albums.update(replace(holiday, owner_id=bob, title="Mine now"))
    assert stores.albums.add_items(bob, holiday.id, [photo]) == 0
    assert stores.albums.remove_items(bob, holiday.id, [photo]) == 0
    assert not stores.albums.remove(bob, holiday.id)
    assert stores.albums.item_ids(alice, holiday.id) == [photo]
    unchanged = stores.albums.get(alice, holiday.id)
    assert unchanged is not None and unchanged.title == "Holiday"


def test_trash_moves_only_ready_images_and_restores(stores: Stores) -> None:
    alice, bob = user(stores, "alice"), user(stores, "bob")
    ids = add_images(stores, alice, 3)
    when = T0 + timedelta(days=1)
    # Bob cannot trash Alice's photos: nothing of his matches.
    assert stores.images.move_many(bob, ids, ImageStatus.READY, ImageStatus.TRASHED, when) == []
    moved = stores.images.move_many(alice, ids[:2], ImageStatus.READY, ImageStatus.TRASHED, when)
    assert sorted(moved) == sorted(ids[:2])
    # Already trashed: a second trash changes nothing.
    assert stores.images.move_many(alice, ids, ImageStatus.READY, ImageStatus.TRASHED, when) == [
        ids[2]
    ]
    assert [i.id for i in stores.images.page(alice, None, 10).items] == []
    trashed = stores.images.trashed(alice, 10)
    assert {i.id for i in trashed} == set(ids)
    assert all(i.trashed_at == when and i.status is ImageStatus.TRASHED for i in trashed)
    # Quota still counts trashed bytes until purge.
    assert stores.images.usage(alice).images == 3
    restored = stores.images.move_many(
        alice, [ids[0]], ImageStatus.TRASHED, ImageStatus.READY, None
    )
    assert restored == [ids[0]]
    back = stores.images.get(alice, ids[0])
    assert back is not None and back.status is ImageStatus.READY and back.trashed_at is None
    assert [i.id for i in stores.images.page(alice, None, 10).items] == [ids[0]]


def test_trashed_before_finds_old_trash_of_every_owner(stores: Stores) -> None:
    alice, bob = user(stores, "alice"), user(stores, "bob")
    [old_a] = add_images(stores, alice, 1)
    [old_b, new_b] = add_images(stores, bob, 2)
    stores.images.move_many(alice, [old_a], ImageStatus.READY, ImageStatus.TRASHED, T0)
    stores.images.move_many(bob, [old_b], ImageStatus.READY, ImageStatus.TRASHED, T0)
    later = T0 + timedelta(days=40)
    stores.images.move_many(bob, [new_b], ImageStatus.READY, ImageStatus.TRASHED, later)
    due = stores.images.trashed_before(T0 + timedelta(days=30), 10)
    assert {i.id for i in due} == {old_a, old_b}
    assert len(stores.images.trashed_before(T0 + timedelta(days=30), 1)) == 1


def test_move_many_past_one_batch(stores: Stores) -> None:
    alice = user(stores, "alice")
    ids = add_images(stores, alice, 650)
    moved = stores.images.move_many(alice, ids, ImageStatus.READY, ImageStatus.TRASHED, T0)
    assert sorted(moved) == sorted(ids)
    assert len(stores.images.get_many(alice, ids)) == 650


def test_duplicate_lookup_by_hash_is_per_owner(stores: Stores) -> None:
    alice, bob = user(stores, "alice"), user(stores, "bob")
    [photo] = add_images(stores, alice, 1)
    found = stores.images.by_sha256(alice, "a" * 64)
    assert found is not None and found.id == photo
    assert stores.images.by_sha256(bob, "a" * 64) is None
    assert stores.images.by_sha256(alice, "c" * 64) is None


def test_album_share_with_password_epoch_and_view_limit(stores: Stores) -> None:
    alice, bob = user(stores, "alice"), user(stores, "bob")
    holiday = album(alice)
    stores.albums.add(holiday)
    share = Share(
        id=new_id(),
        owner_id=alice,
        image_id="",
        album_id=holiday.id,
        token_hash=hash_secret(new_id()),
        created=T0,
        expires=T0 + timedelta(days=7),
        password_hash="scrypt$x",
        epoch="e1",
        max_views=3,
        allow_originals=False,
    )
    stores.shares.add(share)
    assert stores.shares.by_token_hash(share.token_hash) == share
    assert not stores.shares.set_password(bob, share.id, None, "e2")
    assert stores.shares.set_password(alice, share.id, None, "e2")
    changed = stores.shares.get(alice, share.id)
    assert changed == replace(share, password_hash=None, epoch="e2")
    for _ in range(3):
        stores.shares.count_view(share.id)
    counted = stores.shares.get(alice, share.id)
    assert counted is not None and not counted.is_live(T0)
    stores.shares.remove_for_album(bob, holiday.id)
    assert stores.shares.get(alice, share.id) is not None
    stores.shares.remove_for_album(alice, holiday.id)
    assert stores.shares.get(alice, share.id) is None


def test_previous_release_database_gains_albums_and_trash(tmp_path: Path) -> None:
    import shutil

    from picbucket.adapters.sqlite_albums import SqliteAlbums
    from picbucket.adapters.sqlite_records import SqliteRecords

    copy = tmp_path / "picbucket.sqlite3"
    shutil.copy(Path(__file__).parent / "fixtures" / "previous-release.sqlite3", copy)
    store = SqliteRecords(copy)
    try:
        [owner] = [row["id"] for row in store.query("SELECT id FROM users")]
        images = store.images.page(owner, None, 10).items
        assert len(images) == 2 and all(i.trashed_at is None for i in images)
        [share] = store.shares.for_owner(owner)
        # An old link points at an image, has no password or limit, and still opens.
        assert share.album_id is None and share.password_hash is None
        assert share.max_views is None and share.is_live(utcnow())
        albums = SqliteAlbums(store)
        holiday = album(owner)
        albums.add(holiday)
        assert albums.add_items(owner, holiday.id, [i.id for i in images]) == 2
        moved = store.images.move_many(
            owner, [images[0].id], ImageStatus.READY, ImageStatus.TRASHED, utcnow()
        )
        assert moved == [images[0].id]
    finally:
        store.close()


@pytest.mark.gcp
def test_firestore_documents_from_the_previous_release_keep_working(
    request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    from picbucket.adapters.firestore_albums import FirestoreAlbums

    store = open_records("firestore", tmp_path, request)
    try:
        owner = user(Stores(store.users, store.images, store.shares, None), "old")  # type: ignore[arg-type]
        client = store.client
        image_id, share_id = new_id(), new_id()
        variant = {"key": f"users/{owner}/{image_id}/o.png", "content_type": "image/png"}
        # Exactly the fields the previous release wrote: no trashed_at, sha256, album
        # fields, password, epoch or view limit.
        client.collection("users").document(owner).collection("images").document(image_id).set(
            {
                "owner_id": owner,
                "title": "old photo",
                "width": 10,
                "height": 10,
                "original": {**variant, "size": 900, "sha256": "c" * 64},
                "thumbnail": {**variant, "size": 100, "sha256": "d" * 64},
                "created": T0,
                "sort_at": T0,
                "status": "ready",
            }
        )
        client.collection("shares").document(share_id).set(
            {
                "owner_id": owner,
                "image_id": image_id,
                "token_hash": "h" * 64,
                "created": T0,
                "expires": None,
                "revoked": None,
            }
        )
        [image] = store.images.page(owner, None, 10).items
        assert image.id == image_id and image.trashed_at is None
        share = store.shares.by_token_hash("h" * 64)
        assert share is not None and share.album_id is None and share.password_hash is None
        assert share.max_views is None and share.is_live(T0)
        # The new operations work on the old documents.
        moved = store.images.move_many(
            owner, [image_id], ImageStatus.READY, ImageStatus.TRASHED, T0
        )
        assert moved == [image_id]
        assert [i.id for i in store.images.trashed(owner, 10)] == [image_id]
        albums = FirestoreAlbums(client)
        holiday = album(owner)
        albums.add(holiday)
        assert albums.add_items(owner, holiday.id, [image_id]) == 1
        assert store.shares.set_password(owner, share_id, "scrypt$x", "e")
    finally:
        store.close()


def test_item_windows_and_count(stores: Stores) -> None:
    alice = user(stores, "alice")
    ids = add_images(stores, alice, 7)
    holiday = album(alice)
    stores.albums.add(holiday)
    stores.albums.add_items(alice, holiday.id, ids)
    assert stores.albums.item_ids(alice, holiday.id, 2, 3) == ids[2:5]
    assert stores.albums.item_ids(alice, holiday.id, 5) == ids[5:]
    assert stores.albums.item_ids(alice, holiday.id, 9, 3) == []
    assert stores.albums.count(alice, holiday.id) == 7
    assert stores.albums.count(user(stores, "bob"), holiday.id) == 0
