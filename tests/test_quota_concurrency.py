"""One account uploading in parallel: every upload succeeds and the quota stays exact.

Run on both record stores. On Firestore this is what a read-modify-write
transaction on the user document could not do (4 in parallel: 20 of 24 refused as
"busy"); the reservation by atomic increment in ``FirestoreImages.add`` can.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from picbucket.domain import ImageStatus, Quota, QuotaExceeded, Usage
from test_contract_records import Records, make_image, make_user, open_records

PARALLEL = 16
SIZE = 1000


@pytest.fixture(params=["sqlite", pytest.param("firestore", marks=pytest.mark.gcp)])
def records(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Records]:
    """Yield each adapter's repositories over an empty database."""
    store = open_records(request.param, tmp_path, request)
    try:
        yield Records(store.users, store.images, store.shares, store.tokens)
    finally:
        store.close()


def run_together(count: int, work: Callable[[int], str]) -> list[str]:
    """Run ``work(i)`` in ``count`` threads released at the same moment; return outcomes."""
    barrier = threading.Barrier(count)
    outcomes: list[str] = []
    lock = threading.Lock()

    def one(i: int) -> None:
        barrier.wait()
        try:
            outcome = work(i)
        except Exception as exc:  # the outcome list must show every failure, not hide it
            outcome = f"{type(exc).__name__}: {exc}"
        with lock:
            outcomes.append(outcome)

    threads = [threading.Thread(target=one, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    return outcomes


def test_sixteen_parallel_uploads_of_one_account_all_succeed(records: Records) -> None:
    user = make_user(records)
    images = [make_image(user, size=SIZE, status=ImageStatus.PENDING) for _ in range(PARALLEL)]
    quota = Quota(max_bytes=10**9, max_images=1000)

    def upload(i: int) -> str:
        records.images.add(images[i], quota)
        ok = records.images.set_status(
            user.id, images[i].id, ImageStatus.PENDING, ImageStatus.READY
        )
        return "stored" if ok else "lost"

    assert run_together(PARALLEL, upload) == ["stored"] * PARALLEL
    assert records.images.usage(user.id) == Usage(bytes=PARALLEL * SIZE, images=PARALLEL)
    assert len(records.images.page(user.id, None, 100).items) == PARALLEL


@pytest.mark.parametrize("room", [1, 5])
def test_parallel_uploads_never_pass_the_quota(records: Records, room: int) -> None:
    """16 race for room for ``room`` images: at most that many are kept, usage matches.

    The stated bound (README, "Quota under concurrency"): never over the quota; at
    worst an upload that would fit is refused while a refused one still holds its
    reservation, so at least one upload is always kept.
    """
    user = make_user(records)
    images = [make_image(user, size=SIZE, status=ImageStatus.PENDING) for _ in range(PARALLEL)]
    quota = Quota(max_bytes=room * SIZE, max_images=1000)

    def upload(i: int) -> str:
        try:
            records.images.add(images[i], quota)
        except QuotaExceeded:
            return "refused"
        return "stored"

    outcomes = run_together(PARALLEL, upload)
    stored = outcomes.count("stored")
    assert outcomes.count("refused") == PARALLEL - stored, outcomes
    assert 1 <= stored <= room
    assert records.images.usage(user.id) == Usage(bytes=stored * SIZE, images=stored)
    kept = [records.images.get(user.id, image.id) for image in images]
    assert sum(image is not None for image in kept) == stored


def test_deletes_in_parallel_refund_exactly(records: Records) -> None:
    user = make_user(records)
    images = [make_image(user, size=SIZE) for _ in range(PARALLEL)]
    quota = Quota(max_bytes=10**9, max_images=1000)
    for image in images:
        records.images.add(image, quota)

    def delete(i: int) -> str:
        records.images.remove(user.id, images[i % len(images)].id)
        return "removed"

    # Each image deleted twice at once: refunded once.
    assert run_together(2 * PARALLEL, delete) == ["removed"] * (2 * PARALLEL)
    assert records.images.usage(user.id) == Usage()


@pytest.mark.gcp
def test_a_firestore_user_document_without_counters_starts_from_zero(
    tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    """Documents from before the counters existed (or with them removed) count as 0."""
    from google.cloud import firestore

    store = open_records("firestore", tmp_path, request)
    try:
        records = Records(store.users, store.images, store.shares, store.tokens)
        user = make_user(records)
        store.client.collection("users").document(user.id).update(
            {"usage_bytes": firestore.DELETE_FIELD, "usage_images": firestore.DELETE_FIELD}
        )
        assert records.images.usage(user.id) == Usage()
        records.images.add(make_image(user, size=SIZE), Quota(max_bytes=SIZE, max_images=1))
        assert records.images.usage(user.id) == Usage(bytes=SIZE, images=1)
        with pytest.raises(QuotaExceeded):
            records.images.add(make_image(user, size=1), Quota(max_bytes=SIZE, max_images=2))
    finally:
        store.close()
