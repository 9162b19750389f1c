"""ImageRepository on Firestore: ``users/{owner}/images/{image_id}``.

Quota is reserved by atomic increments on the owner's document (see
``FirestoreImages.add``); listings are keyset pages on ``sort_at`` or ``created``,
and a search narrows by the rarest query word (``search_terms``).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from picbucket import search
from picbucket.adapters.firestore_codec import _image, _image_doc, _usage, _variant_doc
from picbucket.adapters.firestore_collections import BATCH_GET, IMAGES, USERS
from picbucket.adapters.firestore_errors import _translate
from picbucket.cursors import ORDER_TAKEN, check_order, decode_cursor, encode_cursor, sort_key
from picbucket.domain import (
    BackendUnavailable,
    Image,
    ImageStatus,
    NotFound,
    Page,
    Quota,
    QuotaExceeded,
    Usage,
    Variant,
)

if TYPE_CHECKING:
    from google.cloud.firestore import Client, DocumentReference

log = logging.getLogger(__name__)

# A delete retried this often after its record changed under it gives up as "busy".
REMOVE_ATTEMPTS = 5


class FirestoreImages:
    """``ImageRepository`` over ``users/{owner}/images/{image_id}``."""

    def __init__(self, client: Client) -> None:
        self._client = client

    def _ref(self, owner_id: str, image_id: str) -> DocumentReference:
        ref: DocumentReference = (
            self._client.collection(USERS).document(owner_id).collection(IMAGES).document(image_id)
        )
        return ref

    def add(self, image: Image, quota: Quota) -> None:
        """Insert the record and reserve its bytes in one atomic write; undo it if over quota.

        Reservation by fetch-and-add, not a read-modify-write transaction: one batch
        creates the record and increments the owner's counters, and the commit
        answers with the counters' new values. A transaction here read-locked the
        user document, so parallel uploads of one account queued and timed out on
        it ("Firestore is busy" for 20 of 24 at 4 in parallel). Increments never
        conflict, so 16 run at once. Over the quota, a second batch deletes the
        record and gives the reservation back. Nothing over the quota is ever
        kept; the worst case is that an upload which would fit is refused while a
        concurrent, refused one still holds its reservation (milliseconds).

        The owner is read after the reservation: ``deleting`` or ``disabled`` (or
        gone) undoes it and raises ``NotFound``. Read after, not before, so an
        account deletion marked later always finds this record in its scan.
        """
        from google.cloud import firestore

        user_ref = self._client.collection(USERS).document(image.owner_id)
        image_ref = self._ref(image.owner_id, image.id)
        charge = {"usage_bytes": image.bytes, "usage_images": 1}
        with _translate(conflict=f"Image {image.id} already exists."):
            batch = self._client.batch()
            batch.create(image_ref, _image_doc(image))
            # update() fails the whole batch when the user does not exist: NotFound.
            batch.update(user_ref, {k: firestore.Increment(v) for k, v in charge.items()})
            after = _counters(batch.commit()[1], list(charge))
        before = Usage(bytes=after["usage_bytes"] - image.bytes, images=after["usage_images"] - 1)
        try:
            quota.check(before, image.bytes)
            with _translate():
                owner = user_ref.get().to_dict() or {}
            if owner.get("deleting") or owner.get("disabled"):
                raise NotFound("No such user.")
        except (QuotaExceeded, NotFound):
            self._release(image_ref, user_ref, charge)
            raise

    def _release(
        self, image_ref: DocumentReference, user_ref: DocumentReference, charge: dict[str, int]
    ) -> None:
        """Undo a reservation; if Firestore fails now, reconcile removes the pending record."""
        from google.cloud import firestore

        batch = self._client.batch()
        batch.delete(image_ref)
        batch.update(user_ref, {k: firestore.Increment(-v) for k, v in charge.items()})
        try:
            with _translate():
                batch.commit()
        except BackendUnavailable:
            log.warning("releasing reservation %s failed; reconcile will", image_ref.id)

    def get(self, owner_id: str, image_id: str) -> Image | None:
        """Return the owner's image (any status), or None."""
        with _translate():
            snap = self._ref(owner_id, image_id).get()
        return _image(snap) if snap.exists else None

    def page(
        self,
        owner_id: str,
        cursor: str | None,
        limit: int,
        order: str = ORDER_TAKEN,
        query: str = "",
    ) -> Page[Image]:
        """Return ready images in ``order``, after ``cursor`` (one query, limit + 1).

        Documents from before ``sort_at`` (or ``search_terms``) existed are not in the
        "taken" listing (or a search) until ``FirestoreRecords.backfill_sort_keys`` has run.
        """
        from google.cloud import firestore
        from google.cloud.firestore_v1.base_query import FieldFilter

        key = {"taken": "sort_at", "uploaded": "created"}[check_order(order)]
        wanted = search.query_words(query)
        listing = self._client.collection(USERS).document(owner_id).collection(IMAGES)
        listing = listing.where(filter=FieldFilter("status", "==", ImageStatus.READY.value))
        if wanted:
            # One array_contains per query: the word with the fewest photos; the others
            # are checked below, on documents read in larger batches.
            narrowest = _narrowest(listing, wanted)
            listing = listing.where(filter=FieldFilter("search_terms", "array_contains", narrowest))
        batch_size = limit + 1 if len(wanted) < 2 else max(limit + 1, 300)
        listing = listing.order_by(key, direction=firestore.Query.DESCENDING).order_by(
            "__name__", direction=firestore.Query.DESCENDING
        )
        start: Any = None  # a {field: value} position, then the last snapshot read
        if cursor is not None:
            # decode_cursor checks the id's shape: it becomes a document path here.
            after, image_id = decode_cursor(cursor, order)
            start = {key: after, "__name__": image_id}
        items: list[Image] = []
        while len(items) <= limit:
            batch = listing.start_after(start) if start else listing
            with _translate():
                snaps = list(batch.limit(batch_size).stream())
            found = [_image(snap) for snap in snaps]
            items += [i for i in found if not wanted or search.matches(i.title, wanted)]
            if len(snaps) < batch_size:
                break
            start = snaps[-1]
        if len(items) <= limit:
            return Page(items=items, next_cursor=None)
        items = items[:limit]
        last = items[-1]
        return Page(items=items, next_cursor=encode_cursor(order, sort_key(last, order), last.id))

    def rename(self, owner_id: str, image_id: str, title: str) -> bool:
        """Set the title of a ready image (in a transaction, so never on a deleting one)."""
        changes = {"title": title, "search_terms": search.prefix_terms(title)}
        return self._change_if(owner_id, image_id, ImageStatus.READY, changes)

    def set_status(
        self, owner_id: str, image_id: str, expected: ImageStatus, status: ImageStatus
    ) -> bool:
        """Compare-and-set the status in a transaction."""
        return self._change_if(owner_id, image_id, expected, {"status": status.value})

    def _change_if(
        self, owner_id: str, image_id: str, expected: ImageStatus, changes: dict[str, Any]
    ) -> bool:
        from google.cloud import firestore

        ref = self._ref(owner_id, image_id)

        @firestore.transactional
        def run(transaction: Any) -> bool:
            snap = ref.get(transaction=transaction)
            if not snap.exists or (snap.to_dict() or {}).get("status") != expected.value:
                return False
            transaction.update(ref, changes)
            return True

        with _translate():
            return bool(run(self._client.transaction()))

    def remove(self, owner_id: str, image_id: str) -> None:
        """Delete the record and refund its bytes in one atomic write; missing is fine.

        No transaction (it would lock the record while two deletes race): read the
        record, then delete it only if unchanged since that read, together with the
        refund. A racing delete makes the precondition fail, and refunds once.
        """
        from google.api_core import exceptions as gexc
        from google.cloud import firestore

        user_ref = self._client.collection(USERS).document(owner_id)
        image_ref = self._ref(owner_id, image_id)
        for _attempt in range(REMOVE_ATTEMPTS):
            with _translate():
                snap = image_ref.get()
                if not snap.exists:
                    return
                image = _image(snap)
                batch = self._client.batch()
                batch.delete(
                    image_ref, option=self._client.write_option(last_update_time=snap.update_time)
                )
                batch.update(
                    user_ref,
                    {
                        "usage_bytes": firestore.Increment(-image.bytes),
                        "usage_images": firestore.Increment(-1),
                    },
                )
                try:
                    batch.commit()
                    return
                except gexc.FailedPrecondition:
                    continue  # changed or deleted since the read: read again
                except gexc.NotFound:
                    return  # the user document is gone: nothing left to refund
        raise BackendUnavailable("Firestore is busy; nothing was changed.")

    def usage(self, owner_id: str) -> Usage:
        """Return what the owner is charged for."""
        with _translate():
            snap = self._client.collection(USERS).document(owner_id).get()
        return _usage(snap.to_dict() or {}) if snap.exists else Usage()

    def unfinished(self, before: datetime) -> Iterator[Image]:
        """Yield pending or deleting records created before ``before``, all owners."""
        from google.cloud.firestore_v1.base_query import FieldFilter

        query = (
            self._client.collection_group(IMAGES)
            .where(
                filter=FieldFilter(
                    "status", "in", [ImageStatus.PENDING.value, ImageStatus.DELETING.value]
                )
            )
            .where(filter=FieldFilter("created", "<", before))
        )
        with _translate():
            for snap in query.stream():
                yield _image(snap)

    def unfinished_of(self, owner_id: str, limit: int) -> list[Image]:
        """Return up to ``limit`` of the owner's pending or deleting records."""
        from google.cloud.firestore_v1.base_query import FieldFilter

        statuses = [ImageStatus.PENDING.value, ImageStatus.DELETING.value]
        query = (
            self._client.collection(USERS)
            .document(owner_id)
            .collection(IMAGES)
            .where(filter=FieldFilter("status", "in", statuses))
            .limit(limit)
        )
        with _translate():
            return [_image(snap) for snap in query.stream()]

    def existing(self, refs: Iterable[tuple[str, str]]) -> set[tuple[str, str]]:
        """Return which (owner_id, image_id) pairs have a record, in batched reads."""
        wanted = list(dict.fromkeys(refs))
        found: set[tuple[str, str]] = set()
        for i in range(0, len(wanted), BATCH_GET):
            chunk = [self._ref(owner, image) for owner, image in wanted[i : i + BATCH_GET]]
            with _translate():
                # field_paths=[]: existence is all we need, so fetch no fields.
                for snap in self._client.get_all(chunk, field_paths=[]):
                    if snap.exists:
                        owner = snap.reference.parent.parent
                        found.add((owner.id, snap.id))
        return found

    def get_many(self, owner_id: str, image_ids: Sequence[str]) -> list[Image]:
        """Return the owner's images among ``image_ids``, in batched reads."""
        wanted = list(dict.fromkeys(image_ids))
        found: list[Image] = []
        for i in range(0, len(wanted), BATCH_GET):
            refs = [self._ref(owner_id, image_id) for image_id in wanted[i : i + BATCH_GET]]
            with _translate():
                found.extend(_image(snap) for snap in self._client.get_all(refs) if snap.exists)
        return found

    def move_many(
        self,
        owner_id: str,
        image_ids: Sequence[str],
        expected: ImageStatus,
        status: ImageStatus,
        trashed_at: datetime | None,
    ) -> list[str]:
        """Compare-and-set many statuses: one batched read and one batched write per chunk.

        Each write carries the document's read time as a precondition, so an image
        changed in between (a delete racing the trash) fails the batch, which is then
        read and written again (a batch is all-or-nothing).
        """
        wanted = list(dict.fromkeys(image_ids))
        moved: list[str] = []
        for i in range(0, len(wanted), BATCH_GET):
            moved += self._move_chunk(
                owner_id, wanted[i : i + BATCH_GET], expected, status, trashed_at
            )
        return moved

    def _move_chunk(
        self,
        owner_id: str,
        chunk: list[str],
        expected: ImageStatus,
        status: ImageStatus,
        trashed_at: datetime | None,
    ) -> list[str]:
        from google.api_core import exceptions as gexc

        for attempt in range(3):
            refs = [self._ref(owner_id, image_id) for image_id in chunk]
            with _translate():
                snaps = [snap for snap in self._client.get_all(refs) if snap.exists]
            batch = self._client.batch()
            moved = []
            for snap in snaps:
                if (snap.to_dict() or {}).get("status") != expected.value:
                    continue
                option = self._client.write_option(last_update_time=snap.update_time)
                batch.update(
                    snap.reference,
                    {"status": status.value, "trashed_at": trashed_at},
                    option=option,
                )
                moved.append(snap.id)
            if not moved:
                return []
            try:
                with _translate(passthrough=gexc.FailedPrecondition):
                    batch.commit()
                return moved
            except gexc.FailedPrecondition:
                if attempt == 2:
                    raise BackendUnavailable("Images changed meanwhile; try again.") from None
        return []  # not reached

    def trashed(self, owner_id: str, limit: int) -> list[Image]:
        """Return the owner's trashed images, most recently trashed first."""
        from google.cloud import firestore
        from google.cloud.firestore_v1.base_query import FieldFilter

        query = (
            self._client.collection(USERS)
            .document(owner_id)
            .collection(IMAGES)
            .where(filter=FieldFilter("status", "==", ImageStatus.TRASHED.value))
            .order_by("trashed_at", direction=firestore.Query.DESCENDING)
            .limit(limit)
        )
        with _translate():
            return [_image(snap) for snap in query.stream()]

    def trash_count(self, owner_id: str) -> int:
        """Return how many photos the owner has in the trash (a count aggregation)."""
        from google.cloud.firestore_v1.base_query import FieldFilter

        query = (
            self._client.collection(USERS)
            .document(owner_id)
            .collection(IMAGES)
            .where(filter=FieldFilter("status", "==", ImageStatus.TRASHED.value))
        )
        with _translate():
            return int(query.count().get()[0][0].value)

    def trashed_before(self, before: datetime, limit: int) -> list[Image]:
        """Return trashed images of any owner trashed before ``before``, oldest first."""
        from google.cloud.firestore_v1.base_query import FieldFilter

        query = (
            self._client.collection_group(IMAGES)
            .where(filter=FieldFilter("status", "==", ImageStatus.TRASHED.value))
            .where(filter=FieldFilter("trashed_at", "<", before))
            .order_by("trashed_at")
            .limit(limit)
        )
        with _translate():
            return [_image(snap) for snap in query.stream()]

    def by_sha256(self, owner_id: str, sha256: str) -> Image | None:
        """Return a ready or trashed image of the owner with this original hash.

        Uses the top-level ``sha256`` field: documents written before it existed are
        not found (their duplicates are charged as before).
        """
        from google.cloud.firestore_v1.base_query import FieldFilter

        query = (
            self._client.collection(USERS)
            .document(owner_id)
            .collection(IMAGES)
            .where(filter=FieldFilter("sha256", "==", sha256))
            .limit(10)
        )
        with _translate():
            images = [_image(snap) for snap in query.stream()]
        kept = (ImageStatus.READY, ImageStatus.TRASHED)
        return next((image for image in images if image.status in kept), None)

    def all_images(self, cursor: str | None, limit: int) -> Page[Image]:
        """Return every owner's records in (owner_id, id) order, after ``cursor``.

        One collection-group query ordered by document path: users/{owner}/images/{id}
        sorts by owner, then id, as the SQLite adapter does.
        """
        query = self._client.collection_group(IMAGES).order_by("__name__").limit(limit + 1)
        if cursor:
            owner_id, _, image_id = cursor.partition("/")
            query = query.start_after({"__name__": self._ref(owner_id, image_id)})
        with _translate():
            snaps = list(query.stream())
        images = [_image(snap) for snap in snaps[:limit]]
        more = len(snaps) > limit
        return Page(images, f"{images[-1].owner_id}/{images[-1].id}" if more else None)

    def replace_renditions(
        self,
        owner_id: str,
        image_id: str,
        old_thumb_key: str,
        thumbnail: Variant,
        display: Variant | None,
    ) -> bool:
        """Swap thumbnail and display if the thumbnail is still ``old_thumb_key``."""
        from google.cloud import firestore

        user_ref = self._client.collection(USERS).document(owner_id)
        image_ref = self._ref(owner_id, image_id)

        @firestore.transactional
        def run(transaction: Any) -> bool:
            snap = image_ref.get(transaction=transaction)
            if not snap.exists:
                return False
            image = _image(snap)
            if image.status is not ImageStatus.READY or image.thumbnail.key != old_thumb_key:
                return False
            transaction.update(
                image_ref,
                {
                    "thumbnail": _variant_doc(thumbnail),
                    "display": _variant_doc(display) if display else None,
                },
            )
            old = image.thumbnail.size + (image.display.size if image.display else 0)
            new = thumbnail.size + (display.size if display else 0)
            # The image read above makes a second charge impossible (as in remove).
            transaction.update(user_ref, {"usage_bytes": firestore.Increment(new - old)})
            return True

        with _translate():
            return bool(run(self._client.transaction()))


def _counters(result: Any, fields: list[str]) -> dict[str, int]:
    """Return the values a commit's increments produced, by field name.

    The client sends one transform per field, in sorted field-path order, and the
    commit's ``transform_results`` follow that order.
    """
    values = [int(value.integer_value) for value in result.transform_results]
    return dict(zip(sorted(fields), values, strict=True))


def _narrowest(listing: Any, wanted: list[str]) -> str:
    """Return the query word that the fewest of the owner's photos have (one count each)."""
    if len(wanted) == 1:
        return wanted[0]
    from google.cloud.firestore_v1.base_query import FieldFilter

    counts = {}
    with _translate():
        for word in wanted:
            query = listing.where(filter=FieldFilter("search_terms", "array_contains", word))
            counts[word] = int(query.count().get()[0][0].value)
    return min(wanted, key=lambda word: counts[word])
