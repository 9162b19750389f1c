"""Records written by the previous release read back, page and keep working today.

SQLite: ``fixtures/previous-release.sqlite3`` was written by the previous release's own
code (see ``fixtures/README.md``). Firestore: the documents below are exactly what the
previous release's ``_user_doc``/``_image_doc``/``_share_doc``/``_token_doc`` wrote,
stored with the real client into the emulator.
"""

from __future__ import annotations

import shutil
import sqlite3
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from picbucket.adapters.sqlite_migrations import LATEST, SchemaTooNew, schema_version
from picbucket.adapters.sqlite_records import SqliteRecords
from picbucket.domain import (
    Export,
    ExportStatus,
    Image,
    ImageStatus,
    Quota,
    QuotaExceeded,
    Usage,
    Variant,
    hash_secret,
    user_id_for,
)
from picbucket.settings import Settings

FIXTURE = Path(__file__).parent / "fixtures" / "previous-release.sqlite3"
ALICE = user_id_for("https://idp.example", "alice")
OLD1, OLD2 = "oldImage1-AAAAAAAAAAAA", "oldImage2-BBBBBBBBBBBB"
SHARE_TOKEN = "oldShareToken-DDDDDDDD"
API_TOKEN = "pb_oldApiToken"
BIG = Quota(max_bytes=10**9, max_images=1000)


def old_image(image_id: str, n: int, size: int) -> Image:
    """Return the image the previous release stored, as today's code should read it."""
    base = f"users/{ALICE}/{image_id}"
    return Image(
        id=image_id,
        owner_id=ALICE,
        title=f"Old photo {n}",
        width=800,
        height=600,
        # width/height 0: the previous release did not record them per variant.
        original=Variant(f"{base}/original.jpg", "image/jpeg", size, "a" * 64),
        thumbnail=Variant(f"{base}/thumb.jpg", "image/jpeg", 300, "b" * 64),
        created=datetime(2025, 6, 1 + n, 10, 0, tzinfo=UTC),
        status=ImageStatus.READY,
    )


OLD_IMAGES = [old_image(OLD1, 1, 5000), old_image(OLD2, 2, 7000)]


def new_image(image_id: str = "newImage1-FFFFFFFFFFFF") -> Image:
    """Return an upload with every field the new pipeline fills in."""
    base = f"users/{ALICE}/{image_id}"
    return Image(
        id=image_id,
        owner_id=ALICE,
        title="New photo",
        width=4032,
        height=3024,
        original=Variant(f"{base}/original.jpg", "image/jpeg", 4000, "c" * 64, 4032, 3024),
        thumbnail=Variant(f"{base}/thumb.jpg", "image/jpeg", 200, "d" * 64, 512, 384),
        display=Variant(f"{base}/display.jpg", "image/jpeg", 800, "e" * 64, 2048, 1536),
        created=datetime(2026, 1, 1, tzinfo=UTC),
        # Taken long before the old uploads: first by upload date, last by date taken.
        taken_at=datetime(2010, 8, 1, 7, 30, tzinfo=UTC),
        status=ImageStatus.READY,
    )


def check_previous_release_records(store: Any) -> None:
    """Assert what every store must show after opening the previous release's data."""
    user = store.users.get(ALICE)
    assert user is not None
    assert (user.email, user.name, user.session_epoch) == (
        "alice@example.com",
        "Alice",
        "epoch-alice-0000000000",
    )
    assert user.usage == Usage(bytes=5300 + 7300, images=2)
    for image in OLD_IMAGES:
        assert store.images.get(ALICE, image.id) == image
    newest_first = [OLD_IMAGES[1], OLD_IMAGES[0]]
    for order in ("taken", "uploaded"):
        first = store.images.page(ALICE, None, 1, order)
        assert first.items == newest_first[:1]
        assert first.next_cursor is not None
        rest = store.images.page(ALICE, first.next_cursor, 1, order)
        assert rest.items == newest_first[1:]
        assert rest.next_cursor is None
    share = store.shares.by_token_hash(hash_secret(SHARE_TOKEN))
    assert share is not None
    assert (share.id, share.image_id, share.revoked) == ("oldShare1-CCCCCCCCCCCC", OLD1, None)
    assert share.is_live(datetime(2030, 1, 1, tzinfo=UTC))
    # Written before views were counted: none counted yet, and counting starts from there.
    assert share.views == 0
    store.shares.count_view(share.id)
    recounted = store.shares.get(ALICE, share.id)
    assert recounted is not None and recounted.views == 1
    token = store.tokens.by_hash(hash_secret(API_TOKEN))
    assert token is not None
    assert (token.id, token.name, token.owner_id) == ("oldToken1-EEEEEEEEEEEE", "ShareX", ALICE)


def check_new_uploads_work(store: Any) -> None:
    """Add an image with the new fields next to the old ones; quota and orders hold."""
    fresh = new_image()
    # The quota still counts the old images: 12,600 bytes are already used.
    with pytest.raises(QuotaExceeded):
        store.images.add(fresh, Quota(max_bytes=12_600 + fresh.bytes - 1, max_images=10))
    store.images.add(fresh, BIG)
    assert store.images.get(ALICE, fresh.id) == fresh
    assert store.images.usage(ALICE) == Usage(bytes=12_600 + 5000, images=3)
    by_taken = store.images.page(ALICE, None, 10, "taken").items
    by_upload = store.images.page(ALICE, None, 10, "uploaded").items
    assert [i.id for i in by_taken] == [OLD2, OLD1, fresh.id]
    assert [i.id for i in by_upload] == [fresh.id, OLD2, OLD1]
    store.images.remove(ALICE, OLD1)
    assert store.images.usage(ALICE) == Usage(bytes=7300 + 5000, images=2)
    assert store.images.rename(ALICE, OLD2, "Renamed")
    renamed = store.images.get(ALICE, OLD2)
    assert renamed == replace(OLD_IMAGES[1], title="Renamed")


# -- SQLite --------------------------------------------------------------------


@pytest.fixture
def old_db(tmp_path: Path) -> Path:
    """Return a copy of the previous release's database file."""
    path = tmp_path / "picbucket.sqlite3"
    shutil.copyfile(FIXTURE, path)
    return path


@pytest.fixture
def opened(old_db: Path) -> Iterator[SqliteRecords]:
    """Open the previous release's file with today's code."""
    store = SqliteRecords(old_db)
    try:
        yield store
    finally:
        store.close()


def test_fixture_is_the_previous_release_schema() -> None:
    conn = sqlite3.connect(FIXTURE)
    try:
        assert schema_version(conn) == 0
        columns = [row[1] for row in conn.execute("PRAGMA table_info(images)")]
    finally:
        conn.close()
    assert len(columns) == 15
    assert "taken_at" not in columns


def test_previous_release_db_is_marked_then_migrated(opened: SqliteRecords) -> None:
    assert opened.schema_versions == (0, LATEST)
    with opened.pool.borrow() as conn:
        assert schema_version(conn) == LATEST


def test_previous_release_records_read_back(opened: SqliteRecords) -> None:
    check_previous_release_records(opened)


def test_previous_release_db_takes_new_uploads(opened: SqliteRecords) -> None:
    check_new_uploads_work(opened)


def test_previous_release_db_gains_an_empty_exports_table_that_works(
    opened: SqliteRecords,
) -> None:
    from picbucket.adapters.sqlite_exports import SqliteExports

    exports = SqliteExports(opened)
    assert exports.for_owner(ALICE) == []
    assert exports.latest(ALICE) is None
    assert exports.expired(datetime(2100, 1, 1, tzinfo=UTC), 10) == []
    made = Export(
        id="export1-GGGGGGGGGGGG",
        owner_id=ALICE,
        status=ExportStatus.PENDING,
        created=datetime(2026, 2, 1, tzinfo=UTC),
        updated=datetime(2026, 2, 1, tzinfo=UTC),
        expires=datetime(2026, 2, 2, tzinfo=UTC),
    )
    exports.add(made)
    ready = replace(made, status=ExportStatus.READY, photos_total=2, photos_done=2)
    assert exports.save(ready)
    assert exports.latest(ALICE) == ready
    assert exports.expired(datetime(2026, 3, 1, tzinfo=UTC), 10) == [ready]
    # The old records are untouched by the new table.
    check_previous_release_records(opened)


def test_opening_again_changes_nothing(old_db: Path) -> None:
    first = SqliteRecords(old_db)
    check_new_uploads_work(first)
    first.close()
    again = SqliteRecords(old_db)
    try:
        assert again.schema_versions == (LATEST, LATEST)
        assert [i.id for i in again.images.page(ALICE, None, 10).items] == [
            OLD2,
            "newImage1-FFFFFFFFFFFF",
        ]
    finally:
        again.close()


def _schema(path: Path) -> dict[str, list[tuple[Any, ...]]]:
    conn = sqlite3.connect(path)
    try:
        tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")]
        shape = {t: list(conn.execute(f"PRAGMA table_info({t})")) for t in sorted(tables)}
        indexes = conn.execute(
            "SELECT name, tbl_name FROM sqlite_master WHERE type='index' AND sql IS NOT NULL"
        )
        shape["indexes"] = sorted(indexes)
    finally:
        conn.close()
    return shape


def test_migrated_db_has_the_same_schema_as_a_new_one(
    opened: SqliteRecords, tmp_path: Path
) -> None:
    fresh = SqliteRecords(tmp_path / "fresh" / "picbucket.sqlite3")
    fresh.close()
    assert fresh.schema_versions == (0, LATEST)
    assert _schema(opened.path) == _schema(fresh.path)


def test_a_newer_database_refuses_to_start(old_db: Path) -> None:
    conn = sqlite3.connect(old_db)
    conn.execute(f"PRAGMA user_version = {LATEST + 1}")
    conn.close()
    with pytest.raises(SchemaTooNew) as info:
        SqliteRecords(old_db)
    message = str(info.value)
    assert "\n" not in message
    assert f"version {LATEST + 1}" in message
    # Nothing was touched: the file is still at the newer version.
    conn = sqlite3.connect(old_db)
    try:
        assert schema_version(conn) == LATEST + 1
    finally:
        conn.close()


# -- Firestore -----------------------------------------------------------------

# What the previous release's _user_doc/_image_doc/_share_doc/_token_doc returned.
OLD_USER_DOC = {
    "issuer": "https://idp.example",
    "subject": "alice",
    "email": "alice@example.com",
    "name": "Alice",
    "created": datetime(2025, 6, 1, 9, 0, tzinfo=UTC),
    "session_epoch": "epoch-alice-0000000000",
    "usage_bytes": 12_600,
    "usage_images": 2,
}


def old_image_doc(image: Image) -> dict[str, Any]:
    """Return the document the previous release's ``_image_doc`` wrote for ``image``."""
    return {
        "owner_id": image.owner_id,
        "title": image.title,
        "width": image.width,
        "height": image.height,
        "original": {
            "key": image.original.key,
            "content_type": image.original.content_type,
            "size": image.original.size,
            "sha256": image.original.sha256,
        },
        "thumbnail": {
            "key": image.thumbnail.key,
            "content_type": image.thumbnail.content_type,
            "size": image.thumbnail.size,
            "sha256": image.thumbnail.sha256,
        },
        "created": image.created,
        "status": image.status.value,
    }


OLD_SHARE_DOC = {
    "owner_id": ALICE,
    "image_id": OLD1,
    "token_hash": hash_secret(SHARE_TOKEN),
    "created": datetime(2025, 6, 5, tzinfo=UTC),
    "expires": None,
    "revoked": None,
}
OLD_TOKEN_DOC = {
    "owner_id": ALICE,
    "name": "ShareX",
    "token_hash": hash_secret(API_TOKEN),
    "created": datetime(2025, 6, 6, tzinfo=UTC),
    "last_used": None,
}


@pytest.fixture
def old_firestore(firestore_project: str) -> Iterator[Any]:
    """A Firestore database holding exactly what the previous release wrote."""
    from picbucket.adapters.firestore_records import FirestoreRecords

    store = FirestoreRecords.from_settings(
        Settings(record_store="firestore", gcp_project=firestore_project)
    )
    db = store.client
    db.collection("users").document(ALICE).set(OLD_USER_DOC)
    for image in OLD_IMAGES:
        images = db.collection("users").document(ALICE).collection("images")
        images.document(image.id).set(old_image_doc(image))
    db.collection("shares").document("oldShare1-CCCCCCCCCCCC").set(OLD_SHARE_DOC)
    db.collection("tokens").document("oldToken1-EEEEEEEEEEEE").set(OLD_TOKEN_DOC)
    try:
        yield store
    finally:
        store.close()


@pytest.mark.gcp
def test_previous_release_documents_read_back_after_the_backfill(old_firestore: Any) -> None:
    for image in OLD_IMAGES:
        assert old_firestore.images.get(ALICE, image.id) == image
    # Firestore leaves documents without the ordered field out of a query: this is
    # why the backfill exists.
    assert old_firestore.images.page(ALICE, None, 10, "taken").items == []
    assert old_firestore.backfill_sort_keys(batch_size=1) == 2
    assert old_firestore.backfill_sort_keys() == 0  # idempotent
    check_previous_release_records(old_firestore)


@pytest.mark.gcp
def test_previous_release_documents_take_new_uploads(old_firestore: Any) -> None:
    old_firestore.backfill_sort_keys()
    check_new_uploads_work(old_firestore)
