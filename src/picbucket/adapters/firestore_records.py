"""Firestore repositories: users, their images, share links and API tokens.

Layout (indexes in ``firestore.indexes.json``):

- ``users/{user_id}`` — profile, session epoch, and the usage counters the quota
  is checked against (kept on the user so one transaction reads and bumps them).
- ``users/{user_id}/images/{image_id}`` — image records; a subcollection, so every
  image read is owner-scoped by its path, not by a filter someone could forget.
- ``shares/{share_id}`` and ``tokens/{token_id}`` — top level, because a visitor's
  link or a bearer token is looked up by hash before anyone's id is known.

``google.cloud`` is imported lazily: the local default never loads it.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterable, Iterator
from dataclasses import replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from picbucket.cursors import ORDER_TAKEN, check_order, decode_cursor, encode_cursor, sort_key
from picbucket.domain import (
    ApiToken,
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

USERS = "users"
IMAGES = "images"
SHARES = "shares"
TOKENS = "tokens"
# get_all batches: Firestore's BatchGetDocuments takes a few hundred refs happily;
# 300 keeps each request small when reconcile checks thousands of blob prefixes.
BATCH_GET = 300
# A batched write holds at most 500 operations.
BATCH_WRITE = 400


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
        """Give every image document without ``sort_at`` one; return how many changed.

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
                    if data.get("sort_at") is None and "created" in data:
                        key = data.get("taken_at") or data["created"]
                        batch.update(snap.reference, {"sort_at": key})
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
        """Create the user, or refresh email and name (the epoch is kept); return stored."""
        from google.cloud import firestore

        ref = self._client.collection(USERS).document(user.id)

        @firestore.transactional
        def run(transaction: Any) -> User:
            snap = ref.get(transaction=transaction)
            if snap.exists:
                transaction.update(ref, {"email": user.email, "name": user.name})
                return replace(_user(snap), email=user.email, name=user.name)
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
        """Insert the record and charge the owner in one transaction (or raise)."""
        from google.cloud import firestore

        user_ref = self._client.collection(USERS).document(image.owner_id)
        image_ref = self._ref(image.owner_id, image.id)

        @firestore.transactional
        def run(transaction: Any) -> None:
            # Firestore transactions lock what they read: a racing add for the same
            # owner waits or retries and then sees these counters already bumped.
            user_snap = user_ref.get(transaction=transaction)
            if not user_snap.exists:
                raise NotFound("No such user.")
            usage = _usage(user_snap.to_dict() or {})
            quota.check(usage, image.bytes)
            transaction.create(image_ref, _image_doc(image))
            transaction.update(
                user_ref,
                {
                    "usage_bytes": usage.bytes + image.bytes,
                    "usage_images": usage.images + 1,
                },
            )

        with _translate(conflict=f"Image {image.id} already exists."):
            run(self._client.transaction())

    def get(self, owner_id: str, image_id: str) -> Image | None:
        """Return the owner's image (any status), or None."""
        with _translate():
            snap = self._ref(owner_id, image_id).get()
        return _image(snap) if snap.exists else None

    def page(
        self, owner_id: str, cursor: str | None, limit: int, order: str = ORDER_TAKEN
    ) -> Page[Image]:
        """Return ready images in ``order``, after ``cursor`` (one query, limit + 1).

        Documents from before ``sort_at`` existed are not in the "taken" listing
        until ``FirestoreRecords.backfill_sort_keys`` has run.
        """
        from google.cloud import firestore
        from google.cloud.firestore_v1.base_query import FieldFilter

        key = {"taken": "sort_at", "uploaded": "created"}[check_order(order)]
        query = (
            self._client.collection(USERS)
            .document(owner_id)
            .collection(IMAGES)
            .where(filter=FieldFilter("status", "==", ImageStatus.READY.value))
            .order_by(key, direction=firestore.Query.DESCENDING)
            .order_by("__name__", direction=firestore.Query.DESCENDING)
        )
        if cursor is not None:
            # decode_cursor checks the id's shape: it becomes a document path here.
            after, image_id = decode_cursor(cursor, order)
            query = query.start_after({key: after, "__name__": image_id})
        with _translate():
            items = [_image(snap) for snap in query.limit(limit + 1).stream()]
        if len(items) <= limit:
            return Page(items=items, next_cursor=None)
        items = items[:limit]
        last = items[-1]
        return Page(items=items, next_cursor=encode_cursor(order, sort_key(last, order), last.id))

    def rename(self, owner_id: str, image_id: str, title: str) -> bool:
        """Set the title of a ready image (in a transaction, so never on a deleting one)."""
        return self._change_if(owner_id, image_id, ImageStatus.READY, {"title": title})

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
        """Delete the record and refund its bytes in one transaction; missing is fine."""
        from google.cloud import firestore

        user_ref = self._client.collection(USERS).document(owner_id)
        image_ref = self._ref(owner_id, image_id)

        @firestore.transactional
        def run(transaction: Any) -> None:
            snap = image_ref.get(transaction=transaction)
            if not snap.exists:
                return
            image = _image(snap)
            transaction.delete(image_ref)
            # Increment rather than read-modify-write: no need to lock the user doc,
            # and the image read above already makes a double refund impossible.
            transaction.update(
                user_ref,
                {
                    "usage_bytes": firestore.Increment(-image.bytes),
                    "usage_images": firestore.Increment(-1),
                },
            )

        with _translate():
            run(self._client.transaction())

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
        from google.cloud import firestore

        ref = self._client.collection(SHARES).document(share_id)

        @firestore.transactional
        def run(transaction: Any) -> bool:
            snap = ref.get(transaction=transaction)
            if not snap.exists or (snap.to_dict() or {}).get("owner_id") != owner_id:
                return False
            # Keep the first revocation time: revoking twice is not news.
            if (snap.to_dict() or {}).get("revoked") is None:
                transaction.update(ref, {"revoked": when})
            return True

        with _translate():
            result: bool = run(self._client.transaction())
        return result

    def remove_for_image(self, owner_id: str, image_id: str) -> None:
        """Delete every share of an image."""
        from google.cloud.firestore_v1.base_query import FieldFilter

        # Two equality filters: served by merging single-field indexes, no composite.
        query = (
            self._client.collection(SHARES)
            .where(filter=FieldFilter("owner_id", "==", owner_id))
            .where(filter=FieldFilter("image_id", "==", image_id))
        )
        with _translate():
            refs = [snap.reference for snap in query.stream()]
            _delete_all(self._client, refs)


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
    }


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


def _image_doc(image: Image) -> dict[str, Any]:
    return {
        "owner_id": image.owner_id,
        "title": image.title,
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
    )


def _share_doc(share: Share) -> dict[str, Any]:
    return {
        "owner_id": share.owner_id,
        "image_id": share.image_id,
        "token_hash": share.token_hash,
        "created": share.created,
        "expires": share.expires,
        "revoked": share.revoked,
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
