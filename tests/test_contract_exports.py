"""Contract of background export records (ExportRepository), on SQLite and Firestore."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest

from picbucket.domain import Conflict, Export, ExportStatus, new_id
from picbucket.ports import ExportRepository
from test_contract_records import T0, open_records

ALICE, BOB = "alice-owner", "bob-owner"


@pytest.fixture(params=["sqlite", pytest.param("firestore", marks=pytest.mark.gcp)])
def exports(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[ExportRepository]:
    """Yield each adapter's ExportRepository over an empty database."""
    store = open_records(request.param, tmp_path, request)
    if request.param == "sqlite":
        from picbucket.adapters.sqlite_exports import SqliteExports

        repo: ExportRepository = SqliteExports(store)
    else:
        from picbucket.adapters.firestore_exports import FirestoreExports

        repo = FirestoreExports(store.client)
    try:
        yield repo
    finally:
        store.close()


def export(owner: str, created: datetime = T0, **fields: object) -> Export:
    """Return a PENDING export made at ``created`` that expires a day later."""
    made = Export(
        id=new_id(),
        owner_id=owner,
        status=ExportStatus.PENDING,
        created=created,
        updated=created,
        expires=created + timedelta(days=1),
    )
    return replace(made, **fields)  # type: ignore[arg-type]


def is_utc(value: datetime) -> bool:
    return value.tzinfo is not None and value.utcoffset() == timedelta(0)


def test_add_then_get_returns_the_same_export(exports: ExportRepository) -> None:
    made = export(ALICE)
    exports.add(made)
    assert exports.get(ALICE, made.id) == made
    assert exports.get(ALICE, "no-such-export") is None


def test_adding_the_same_id_twice_is_a_conflict(exports: ExportRepository) -> None:
    made = export(ALICE)
    exports.add(made)
    with pytest.raises(Conflict):
        exports.add(replace(made, status=ExportStatus.READY, photos_total=9))
    assert exports.get(ALICE, made.id) == made


def test_datetimes_read_back_as_aware_utc(exports: ExportRepository) -> None:
    # Written with another offset, with microseconds: the same instants come back, in UTC.
    plus_two = timezone(timedelta(hours=2))
    created = datetime(2026, 3, 4, 14, 30, 15, 123456, tzinfo=plus_two)
    made = export(
        ALICE,
        created,
        updated=created + timedelta(seconds=7),
        expires=created + timedelta(days=7),
    )
    exports.add(made)
    back = exports.get(ALICE, made.id)
    assert back is not None
    assert (back.created, back.updated, back.expires) == (made.created, made.updated, made.expires)
    assert all(is_utc(when) for when in (back.created, back.updated, back.expires))
    assert back.created == datetime(2026, 3, 4, 12, 30, 15, 123456, tzinfo=UTC)


def test_latest_is_the_newest_by_created_not_by_insertion(exports: ExportRepository) -> None:
    assert exports.latest(ALICE) is None
    newest = export(ALICE, T0 + timedelta(hours=2))
    oldest = export(ALICE, T0)
    middle = export(ALICE, T0 + timedelta(hours=1))
    for made in (newest, oldest, middle):
        exports.add(made)
    assert exports.latest(ALICE) == newest
    assert exports.for_owner(ALICE) == [newest, middle, oldest]


def test_save_round_trips_progress_status_error_and_expiry(exports: ExportRepository) -> None:
    made = export(ALICE)
    exports.add(made)
    running = replace(
        made,
        status=ExportStatus.RUNNING,
        updated=T0 + timedelta(minutes=3),
        photos_total=5000,
        photos_done=1234,
        bytes_written=2_100_000_000,
    )
    assert exports.save(running) is True
    assert exports.get(ALICE, made.id) == running
    failed = replace(
        running,
        status=ExportStatus.FAILED,
        updated=T0 + timedelta(minutes=9),
        error="The export could not read one of your photos.",
    )
    assert exports.save(failed) is True
    assert exports.get(ALICE, made.id) == failed
    ready = replace(
        failed,
        status=ExportStatus.READY,
        error=None,
        photos_done=5000,
        bytes_written=9_800_000_000,  # past 32 bits: a 10 GB export
        expires=T0 + timedelta(days=7),
    )
    assert exports.save(ready) is True
    assert exports.get(ALICE, made.id) == ready
    assert exports.latest(ALICE) == ready


def test_save_keeps_the_owner_and_creation_time(exports: ExportRepository) -> None:
    made = export(ALICE)
    exports.add(made)
    moved = replace(made, created=T0 + timedelta(days=3), status=ExportStatus.RUNNING)
    assert exports.save(moved) is True
    assert exports.get(ALICE, made.id) == replace(moved, created=made.created)


def test_save_of_an_absent_export_is_false_and_stores_nothing(exports: ExportRepository) -> None:
    ghost = export(ALICE, status=ExportStatus.READY)
    assert exports.save(ghost) is False
    assert exports.get(ALICE, ghost.id) is None
    assert exports.for_owner(ALICE) == []


def test_remove_deletes_and_absent_is_fine(exports: ExportRepository) -> None:
    kept, gone = export(ALICE), export(ALICE, T0 + timedelta(hours=1))
    exports.add(kept)
    exports.add(gone)
    exports.remove(ALICE, gone.id)
    assert exports.get(ALICE, gone.id) is None
    assert exports.for_owner(ALICE) == [kept]
    exports.remove(ALICE, gone.id)  # again: not an error
    exports.remove(ALICE, "never-existed")
    assert exports.save(replace(gone, status=ExportStatus.RUNNING)) is False
    assert exports.for_owner(ALICE) == [kept]


def test_expired_sweeps_every_owner_oldest_expiry_first_within_limit(
    exports: ExportRepository,
) -> None:
    now = T0 + timedelta(days=30)
    # Created in an order unlike their expiry, across two owners.
    soon = export(BOB, T0 + timedelta(days=3), expires=now - timedelta(hours=1))
    oldest = export(ALICE, T0 + timedelta(days=2), expires=now - timedelta(days=5))
    middle = export(ALICE, T0, expires=now - timedelta(days=1))
    at_now = export(BOB, T0, expires=now)  # not before ``now``: kept
    later = export(ALICE, T0, expires=now + timedelta(days=1))
    for made in (soon, oldest, middle, at_now, later):
        exports.add(made)
    assert exports.expired(now, 10) == [oldest, middle, soon]
    assert exports.expired(now, 2) == [oldest, middle]
    assert exports.expired(now, 1) == [oldest]
    assert exports.expired(T0, 10) == []
    # A batch removed is gone from the next sweep.
    for made in exports.expired(now, 2):
        exports.remove(made.owner_id, made.id)
    assert exports.expired(now, 10) == [soon]


def test_expired_sees_a_saved_expiry(exports: ExportRepository) -> None:
    now = T0 + timedelta(days=30)
    made = export(ALICE, expires=now + timedelta(days=1))
    exports.add(made)
    assert exports.expired(now, 10) == []
    ready = replace(made, status=ExportStatus.READY, expires=now - timedelta(seconds=1))
    assert exports.save(ready)
    assert exports.expired(now, 10) == [ready]


def test_another_owners_export_is_invisible_and_cannot_be_changed(
    exports: ExportRepository,
) -> None:
    mine = export(ALICE, photos_total=10)
    exports.add(mine)
    assert exports.get(BOB, mine.id) is None
    assert exports.latest(BOB) is None
    assert exports.for_owner(BOB) == []
    # Bob saving Alice's id (as his own) changes nothing and creates nothing.
    hijack = replace(mine, owner_id=BOB, status=ExportStatus.READY, error="taken over")
    assert exports.save(hijack) is False
    assert exports.get(BOB, mine.id) is None
    assert exports.for_owner(BOB) == []
    exports.remove(BOB, mine.id)
    assert exports.get(ALICE, mine.id) == mine
    assert exports.for_owner(ALICE) == [mine]


def test_the_same_id_under_two_owners_stays_apart(exports: ExportRepository) -> None:
    alices = export(ALICE, photos_total=1)
    bobs = replace(alices, owner_id=BOB, photos_total=2)
    exports.add(alices)
    exports.add(bobs)
    assert exports.save(replace(bobs, status=ExportStatus.FAILED, error="boom"))
    assert exports.get(ALICE, alices.id) == alices
    exports.remove(BOB, bobs.id)
    assert exports.get(ALICE, alices.id) == alices
    assert exports.get(BOB, bobs.id) is None


STALLED_BEFORE = T0 + timedelta(minutes=50)


def test_add_unless_busy_inserts_when_nothing_is_in_progress(exports: ExportRepository) -> None:
    made = export(ALICE, T0 + timedelta(hours=1))
    assert exports.add_unless_busy(made, STALLED_BEFORE) == made
    assert exports.for_owner(ALICE) == [made]


@pytest.mark.parametrize("status", [ExportStatus.PENDING, ExportStatus.RUNNING])
def test_add_unless_busy_returns_the_export_in_progress(
    exports: ExportRepository, status: ExportStatus
) -> None:
    # Updated exactly at the limit still counts as alive.
    busy = export(ALICE, T0, status=status, updated=STALLED_BEFORE, photos_done=3)
    exports.add(busy)
    second = export(ALICE, T0 + timedelta(hours=1))
    assert exports.add_unless_busy(second, STALLED_BEFORE) == busy
    assert exports.get(ALICE, second.id) is None
    assert exports.for_owner(ALICE) == [busy]


@pytest.mark.parametrize(
    "earlier",
    [
        {"status": ExportStatus.RUNNING, "updated": STALLED_BEFORE - timedelta(microseconds=1)},
        {"status": ExportStatus.PENDING, "updated": T0},
        {"status": ExportStatus.READY, "updated": STALLED_BEFORE + timedelta(minutes=1)},
        {"status": ExportStatus.FAILED, "updated": STALLED_BEFORE + timedelta(minutes=1)},
    ],
    ids=["stalled-running", "stalled-pending", "ready", "failed"],
)
def test_add_unless_busy_inserts_past_a_stalled_or_finished_export(
    exports: ExportRepository, earlier: dict[str, object]
) -> None:
    old = export(ALICE, T0, **earlier)
    exports.add(old)
    made = export(ALICE, T0 + timedelta(hours=1))
    assert exports.add_unless_busy(made, STALLED_BEFORE) == made
    assert exports.for_owner(ALICE) == [made, old]


def test_another_owners_export_in_progress_does_not_block(exports: ExportRepository) -> None:
    bobs = export(BOB, T0 + timedelta(hours=1), status=ExportStatus.RUNNING)
    exports.add(bobs)
    alices = export(ALICE, T0 + timedelta(hours=1))
    assert exports.add_unless_busy(alices, STALLED_BEFORE) == alices
    assert exports.for_owner(ALICE) == [alices]
    assert exports.for_owner(BOB) == [bobs]


def test_racing_add_unless_busy_creates_exactly_one(exports: ExportRepository) -> None:
    # Eight quick clicks on "Prepare export" at once: one build, and every click sees it.
    racers = 8
    start = threading.Barrier(racers)
    made = [export(ALICE, T0 + timedelta(hours=1)) for _ in range(racers)]

    def click(mine: Export) -> Export:
        start.wait(timeout=30)
        return exports.add_unless_busy(mine, STALLED_BEFORE)

    with ThreadPoolExecutor(max_workers=racers) as pool:
        returned = list(pool.map(click, made))
    stored = exports.for_owner(ALICE)
    assert len(stored) == 1
    assert stored[0] in made
    assert {got.id for got in returned} == {stored[0].id}


def test_a_ready_export_is_final(exports: ExportRepository) -> None:
    """A second run of one export cannot turn it back into one in progress, or fail it."""
    made = export(ALICE)
    exports.add(made)
    ready = replace(made, status=ExportStatus.READY, photos_done=3, bytes_written=300)
    assert exports.save(ready)
    for later in (ExportStatus.RUNNING, ExportStatus.FAILED):
        assert not exports.save(replace(made, status=later, photos_done=1))
    assert exports.get(ALICE, made.id) == ready


def test_a_finished_holder_gives_the_next_request_its_turn(exports: ExportRepository) -> None:
    """After the export in progress ends, the next request adds a new one (and the next
    one after that gets it): the owner's turn is not held by a finished export."""
    first = export(ALICE, T0 + timedelta(hours=1))
    assert exports.add_unless_busy(first, STALLED_BEFORE) == first
    assert exports.save(replace(first, status=ExportStatus.READY))
    second = export(ALICE, T0 + timedelta(hours=2))
    assert exports.add_unless_busy(second, STALLED_BEFORE) == second
    third = export(ALICE, T0 + timedelta(hours=3))
    assert exports.add_unless_busy(third, STALLED_BEFORE) == second
    exports.remove(ALICE, second.id)
    assert exports.add_unless_busy(third, STALLED_BEFORE) == third
