"""Firestore repositories: users, their images, share links and API tokens.

Layout (indexes in ``firestore.indexes.json``):

- ``users/{user_id}`` — profile, session epoch, and the usage counters the quota
  is checked against, changed only by atomic increments (see ``FirestoreImages.add``).
- ``users/{user_id}/images/{image_id}`` — image records; a subcollection, so every
  image read is owner-scoped by its path, not by a filter someone could forget.
- ``shares/{share_id}`` and ``tokens/{token_id}`` — top level, because a visitor's
  link or a bearer token is looked up by hash before anyone's id is known.

``google.cloud`` is imported lazily: the local default never loads it.
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from picbucket import search
from picbucket.adapters import firestore_people
from picbucket.cursors import ORDER_TAKEN, check_order, decode_cursor, encode_cursor, sort_key
from picbucket.domain import (
    AccountChange,
    ApiToken,
    AuditEntry,
    BackendUnavailable,
    Conflict,
    Image,
    ImageStatus,
    NotFound,
    Page,
    Quota,
    QuotaExceeded,
    Share,
    Usage,
    User,
    Variant,
)
from picbucket.settings import Settings

if TYPE_CHECKING:
    from google.cloud.firestore import Client, DocumentReference

log = logging.getLogger(__name__)

USERS = "users"
IMAGES = "images"
SHARES = "shares"
TOKENS = "tokens"
# get_all batches: Firestore's BatchGetDocuments takes a few hundred refs happily;
# 300 keeps each request small when reconcile checks thousands of blob prefixes.
BATCH_GET = 300
# A batched write holds at most 500 operations.
BATCH_WRITE = 400
# A delete retried this often after its record changed under it gives up as "busy".
REMOVE_ATTEMPTS = 5


class FirestoreRecords:
    """All four repositories over one Firestore client, plus a health check."""

    def __init__(self, client: Client) -> None:
        """Use ``client`` (already pointed at a project and database)."""
        self.client = client
        self.users = FirestoreUsers(client)
        self.images = FirestoreImages(client)
        self.shares = FirestoreShares(client)
        self.tokens = FirestoreTokens(client)

    @classmethod
    def from_settings(cls, settings: Settings) -> FirestoreRecords:
        """Build a client; FIRESTORE_EMULATOR_HOST, if set, points it at the emulator."""
        from google.cloud import firestore

        project = settings.gcp_project or None
        if project is None and os.environ.get("FIRESTORE_EMULATOR_HOST"):
            project = "picbucket-emulated"
        client = firestore.Client(project=project, database=settings.firestore_database)
        return cls(client)

    def ping(self) -> None:
        """Raise ``BackendUnavailable`` if Firestore cannot be reached."""
        with _translate():
            # Reading a document that never exists costs one read and proves the
            # database answers with our credentials.
            self.client.collection("_health").document("ping").get(timeout=5)

    def backfill_sort_keys(self, batch_size: int = BATCH_WRITE) -> int:
        """Give image documents their missing ``sort_at`` and ``search_terms``; count changes.

        Documents written before ``sort_at`` existed are invisible to the "taken"
        listing (Firestore leaves documents without the ordered field out of a
        query). Idempotent and resumable: it writes only documents still lacking the
        field, a batch at a time, so it can be stopped and run again.
        """
        changed = 0
        last: Any = None
        while True:
            query = self.client.collection_group(IMAGES).order_by("__name__").limit(batch_size)
            if last is not None:
                query = query.start_after(last)
            with _translate():
                snaps = list(query.stream())
                batch = self.client.batch()
                pending = 0
                for snap in snaps:
                    data = snap.to_dict() or {}
                    changes: dict[str, Any] = {}
                    if data.get("sort_at") is None and "created" in data:
                        changes["sort_at"] = data.get("taken_at") or data["created"]
                    if "search_terms" not in data and "title" in data:
                        changes["search_terms"] = search.prefix_terms(data["title"])
                    if changes:
                        batch.update(snap.reference, changes)
                        pending += 1
                if pending:
                    batch.commit()
            changed += pending
            if len(snaps) < batch_size:
                return changed
            last = snaps[-1]

    def close(self) -> None:
        """Close the client's channels."""
        self.client.close()  # type: ignore[no-untyped-call]


class FirestoreUsers:
    """``UserRepository`` over ``users/{user_id}``."""

    def __init__(self, client: Client) -> None:
        self._client = client

    def get(self, user_id: str) -> User | None:
        """Return the user, or None."""
        with _translate():
            snap = self._client.collection(USERS).document(user_id).get()
        return _user(snap) if snap.exists else None

    def upsert(self, user: User) -> User:
        """Create the user, or refresh what sign-in says (epoch and account state kept).

        An account being deleted is not refreshed: the caller sees ``deleting``.
        """
        from google.cloud import firestore

        ref = self._client.collection(USERS).document(user.id)
        signed_in = {
            "email": user.email,
            "name": user.name,
            "role": user.role,
            "last_sign_in": user.last_sign_in,
            "hosted_domain": user.hosted_domain,
        }

        @firestore.transactional
        def run(transaction: Any) -> User:
            snap = ref.get(transaction=transaction)
            if snap.exists:
                stored = _user(snap)
                if stored.deleting:
                    return stored
                transaction.update(ref, signed_in)
                return replace(
                    stored,
                    email=user.email,
                    name=user.name,
                    role=user.role,
                    last_sign_in=user.last_sign_in,
                    hosted_domain=user.hosted_domain,
                )
            transaction.create(ref, _user_doc(user))
            return replace(user, usage=Usage())

        with _translate():
            result: User = run(self._client.transaction())
        return result

    def set_session_epoch(self, user_id: str, epoch: str) -> None:
        """Replace the session epoch; a missing user is left alone."""
        from google.api_core import exceptions as gexc

        with contextlib.suppress(gexc.NotFound), _translate(passthrough=gexc.NotFound):
            self._client.collection(USERS).document(user_id).update({"session_epoch": epoch})

    def change_account(
        self, user_id: str, change: AccountChange, audit: AuditEntry | None = None
    ) -> User | None:
        """Apply ``change`` and write ``audit`` in one transaction; None if no such user."""
        from google.cloud import firestore

        ref = self._client.collection(USERS).document(user_id)
        sets: dict[str, Any] = {}
        if change.disabled is not None:
            sets["disabled"] = change.disabled
        if change.quota is not None:
            sets["quota_bytes"] = change.quota.max_bytes
            sets["quota_images"] = change.quota.max_images
        if change.default_quota:
            sets["quota_bytes"] = sets["quota_images"] = None
        if change.deleting:
            sets["deleting"] = True

        @firestore.transactional
        def run(transaction: Any) -> User | None:
            snap = ref.get(transaction=transaction)
            if not snap.exists:
                return None
            stored = _user(snap)
            if sets and not stored.deleting:
                transaction.update(ref, sets)
            if audit is not None:
                entry = firestore_people.audit_ref(self._client, audit)
                transaction.create(entry, firestore_people.audit_doc(audit))
            return stored

        with _translate():
            found = run(self._client.transaction())
        return None if found is None else self.get(user_id)

    def remove(self, user_id: str) -> None:
        """Delete the user document."""
        with _translate():
            self._client.collection(USERS).document(user_id).delete()

    def marked_deleting(self) -> list[User]:
        """Return every user whose account deletion has not finished."""
        from google.cloud.firestore_v1.base_query import FieldFilter

        query = self._client.collection(USERS).where(filter=FieldFilter("deleting", "==", True))
        with _translate():
            return [_user(snap) for snap in query.stream()]

    def search(self, prefix: str, cursor: str | None, limit: int) -> Page[User]:
        """Return users whose email starts with ``prefix``, by email then id."""
        query = firestore_people.search_query(self._client, prefix, cursor, limit)
        with _translate():
            users = [_user(snap) for snap in query.stream()]
        next_cursor = firestore_people.next_people_cursor([(u.email, u.id) for u in users], limit)
        return Page(users[:limit], next_cursor)

    def add_audit(self, entry: AuditEntry) -> None:
        """Append an audit record."""
        with _translate():
            firestore_people.audit_ref(self._client, entry).create(
                firestore_people.audit_doc(entry)
            )

    def audit_page(self, cursor: str | None, limit: int) -> Page[AuditEntry]:
        """Return audit records, newest first."""
        with _translate():
            return firestore_people.audit_page(self._client, cursor, limit)


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


def _first_with(client: Client, collection: str, field: str, value: str) -> Any:
    """Return the first document snapshot whose ``field`` equals ``value``, or None."""
    from google.cloud.firestore_v1.base_query import FieldFilter

    query = client.collection(collection).where(filter=FieldFilter(field, "==", value)).limit(1)
    with _translate():
        snaps = list(query.stream())
    return snaps[0] if snaps else None


class FirestoreShares:
    """``ShareRepository`` over ``shares/{share_id}``."""

    def __init__(self, client: Client) -> None:
        self._client = client

    def add(self, share: Share) -> None:
        """Insert a share link (create-only)."""
        with _translate(conflict="That share link already exists."):
            self._client.collection(SHARES).document(share.id).create(_share_doc(share))

    def by_token_hash(self, token_hash: str) -> Share | None:
        """Return the share with this token hash, live or not."""
        snap = _first_with(self._client, SHARES, "token_hash", token_hash)
        return _share(snap) if snap else None

    def for_owner(self, owner_id: str, image_id: str | None = None) -> list[Share]:
        """Return the owner's shares (optionally of one image), newest first."""
        from google.cloud import firestore
        from google.cloud.firestore_v1.base_query import FieldFilter

        query = self._client.collection(SHARES).where(
            filter=FieldFilter("owner_id", "==", owner_id)
        )
        if image_id is not None:
            query = query.where(filter=FieldFilter("image_id", "==", image_id))
        query = query.order_by("created", direction=firestore.Query.DESCENDING)
        with _translate():
            return [_share(snap) for snap in query.stream()]

    def get(self, owner_id: str, share_id: str) -> Share | None:
        """Return one of the owner's shares, or None."""
        with _translate():
            snap = self._client.collection(SHARES).document(share_id).get()
        if not snap.exists:
            return None
        share = _share(snap)
        return share if share.owner_id == owner_id else None

    def revoke(self, owner_id: str, share_id: str, when: datetime) -> bool:
        """Mark a share revoked; return False if the owner has no such share."""
        # Keep the first revocation time: revoking twice is not news.
        return self._update_owned(
            owner_id,
            share_id,
            lambda doc: {} if doc.get("revoked") is not None else {"revoked": when},
        )

    def remove_for_image(self, owner_id: str, image_id: str) -> None:
        """Delete every share of an image."""
        self._remove_where(owner_id, "image_id", image_id)

    def set_password(
        self, owner_id: str, share_id: str, password_hash: str | None, epoch: str
    ) -> bool:
        """Replace a share's password hash and epoch; False if the owner has no such share."""
        return self._update_owned(
            owner_id, share_id, lambda _doc: {"password_hash": password_hash, "epoch": epoch}
        )

    def remove_for_album(self, owner_id: str, album_id: str) -> None:
        """Delete every link to an album."""
        self._remove_where(owner_id, "album_id", album_id)

    def _update_owned(
        self,
        owner_id: str,
        share_id: str,
        changes: Callable[[dict[str, Any]], dict[str, Any]],
    ) -> bool:
        """Apply ``changes(current doc)`` to one of the owner's shares in a transaction.

        Return False (and change nothing) if the owner has no such share.
        """
        from google.cloud import firestore

        ref = self._client.collection(SHARES).document(share_id)

        @firestore.transactional
        def run(transaction: Any) -> bool:
            snap = ref.get(transaction=transaction)
            doc = (snap.to_dict() or {}) if snap.exists else {}
            if not snap.exists or doc.get("owner_id") != owner_id:
                return False
            update = changes(doc)
            if update:
                transaction.update(ref, update)
            return True

        with _translate():
            result: bool = run(self._client.transaction())
        return result

    def _remove_where(self, owner_id: str, field: str, value: str) -> None:
        """Delete the owner's shares whose ``field`` equals ``value``."""
        from google.cloud.firestore_v1.base_query import FieldFilter

        # Two equality filters: served by merging single-field indexes, no composite.
        query = (
            self._client.collection(SHARES)
            .where(filter=FieldFilter("owner_id", "==", owner_id))
            .where(filter=FieldFilter(field, "==", value))
        )
        with _translate():
            _delete_all(self._client, [snap.reference for snap in query.stream()])

    def count_view(self, share_id: str) -> bool:
        """Use one of a share's views; False if none is left (or no such share).

        Optimistic: the write carries the read's update time as a precondition, so of
        parallel opens of the last view one write lands and the others re-read and
        find none left. (A transaction does the same with locks, slower under load.)
        """
        from google.api_core import exceptions as gexc

        ref = self._client.collection(SHARES).document(share_id)
        with _translate():
            for _ in range(_COUNT_VIEW_ATTEMPTS):
                snap = ref.get()
                if not snap.exists:
                    return False  # revoked and deleted with its image since it was opened
                doc = snap.to_dict() or {}
                views, limit = int(doc.get("views", 0)), doc.get("max_views")
                if limit is not None and views >= limit:
                    return False
                precondition = self._client.write_option(last_update_time=snap.update_time)
                try:
                    ref.update({"views": views + 1}, option=precondition)
                except gexc.FailedPrecondition:
                    continue  # another open counted first: read again
                return True
        raise BackendUnavailable("Too many people are opening this link at once; try again.")


# Re-reads a view may take against parallel opens before the store is called busy.
_COUNT_VIEW_ATTEMPTS = 50


class FirestoreTokens:
    """``TokenRepository`` over ``tokens/{token_id}``."""

    def __init__(self, client: Client) -> None:
        self._client = client

    def add(self, token: ApiToken) -> None:
        """Insert a token record (create-only)."""
        with _translate(conflict="That token already exists."):
            self._client.collection(TOKENS).document(token.id).create(_token_doc(token))

    def by_hash(self, token_hash: str) -> ApiToken | None:
        """Return the token with this hash, or None."""
        snap = _first_with(self._client, TOKENS, "token_hash", token_hash)
        return _token(snap) if snap else None

    def for_owner(self, owner_id: str) -> list[ApiToken]:
        """Return the owner's tokens, newest first."""
        from google.cloud import firestore
        from google.cloud.firestore_v1.base_query import FieldFilter

        query = (
            self._client.collection(TOKENS)
            .where(filter=FieldFilter("owner_id", "==", owner_id))
            .order_by("created", direction=firestore.Query.DESCENDING)
        )
        with _translate():
            return [_token(snap) for snap in query.stream()]

    def revoke(self, owner_id: str, token_id: str) -> bool:
        """Delete a token; return False if the owner has no such token."""
        from google.cloud import firestore

        ref = self._client.collection(TOKENS).document(token_id)

        @firestore.transactional
        def run(transaction: Any) -> bool:
            snap = ref.get(transaction=transaction)
            if not snap.exists or (snap.to_dict() or {}).get("owner_id") != owner_id:
                return False
            transaction.delete(ref)
            return True

        with _translate():
            result: bool = run(self._client.transaction())
        return result

    def remove_for_owner(self, owner_id: str) -> int:
        """Delete every token of the owner; return how many."""
        from google.cloud.firestore_v1.base_query import FieldFilter

        query = self._client.collection(TOKENS).where(
            filter=FieldFilter("owner_id", "==", owner_id)
        )
        with _translate():
            refs = [snap.reference for snap in query.stream()]
            _delete_all(self._client, refs)
        return len(refs)

    def touch(self, token_id: str, when: datetime) -> None:
        """Record that a token was just used; a revoked token is left alone."""
        from google.api_core import exceptions as gexc

        with contextlib.suppress(gexc.NotFound), _translate(passthrough=gexc.NotFound):
            self._client.collection(TOKENS).document(token_id).update({"last_used": when})


# -- errors --------------------------------------------------------------------


@contextlib.contextmanager
def _translate(
    conflict: str = "", passthrough: type[BaseException] | None = None
) -> Iterator[None]:
    """Map Google client errors to domain errors; domain errors pass through."""
    from google.api_core import exceptions as gexc
    from google.auth import exceptions as auth_exc

    try:
        yield
    except (NotFound, Conflict, QuotaExceeded, BackendUnavailable):
        raise
    except gexc.GoogleAPICallError as exc:
        if passthrough is not None and isinstance(exc, passthrough):
            raise
        if isinstance(exc, gexc.NotFound):
            raise NotFound("No such record.") from exc
        if isinstance(exc, gexc.AlreadyExists | gexc.Conflict) and conflict:
            raise Conflict(conflict) from exc
        raise BackendUnavailable("Firestore failed; nothing was changed.") from exc
    except (gexc.GoogleAPIError, auth_exc.GoogleAuthError, ValueError) as exc:
        # ValueError: the transaction decorator gives up after its retries with one.
        if isinstance(exc, ValueError) and "transaction" not in str(exc).lower():
            raise
        raise BackendUnavailable("Firestore is busy; nothing was changed.") from exc


def _delete_all(client: Client, refs: list[DocumentReference]) -> None:
    for i in range(0, len(refs), BATCH_WRITE):
        batch = client.batch()
        for ref in refs[i : i + BATCH_WRITE]:
            batch.delete(ref)
        batch.commit()


# -- mapping -------------------------------------------------------------------


def _dt(value: Any) -> datetime:
    """Return a plain aware datetime (Firestore hands back a nanosecond subclass)."""
    if not isinstance(value, datetime):
        raise TypeError(f"expected a timestamp, got {type(value).__name__}")
    return (
        datetime(
            value.year,
            value.month,
            value.day,
            value.hour,
            value.minute,
            value.second,
            value.microsecond,
            tzinfo=UTC,
        )
        if value.tzinfo is not None
        else value.replace(tzinfo=UTC)
    )


def _opt_dt(value: Any) -> datetime | None:
    return None if value is None else _dt(value)


def _user_doc(user: User) -> dict[str, Any]:
    return {
        "issuer": user.issuer,
        "subject": user.subject,
        "email": user.email,
        "name": user.name,
        "created": user.created,
        "session_epoch": user.session_epoch,
        "usage_bytes": user.usage.bytes,
        "usage_images": user.usage.images,
        "role": user.role,
        "disabled": user.disabled,
        "deleting": user.deleting,
        "quota_bytes": user.quota.max_bytes if user.quota else None,
        "quota_images": user.quota.max_images if user.quota else None,
        "last_sign_in": user.last_sign_in,
        "hosted_domain": user.hosted_domain,
    }


def _counters(result: Any, fields: list[str]) -> dict[str, int]:
    """Return the values a commit's increments produced, by field name.

    The client sends one transform per field, in sorted field-path order, and the
    commit's ``transform_results`` follow that order.
    """
    values = [int(value.integer_value) for value in result.transform_results]
    return dict(zip(sorted(fields), values, strict=True))


def _usage(data: dict[str, Any]) -> Usage:
    return Usage(bytes=int(data.get("usage_bytes", 0)), images=int(data.get("usage_images", 0)))


def _user(snap: Any) -> User:
    data = snap.to_dict() or {}
    return User(
        id=snap.id,
        issuer=data["issuer"],
        subject=data["subject"],
        email=data["email"],
        name=data["name"],
        created=_dt(data["created"]),
        session_epoch=data["session_epoch"],
        usage=_usage(data),
        # Documents written before roles and account states existed read as defaults.
        role=data.get("role", "user"),
        disabled=bool(data.get("disabled", False)),
        deleting=bool(data.get("deleting", False)),
        quota=(
            Quota(max_bytes=int(data["quota_bytes"]), max_images=int(data["quota_images"]))
            if data.get("quota_bytes") is not None
            else None
        ),
        last_sign_in=_opt_dt(data.get("last_sign_in")),
        hosted_domain=data.get("hosted_domain", ""),
    )


def _variant_doc(variant: Variant) -> dict[str, Any]:
    return {
        "key": variant.key,
        "content_type": variant.content_type,
        "size": variant.size,
        "sha256": variant.sha256,
        "width": variant.width,
        "height": variant.height,
    }


def _variant(data: dict[str, Any]) -> Variant:
    # width/height are absent from documents written before pipeline v2: 0 = unknown.
    return Variant(
        key=data["key"],
        content_type=data["content_type"],
        size=int(data["size"]),
        sha256=data["sha256"],
        width=int(data.get("width", 0)),
        height=int(data.get("height", 0)),
    )


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


def _image_doc(image: Image) -> dict[str, Any]:
    return {
        "owner_id": image.owner_id,
        "title": image.title,
        "search_terms": search.prefix_terms(image.title),
        "width": image.width,
        "height": image.height,
        "original": _variant_doc(image.original),
        "thumbnail": _variant_doc(image.thumbnail),
        "display": _variant_doc(image.display) if image.display else None,
        "created": image.created,
        "taken_at": image.taken_at,
        # Stored, not computed: Firestore can only order by a field that is there.
        "sort_at": sort_key(image, ORDER_TAKEN),
        "status": image.status.value,
        "trashed_at": image.trashed_at,
        # Top level: the nested variant maps are not indexed (firestore.indexes.json).
        "sha256": image.original.sha256,
    }


def _image(snap: Any) -> Image:
    # Tolerant of documents from before display/taken_at existed: they read as None.
    data = snap.to_dict() or {}
    display = data.get("display")
    return Image(
        id=snap.id,
        owner_id=data["owner_id"],
        title=data["title"],
        width=int(data["width"]),
        height=int(data["height"]),
        original=_variant(data["original"]),
        thumbnail=_variant(data["thumbnail"]),
        display=_variant(display) if display else None,
        created=_dt(data["created"]),
        taken_at=_opt_dt(data.get("taken_at")),
        status=ImageStatus(data["status"]),
        trashed_at=_opt_dt(data.get("trashed_at")),
    )


def _share_doc(share: Share) -> dict[str, Any]:
    return {
        "owner_id": share.owner_id,
        "image_id": share.image_id,
        "token_hash": share.token_hash,
        "created": share.created,
        "expires": share.expires,
        "revoked": share.revoked,
        "views": share.views,
        "album_id": share.album_id,
        "password_hash": share.password_hash,
        "epoch": share.epoch,
        "max_views": share.max_views,
        "allow_originals": share.allow_originals,
    }


def _share(snap: Any) -> Share:
    data = snap.to_dict() or {}
    return Share(
        id=snap.id,
        owner_id=data["owner_id"],
        image_id=data["image_id"],
        token_hash=data["token_hash"],
        created=_dt(data["created"]),
        expires=_opt_dt(data.get("expires")),
        revoked=_opt_dt(data.get("revoked")),
        # Documents written before view counting have no field: none counted yet.
        views=int(data.get("views") or 0),
        # Documents from before album links, passwords and view limits: the defaults.
        album_id=data.get("album_id"),
        password_hash=data.get("password_hash"),
        epoch=str(data.get("epoch") or ""),
        max_views=data.get("max_views"),
        allow_originals=bool(data.get("allow_originals", True)),
    )


def _token_doc(token: ApiToken) -> dict[str, Any]:
    return {
        "owner_id": token.owner_id,
        "name": token.name,
        "token_hash": token.token_hash,
        "created": token.created,
        "last_used": token.last_used,
    }


def _token(snap: Any) -> ApiToken:
    data = snap.to_dict() or {}
    return ApiToken(
        id=snap.id,
        owner_id=data["owner_id"],
        name=data["name"],
        token_hash=data["token_hash"],
        created=_dt(data["created"]),
        last_used=_opt_dt(data.get("last_used")),
    )
