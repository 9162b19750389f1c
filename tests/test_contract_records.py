"""The record repositories' contract, run against SQLite and Firestore (emulator)."""

from __future__ import annotations

import base64
import threading
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from picbucket.cursors import ORDERS, encode_cursor
from picbucket.domain import (
    ApiToken,
    Image,
    ImageStatus,
    InvalidCursor,
    InvalidInput,
    NotFound,
    Quota,
    QuotaExceeded,
    Share,
    Usage,
    User,
    Variant,
    hash_secret,
    new_id,
    new_secret,
    user_id_for,
    utcnow,
)
from picbucket.ports import ImageRepository, ShareRepository, TokenRepository, UserRepository
from picbucket.settings import Settings

BIG = Quota(max_bytes=10**12, max_images=10**6)
T0 = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)


@dataclass
class Records:
    """The four repositories of one adapter, as the services see them."""

    users: UserRepository
    images: ImageRepository
    shares: ShareRepository
    tokens: TokenRepository


def open_records(kind: str, tmp_path: Path, request: pytest.FixtureRequest) -> Any:
    """Build a fresh, empty record store of ``kind`` (has .users/.images/... and .close)."""
    if kind == "sqlite":
        from picbucket.adapters.sqlite_records import SqliteRecords

        return SqliteRecords(tmp_path / "picbucket.sqlite3")
    from picbucket.adapters.firestore_records import FirestoreRecords

    project = request.getfixturevalue("firestore_project")
    return FirestoreRecords.from_settings(Settings(record_store="firestore", gcp_project=project))


@pytest.fixture(params=["sqlite", pytest.param("firestore", marks=pytest.mark.gcp)])
def records(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Records]:
    """Yield each adapter's repositories over an empty database."""
    store = open_records(request.param, tmp_path, request)
    try:
        yield Records(store.users, store.images, store.shares, store.tokens)
    finally:
        store.close()


def make_user(records: Records, subject: str = "") -> User:
    subject = subject or new_id()
    return records.users.upsert(
        User(
            id=user_id_for("https://idp.example", subject),
            issuer="https://idp.example",
            subject=subject,
            email=f"{subject}@example.com",
            name=subject.title(),
            created=utcnow(),
        )
    )


def make_image(
    owner: User,
    *,
    created: datetime | None = None,
    size: int = 1000,
    status: ImageStatus = ImageStatus.READY,
    image_id: str | None = None,
    taken_at: datetime | None = None,
) -> Image:
    image_id = image_id or new_id()
    base = f"users/{owner.id}/{image_id}"
    return Image(
        id=image_id,
        owner_id=owner.id,
        title=f"photo {image_id[:4]}",
        width=640,
        height=480,
        original=Variant(f"{base}/original.png", "image/png", size - 100, "a" * 64),
        thumbnail=Variant(f"{base}/thumb.webp", "image/webp", 100, "b" * 64),
        created=created or utcnow(),
        status=status,
        taken_at=taken_at,
    )


# -- users ---------------------------------------------------------------------


def test_user_upsert_creates_then_refreshes_profile(records: Records) -> None:
    assert records.users.get("nobody") is None
    user = make_user(records, "alice")
    assert user.usage == Usage()
    assert records.users.get(user.id) == user

    again = records.users.upsert(
        replace(user, email="new@example.com", name="Alice B", session_epoch="other-epoch")
    )
    assert again.email == "new@example.com"
    assert again.name == "Alice B"
    # Signing in again must not end the user's other sessions, nor reset history.
    assert again.session_epoch == user.session_epoch
    assert again.created == user.created
    assert records.users.get(user.id) == again


def test_session_epoch_is_replaced(records: Records) -> None:
    user = make_user(records)
    records.users.set_session_epoch(user.id, "epoch-2")
    stored = records.users.get(user.id)
    assert stored is not None
    assert stored.session_epoch == "epoch-2"


def test_upsert_keeps_usage(records: Records) -> None:
    user = make_user(records)
    records.images.add(make_image(user, size=5000), BIG)
    assert records.users.upsert(user).usage == Usage(bytes=5000, images=1)


# -- images --------------------------------------------------------------------


def test_image_add_get_roundtrip_and_usage(records: Records) -> None:
    user = make_user(records)
    image = make_image(user, size=1234, status=ImageStatus.PENDING)
    records.images.add(image, BIG)
    assert records.images.get(user.id, image.id) == image
    assert records.images.usage(user.id) == Usage(bytes=1234, images=1)
    stored_user = records.users.get(user.id)
    assert stored_user is not None
    assert stored_user.usage == Usage(bytes=1234, images=1)


def test_page_is_newest_first_and_cursor_visits_each_image_once(records: Records) -> None:
    user = make_user(records)
    images = []
    for n in range(25):
        # Groups of three share one timestamp: the id must break the tie.
        images.append(make_image(user, created=T0 + timedelta(seconds=n // 3)))
    for image in images:
        records.images.add(image, BIG)
    expected = sorted(images, key=lambda i: (i.created, i.id), reverse=True)

    seen: list[Image] = []
    cursor: str | None = None
    sizes = []
    while True:
        page = records.images.page(user.id, cursor, 7)
        sizes.append(len(page.items))
        seen.extend(page.items)
        cursor = page.next_cursor
        if cursor is None:
            break
    assert sizes == [7, 7, 7, 4]
    assert [i.id for i in seen] == [i.id for i in expected]
    assert seen == expected


def test_page_exact_multiple_has_no_empty_last_page(records: Records) -> None:
    user = make_user(records)
    for n in range(6):
        records.images.add(make_image(user, created=T0 + timedelta(minutes=n)), BIG)
    first = records.images.page(user.id, None, 3)
    assert first.next_cursor is not None
    second = records.images.page(user.id, first.next_cursor, 3)
    assert len(second.items) == 3
    assert second.next_cursor is None


def test_page_lists_only_ready_images(records: Records) -> None:
    user = make_user(records)
    ready = make_image(user)
    records.images.add(ready, BIG)
    records.images.add(make_image(user, status=ImageStatus.PENDING), BIG)
    records.images.add(make_image(user, status=ImageStatus.DELETING), BIG)
    assert records.images.page(user.id, None, 10).items == [ready]


def test_images_are_owner_scoped(records: Records) -> None:
    alice, bob = make_user(records, "alice"), make_user(records, "bob")
    for n in range(5):
        records.images.add(make_image(alice, created=T0 + timedelta(seconds=n)), BIG)
    mine = make_image(bob, created=T0 - timedelta(days=1))
    records.images.add(mine, BIG)
    alices = records.images.page(alice.id, None, 100).items
    assert len(alices) == 5
    assert records.images.page(bob.id, None, 100).items == [mine]
    # A cursor taken from Alice's listing still only pages through Bob's images.
    cursor = encode_cursor("taken", alices[0].created, alices[0].id)
    assert records.images.page(bob.id, cursor, 100).items == [mine]
    assert records.images.get(bob.id, alices[0].id) is None
    assert records.images.get(alice.id, mine.id) is None
    records.images.remove(bob.id, alices[0].id)  # not Bob's: nothing happens
    assert records.images.get(alice.id, alices[0].id) is not None
    assert records.images.usage(bob.id) == Usage(bytes=1000, images=1)


def test_page_refuses_a_tampered_cursor(records: Records) -> None:
    user = make_user(records)
    with pytest.raises(InvalidCursor):
        records.images.page(user.id, "not-a-cursor!", 10)


def test_new_image_fields_round_trip(records: Records) -> None:
    user = make_user(records)
    base = f"users/{user.id}/x"
    image = replace(
        make_image(user, size=5000, taken_at=datetime(2019, 7, 14, 18, 30, 5, tzinfo=UTC)),
        original=Variant(f"{base}/original.jpg", "image/jpeg", 4000, "a" * 64, 4032, 3024),
        thumbnail=Variant(f"{base}/thumb.jpg", "image/jpeg", 100, "b" * 64, 512, 384),
        display=Variant(f"{base}/display.jpg", "image/jpeg", 900, "c" * 64, 2048, 1536),
    )
    records.images.add(image, BIG)
    assert records.images.get(user.id, image.id) == image
    assert records.images.page(user.id, None, 10).items == [image]
    # The display rendition is charged and refunded with the rest.
    assert records.images.usage(user.id) == Usage(bytes=5000, images=1)
    records.images.remove(user.id, image.id)
    assert records.images.usage(user.id) == Usage(bytes=0, images=0)


def _eleven_mixed(records: Records) -> tuple[User, list[Image]]:
    """Eleven images: some with a date taken (older or newer than uploads, some tied)."""
    user = make_user(records)
    taken = [
        T0 - timedelta(days=400),
        None,
        T0 + timedelta(days=3),
        None,
        T0 - timedelta(days=2),
        T0 - timedelta(days=2),  # same date taken: the id breaks the tie
        None,
        T0 + timedelta(seconds=5),  # equal to another image's upload time
        None,
        T0 - timedelta(days=9000),
        None,
    ]
    images = [
        make_image(user, created=T0 + timedelta(seconds=n // 2), taken_at=when)
        for n, when in enumerate(taken)
    ]
    # Not ready: must appear in neither order.
    hidden = make_image(user, status=ImageStatus.PENDING, taken_at=T0)
    for image in [*images, hidden]:
        records.images.add(image, BIG)
    return user, images


def _walk(records: Records, owner_id: str, order: str, limit: int) -> list[Image]:
    seen: list[Image] = []
    cursor: str | None = None
    for _ in range(20):
        page = records.images.page(owner_id, cursor, limit, order)
        assert len(page.items) <= limit
        seen.extend(page.items)
        cursor = page.next_cursor
        if cursor is None:
            return seen
    raise AssertionError("paging never ended")


@pytest.mark.parametrize("limit", [1, 3, 4, 11])
def test_both_orders_visit_each_of_eleven_images_once(records: Records, limit: int) -> None:
    user, images = _eleven_mixed(records)
    by_taken = sorted(images, key=lambda i: (i.taken_at or i.created, i.id), reverse=True)
    by_upload = sorted(images, key=lambda i: (i.created, i.id), reverse=True)
    assert by_taken != by_upload  # the orders really differ on this data

    assert _walk(records, user.id, "taken", limit) == by_taken
    assert _walk(records, user.id, "uploaded", limit) == by_upload
    # The default order is date taken.
    assert records.images.page(user.id, None, 11).items == by_taken


def _raw_cursor(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode()).rstrip(b"=").decode()


@pytest.mark.parametrize(
    "cursor",
    [
        "not-a-cursor!",
        "%%%",
        _raw_cursor("2026-01-01T12:00:00+00:00|AAAAAAAAAAAAAAAAAAAAAA"),  # previous format
        _raw_cursor("taken|2026-01-01T12:00:00+00:00|../../users"),  # a path, not an id
        _raw_cursor("taken|2026-01-01T12:00:00+00:00|a/b"),
        _raw_cursor("taken|2026-01-01T12:00:00+00:00|"),
        _raw_cursor("taken|2026-01-01T12:00:00|AAAAAAAAAAAAAAAAAAAAAA"),  # naive time
        _raw_cursor("taken|yesterday|AAAAAAAAAAAAAAAAAAAAAA"),
        _raw_cursor("newest|2026-01-01T12:00:00+00:00|AAAAAAAAAAAAAAAAAAAAAA"),
        _raw_cursor("taken|0001-01-01T00:00:00+23:59|AAAAAAAAAAAAAAAAAAAAAA"),
    ],
)
def test_page_refuses_crafted_cursors(records: Records, cursor: str) -> None:
    user, _ = _eleven_mixed(records)
    for order in ORDERS:
        with pytest.raises(InvalidCursor):
            records.images.page(user.id, cursor, 3, order)


def test_a_cursor_works_only_with_its_own_order(records: Records) -> None:
    user, _ = _eleven_mixed(records)
    taken = records.images.page(user.id, None, 3, "taken").next_cursor
    uploaded = records.images.page(user.id, None, 3, "uploaded").next_cursor
    assert taken is not None
    assert uploaded is not None
    with pytest.raises(InvalidCursor):
        records.images.page(user.id, taken, 3, "uploaded")
    with pytest.raises(InvalidCursor):
        records.images.page(user.id, uploaded, 3, "taken")
    with pytest.raises(InvalidInput):
        records.images.page(user.id, None, 3, "random")


def test_set_status_is_compare_and_set(records: Records) -> None:
    user = make_user(records)
    image = make_image(user, status=ImageStatus.PENDING)
    records.images.add(image, BIG)
    ready, pending, deleting = ImageStatus.READY, ImageStatus.PENDING, ImageStatus.DELETING
    assert records.images.set_status(user.id, image.id, pending, ready)
    assert records.images.get(user.id, image.id) == image.with_status(ready)
    # Only from the expected status: a stale caller cannot move it back.
    assert not records.images.set_status(user.id, image.id, pending, ready)
    assert records.images.set_status(user.id, image.id, ready, deleting)
    assert not records.images.set_status(user.id, image.id, ready, ready)
    assert records.images.get(user.id, image.id) == image.with_status(deleting)
    assert not records.images.set_status(user.id, "missing", ready, deleting)
    assert not records.images.set_status(make_user(records).id, image.id, deleting, ready)


def test_rename_touches_only_ready_images_of_the_owner(records: Records) -> None:
    user, other = make_user(records), make_user(records)
    image = make_image(user)
    records.images.add(image, BIG)
    assert records.images.rename(user.id, image.id, "Sunset")
    assert records.images.get(user.id, image.id) == image.with_title("Sunset")
    assert not records.images.rename(other.id, image.id, "Stolen")
    assert not records.images.rename(user.id, "missing", "x")
    records.images.set_status(user.id, image.id, ImageStatus.READY, ImageStatus.DELETING)
    assert not records.images.rename(user.id, image.id, "Back from the dead")
    stored = records.images.get(user.id, image.id)
    assert stored is not None
    assert stored.title == "Sunset"
    assert stored.status is ImageStatus.DELETING


def test_remove_refunds_usage_and_tolerates_missing(records: Records) -> None:
    user = make_user(records)
    keep, drop = make_image(user, size=3000), make_image(user, size=2000)
    records.images.add(keep, BIG)
    records.images.add(drop, BIG)
    records.images.remove(user.id, drop.id)
    assert records.images.get(user.id, drop.id) is None
    assert records.images.usage(user.id) == Usage(bytes=3000, images=1)
    records.images.remove(user.id, drop.id)  # twice: no double refund
    records.images.remove(user.id, "never-existed")
    assert records.images.usage(user.id) == Usage(bytes=3000, images=1)


@pytest.mark.parametrize(
    ("quota", "size"),
    [
        (Quota(max_bytes=5000, max_images=100), 2001),  # bytes would pass the limit
        (Quota(max_bytes=10**9, max_images=2), 10),  # image count would pass it
    ],
)
def test_quota_exceeded_raises_and_changes_nothing(
    records: Records, quota: Quota, size: int
) -> None:
    user = make_user(records)
    records.images.add(make_image(user, size=1500), quota)
    records.images.add(make_image(user, size=1500), quota)
    before = records.images.usage(user.id)
    over = make_image(user, size=size)
    with pytest.raises(QuotaExceeded) as info:
        records.images.add(over, quota)
    assert info.value.message
    assert records.images.get(user.id, over.id) is None
    assert records.images.usage(user.id) == before


def test_quota_allows_exactly_the_last_byte(records: Records) -> None:
    user = make_user(records)
    quota = Quota(max_bytes=3000, max_images=2)
    records.images.add(make_image(user, size=1000), quota)
    records.images.add(make_image(user, size=2000), quota)
    assert records.images.usage(user.id) == Usage(bytes=3000, images=2)


def test_adding_an_image_for_an_unknown_user_is_not_found(records: Records) -> None:
    ghost = User(
        id="no-such-user",
        issuer="x",
        subject="x",
        email="x@example.com",
        name="X",
        created=utcnow(),
    )
    image = make_image(ghost)
    with pytest.raises(NotFound):
        records.images.add(image, Quota(max_bytes=10**9, max_images=10))
    assert records.images.get(ghost.id, image.id) is None


def test_unfinished_finds_old_pending_and_deleting_of_every_owner(records: Records) -> None:
    alice, bob = make_user(records, "alice"), make_user(records, "bob")
    old, new = T0, T0 + timedelta(hours=2)
    pending = make_image(alice, created=old, status=ImageStatus.PENDING)
    deleting = make_image(bob, created=old, status=ImageStatus.DELETING)
    for image in (
        pending,
        deleting,
        make_image(alice, created=old, status=ImageStatus.READY),
        make_image(bob, created=new, status=ImageStatus.PENDING),
    ):
        records.images.add(image, BIG)
    found = {i.id: i for i in records.images.unfinished(T0 + timedelta(hours=1))}
    assert found == {pending.id: pending, deleting.id: deleting}


def test_existing_reports_which_pairs_have_records(records: Records) -> None:
    alice, bob = make_user(records, "alice"), make_user(records, "bob")
    a1 = make_image(alice, status=ImageStatus.PENDING)
    b1 = make_image(bob)
    records.images.add(a1, BIG)
    records.images.add(b1, BIG)
    asked = [
        (alice.id, a1.id),
        (bob.id, b1.id),
        (bob.id, a1.id),
        (alice.id, "gone"),
        (alice.id, a1.id),
    ]
    assert records.images.existing(asked) == {(alice.id, a1.id), (bob.id, b1.id)}
    assert records.images.existing([]) == set()


def test_two_uploads_racing_for_the_last_bytes_one_wins(records: Records) -> None:
    quota = Quota(max_bytes=1500, max_images=100)
    for _round in range(3):
        user = make_user(records)
        contenders = [make_image(user, size=1000), make_image(user, size=1000)]
        barrier = threading.Barrier(len(contenders))
        outcomes: list[str] = []

        def upload(image: Image, barrier: threading.Barrier, outcomes: list[str]) -> None:
            barrier.wait()  # both threads call add() at the same moment
            try:
                records.images.add(image, quota)
            except QuotaExceeded:
                outcomes.append("refused")
            else:
                outcomes.append("stored")

        threads = [
            threading.Thread(target=upload, args=(image, barrier, outcomes)) for image in contenders
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
        assert sorted(outcomes) == ["refused", "stored"]
        assert records.images.usage(user.id) == Usage(bytes=1000, images=1)
        stored = [records.images.get(user.id, image.id) for image in contenders]
        assert sum(image is not None for image in stored) == 1


# -- shares --------------------------------------------------------------------


def make_share(owner: User, image_id: str, created: datetime, **kw: Any) -> tuple[Share, str]:
    token = new_secret("s_")
    share = Share(
        id=new_id(),
        owner_id=owner.id,
        image_id=image_id,
        token_hash=hash_secret(token),
        created=created,
        **kw,
    )
    return share, token


def test_share_add_and_find_by_token_hash(records: Records) -> None:
    user = make_user(records)
    share, token = make_share(user, "img1", T0, expires=T0 + timedelta(days=7))
    records.shares.add(share)
    assert records.shares.by_token_hash(hash_secret(token)) == share
    assert records.shares.by_token_hash(hash_secret("s_guess")) is None
    assert records.shares.get(user.id, share.id) == share


def test_shares_for_owner_newest_first_and_filtered_by_image(records: Records) -> None:
    alice, bob = make_user(records, "alice"), make_user(records, "bob")
    a1, _ = make_share(alice, "img1", T0)
    a2, _ = make_share(alice, "img2", T0 + timedelta(minutes=1))
    a3, _ = make_share(alice, "img1", T0 + timedelta(minutes=2))
    b1, _ = make_share(bob, "img1", T0 + timedelta(minutes=3))
    for share in (a1, a2, a3, b1):
        records.shares.add(share)
    assert records.shares.for_owner(alice.id) == [a3, a2, a1]
    assert records.shares.for_owner(alice.id, "img1") == [a3, a1]
    assert records.shares.for_owner(bob.id) == [b1]
    assert records.shares.for_owner(bob.id, "img2") == []


def test_share_revoke_is_owner_scoped(records: Records) -> None:
    alice, bob = make_user(records, "alice"), make_user(records, "bob")
    share, _ = make_share(alice, "img1", T0)
    records.shares.add(share)
    assert records.shares.get(bob.id, share.id) is None
    assert records.shares.revoke(bob.id, share.id, T0 + timedelta(hours=1)) is False
    assert records.shares.get(alice.id, share.id) == share

    assert records.shares.revoke(alice.id, share.id, T0 + timedelta(hours=1)) is True
    assert records.shares.revoke(alice.id, share.id, T0 + timedelta(hours=2)) is True
    revoked = records.shares.get(alice.id, share.id)
    assert revoked is not None
    assert revoked.revoked == T0 + timedelta(hours=1)  # the first revocation stands
    assert not revoked.is_live(T0 + timedelta(hours=3))
    assert records.shares.revoke(alice.id, "no-such-share", T0) is False


def test_share_views_are_counted_per_link(records: Records) -> None:
    alice = make_user(records, "alice")
    counted, _ = make_share(alice, "img1", T0)
    other, token = make_share(alice, "img1", T0 + timedelta(minutes=1))
    records.shares.add(counted)
    records.shares.add(other)
    assert counted.views == 0
    for _ in range(3):
        records.shares.count_view(counted.id)
    records.shares.count_view("no-such-share-00000000")  # gone already: nothing happens
    found = records.shares.get(alice.id, counted.id)
    assert found is not None and found.views == 3
    assert [s.views for s in records.shares.for_owner(alice.id)] == [0, 3]
    by_token = records.shares.by_token_hash(hash_secret(token))
    assert by_token is not None and by_token.views == 0


def test_remove_for_image_drops_only_that_images_shares(records: Records) -> None:
    alice, bob = make_user(records, "alice"), make_user(records, "bob")
    gone1, _ = make_share(alice, "img1", T0)
    gone2, _ = make_share(alice, "img1", T0 + timedelta(minutes=1))
    kept, _ = make_share(alice, "img2", T0)
    other, _ = make_share(bob, "img1", T0)
    for share in (gone1, gone2, kept, other):
        records.shares.add(share)
    records.shares.remove_for_image(alice.id, "img1")
    assert records.shares.for_owner(alice.id) == [kept]
    assert records.shares.for_owner(bob.id) == [other]
    assert records.shares.by_token_hash(gone1.token_hash) is None
    records.shares.remove_for_image(alice.id, "img1")


# -- tokens --------------------------------------------------------------------


def make_token(owner: User, name: str, created: datetime) -> ApiToken:
    return ApiToken(
        id=new_id(),
        owner_id=owner.id,
        name=name,
        token_hash=hash_secret(new_secret("pb_")),
        created=created,
    )


def test_tokens_add_find_list_touch_and_revoke(records: Records) -> None:
    alice, bob = make_user(records, "alice"), make_user(records, "bob")
    sharex = make_token(alice, "ShareX", T0)
    curl = make_token(alice, "curl", T0 + timedelta(minutes=1))
    bobs = make_token(bob, "bob's", T0)
    for token in (sharex, curl, bobs):
        records.tokens.add(token)

    assert records.tokens.by_hash(sharex.token_hash) == sharex
    assert records.tokens.by_hash(hash_secret("pb_guess")) is None
    assert records.tokens.for_owner(alice.id) == [curl, sharex]
    assert records.tokens.for_owner(bob.id) == [bobs]

    used = T0 + timedelta(days=1)
    records.tokens.touch(sharex.id, used)
    assert records.tokens.by_hash(sharex.token_hash) == replace(sharex, last_used=used)

    assert records.tokens.revoke(bob.id, sharex.id) is False
    assert records.tokens.by_hash(sharex.token_hash) is not None
    assert records.tokens.revoke(alice.id, sharex.id) is True
    assert records.tokens.by_hash(sharex.token_hash) is None
    assert records.tokens.revoke(alice.id, sharex.id) is False
    assert records.tokens.for_owner(alice.id) == [curl]
    records.tokens.touch(sharex.id, used)  # a revoked token: no error, no resurrection
    assert records.tokens.by_hash(sharex.token_hash) is None


# -- maintenance: every owner's records, rendition swap -----------------------


def test_all_images_walks_every_owner_and_status_once(records: Records) -> None:
    alice, bob = make_user(records, "alice"), make_user(records, "bob")
    statuses = [ImageStatus.READY, ImageStatus.PENDING, ImageStatus.DELETING]
    added = [make_image(owner, status=statuses[n % 3]) for owner in (alice, bob) for n in range(4)]
    for image in added:
        records.images.add(image, BIG)
    seen: list[Image] = []
    cursor = None
    for _ in range(10):
        page = records.images.all_images(cursor, 3)
        assert len(page.items) <= 3
        seen += page.items
        cursor = page.next_cursor
        if cursor is None:
            break

    assert sorted(seen, key=lambda i: (i.owner_id, i.id)) == seen
    assert sorted(seen, key=lambda i: i.id) == sorted(added, key=lambda i: i.id)
    assert records.images.all_images(None, 100).next_cursor is None


def test_replace_renditions_is_compare_and_set_and_moves_usage(records: Records) -> None:
    alice = make_user(records, "alice")
    image = make_image(alice, size=1000)  # original 900 + thumbnail 100
    records.images.add(image, BIG)
    base = f"users/{alice.id}/{image.id}"
    thumb = Variant(f"{base}/thumb-1234abcd.jpg", "image/jpeg", 300, "c" * 64, 683, 512)
    display = Variant(f"{base}/display-5678abcd.jpg", "image/jpeg", 2000, "d" * 64, 2048, 1536)

    assert not records.images.replace_renditions(alice.id, image.id, "wrong", thumb, display)
    assert records.images.usage(alice.id) == Usage(1000, 1)
    assert records.images.replace_renditions(
        alice.id, image.id, image.thumbnail.key, thumb, display
    )
    stored = records.images.get(alice.id, image.id)
    assert stored == replace(image, thumbnail=thumb, display=display)
    assert records.images.usage(alice.id) == Usage(900 + 300 + 2000, 1)
    # A second swap from the old key (a racing backfill) changes nothing.
    assert not records.images.replace_renditions(
        alice.id, image.id, image.thumbnail.key, thumb, None
    )
    assert records.images.usage(alice.id) == Usage(3200, 1)
    # Back to no display: the display's bytes are refunded.
    smaller = replace(thumb, key=f"{base}/thumb-9999abcd.jpg", size=200)
    assert records.images.replace_renditions(alice.id, image.id, thumb.key, smaller, None)
    assert records.images.get(alice.id, image.id) == replace(image, thumbnail=smaller)
    assert records.images.usage(alice.id) == Usage(1100, 1)
    # Only ready images, only the owner's.
    assert not records.images.replace_renditions("someone-else", image.id, smaller.key, thumb, None)
    records.images.set_status(alice.id, image.id, ImageStatus.READY, ImageStatus.DELETING)
    assert not records.images.replace_renditions(alice.id, image.id, smaller.key, thumb, None)
    assert records.images.usage(alice.id) == Usage(1100, 1)
