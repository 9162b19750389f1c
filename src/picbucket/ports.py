"""The ports: what the services need from storage, as small typed protocols.

Adapters in ``picbucket.adapters`` implement them (local disk, SQLite, Google Cloud
Storage, Firestore); ``wiring.py`` picks which. Nothing SQL-, file- or GCP-shaped
crosses these signatures.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import BinaryIO, Protocol

from picbucket.domain import (
    AccountChange,
    Album,
    ApiToken,
    AuditEntry,
    Export,
    Image,
    ImageStatus,
    Page,
    Quota,
    Share,
    Usage,
    User,
    Variant,
    utcnow,
)


@dataclass(frozen=True)
class BlobInfo:
    """What the store recorded for a blob it wrote."""

    key: str
    size: int
    updated: datetime


@dataclass(frozen=True)
class UploadTicket:
    """A place the browser may PUT one file to directly, bypassing the app."""

    url: str
    method: str
    headers: dict[str, str]
    expires: datetime


class BlobStore(Protocol):
    """Image bytes, addressed by keys the app generates."""

    def put(
        self,
        key: str,
        data: BinaryIO,
        *,
        content_type: str,
        cache_control: str | None = None,
        download_name: str | None = None,
    ) -> BlobInfo:
        """Store ``data`` under ``key``; raise ``Conflict`` if the key exists (create-only)."""
        ...

    def put_stream(
        self,
        key: str,
        chunks: Iterable[bytes],
        *,
        content_type: str,
        download_name: str | None = None,
    ) -> BlobInfo:
        """Store bytes as ``chunks`` produces them, with no copy of the whole in memory or
        on local disk (a 10 GB export); create-only like ``put``. Nothing is left under
        ``key`` if ``chunks`` raises. ``download_name``: saved as an attachment."""
        ...

    def open(self, key: str, *, start: int = 0, end: int | None = None) -> BinaryIO:
        """Stream bytes ``start``..``end`` (inclusive; None: to the end); ``NotFound`` if absent."""
        ...

    def delete(self, key: str) -> None:
        """Remove a blob; a missing key is not an error."""
        ...

    def scan(self, prefix: str) -> Iterator[BlobInfo]:
        """Yield every blob under ``prefix``, in key order (for reconcile)."""
        ...

    def scan_partial(self) -> Iterator[BlobInfo]:
        """Yield leftovers of writes that never finished (temp files of a killed process)."""
        ...

    def delete_partial(self, key: str) -> None:
        """Remove one leftover that ``scan_partial`` yielded; refuse any other key."""
        ...

    def download_url(self, key: str, ttl: timedelta) -> str | None:
        """Return a short-lived URL for the bytes, or None: the app streams them."""
        ...

    def upload_ticket(
        self, key: str, content_type: str, size: int, ttl: timedelta
    ) -> UploadTicket | None:
        """Return a direct browser upload target for exactly ``size`` bytes, or None."""
        ...


class UserRepository(Protocol):
    """People who have signed in."""

    def get(self, user_id: str) -> User | None:
        """Return the user, or None."""
        ...

    def upsert(self, user: User) -> User:
        """Create the user, or refresh email and name (keeping the epoch); return stored."""
        ...

    def set_session_epoch(self, user_id: str, epoch: str) -> None:
        """Replace the session epoch, ending every session issued before."""
        ...

    def change_account(
        self, user_id: str, change: AccountChange, audit: AuditEntry | None = None
    ) -> User | None:
        """Apply ``change`` and write ``audit`` in one transaction; None if no such user.

        A user already marked ``deleting`` is left as is (and returned): nothing
        brings an account back from deletion.
        """
        ...

    def remove(self, user_id: str) -> None:
        """Delete the user record (its images, shares and tokens are gone already)."""
        ...

    def marked_deleting(self) -> list[User]:
        """Return every user whose account deletion has not finished."""
        ...

    def search(self, prefix: str, cursor: str | None, limit: int) -> Page[User]:
        """Return users whose email starts with ``prefix``, by email then id (keyset)."""
        ...

    def add_audit(self, entry: AuditEntry) -> None:
        """Append an audit record for an action that is not an account change."""
        ...

    def audit_page(self, cursor: str | None, limit: int) -> Page[AuditEntry]:
        """Return audit records, newest first (keyset)."""
        ...


class ImageRepository(Protocol):
    """Image records, always scoped by owner."""

    def add(self, image: Image, quota: Quota) -> None:
        """Insert a record and charge its bytes to the owner in one transaction.

        Raise ``QuotaExceeded`` (and change nothing) if that would pass ``quota``.
        """
        ...

    def get(self, owner_id: str, image_id: str) -> Image | None:
        """Return the owner's image (any status), or None."""
        ...

    def page(
        self,
        owner_id: str,
        cursor: str | None,
        limit: int,
        order: str = "taken",
        query: str = "",
    ) -> Page[Image]:
        """Return ready images in ``order``, after ``cursor`` (from a page of the same order).

        Orders (``picbucket.cursors.ORDERS``), newest first, ties broken by id:
        ``"taken"`` by date taken, else upload date; ``"uploaded"`` by upload date.
        A non-empty ``query`` keeps only titles it matches (``picbucket.search.matches``).
        Raise ``InvalidCursor`` for a cursor that is malformed or of another order,
        and ``InvalidInput`` for an unknown order.
        """
        ...

    def rename(self, owner_id: str, image_id: str, title: str) -> bool:
        """Set the title of a ready image; return False if there is no ready image."""
        ...

    def set_status(
        self, owner_id: str, image_id: str, expected: ImageStatus, status: ImageStatus
    ) -> bool:
        """Move an image from ``expected`` to ``status`` atomically; False if it was not there.

        Compare-and-set, so a rename or a second delete racing a delete can never
        bring a record back to ``ready`` once it is ``deleting``.
        """
        ...

    def remove(self, owner_id: str, image_id: str) -> None:
        """Delete the record and refund its bytes in one transaction; missing is fine."""
        ...

    def usage(self, owner_id: str) -> Usage:
        """Return what the owner is charged for."""
        ...

    def unfinished(self, before: datetime) -> Iterator[Image]:
        """Yield pending or deleting records created before ``before`` (all owners)."""
        ...

    def unfinished_of(self, owner_id: str, limit: int) -> list[Image]:
        """Return up to ``limit`` of the owner's pending or deleting records."""
        ...

    def existing(self, refs: Iterable[tuple[str, str]]) -> set[tuple[str, str]]:
        """Return which (owner_id, image_id) pairs have a record, in one batch."""
        ...

    def all_images(self, cursor: str | None, limit: int) -> Page[Image]:
        """Return every owner's records, any status, in (owner_id, id) order after ``cursor``.

        For maintenance (the renditions backfill): keyset pages, so a long walk is
        neither skewed nor slowed by records added or removed while it runs.
        """
        ...

    def replace_renditions(
        self,
        owner_id: str,
        image_id: str,
        old_thumb_key: str,
        thumbnail: Variant,
        display: Variant | None,
    ) -> bool:
        """Swap a ready image's thumbnail and display; False if it is not there any more.

        Compare-and-set on the thumbnail key, so two backfills (or a backfill racing
        a delete) change a record once. The owner's charged bytes move by the
        difference in the same transaction; the quota is not checked (the image is
        already theirs).
        """
        ...

    def get_many(self, owner_id: str, image_ids: Sequence[str]) -> list[Image]:
        """Return the owner's images among ``image_ids`` (any status), in batched reads."""
        ...

    def move_many(
        self,
        owner_id: str,
        image_ids: Sequence[str],
        expected: ImageStatus,
        status: ImageStatus,
        trashed_at: datetime | None,
    ) -> list[str]:
        """Move each image still in ``expected`` to ``status``; return the ids moved.

        Sets ``trashed_at`` on each moved image. Done in batches inside the store's
        limits; an image in any other status is left alone (compare-and-set).
        """
        ...

    def trashed(self, owner_id: str, limit: int) -> list[Image]:
        """Return the owner's trashed images, most recently trashed first."""
        ...

    def trash_count(self, owner_id: str) -> int:
        """Return how many photos the owner has in the trash (one counting query)."""
        ...

    def trashed_before(self, before: datetime, limit: int) -> list[Image]:
        """Return up to ``limit`` trashed images of any owner trashed before ``before``."""
        ...

    def by_sha256(self, owner_id: str, sha256: str) -> Image | None:
        """Return a ready or trashed image of the owner whose original has this hash."""
        ...


class ShareRepository(Protocol):
    """Public share links."""

    def add(self, share: Share) -> None:
        """Insert a share link."""
        ...

    def by_token_hash(self, token_hash: str) -> Share | None:
        """Return the share with this token hash, live or not."""
        ...

    def for_owner(self, owner_id: str, image_id: str | None = None) -> list[Share]:
        """Return the owner's shares (optionally of one image), newest first."""
        ...

    def get(self, owner_id: str, share_id: str) -> Share | None:
        """Return one of the owner's shares, or None."""
        ...

    def revoke(self, owner_id: str, share_id: str, when: datetime) -> bool:
        """Mark a share revoked; return False if the owner has no such share."""
        ...

    def remove_for_image(self, owner_id: str, image_id: str) -> None:
        """Delete every share of an image (when the image is deleted)."""
        ...

    def count_view(self, share_id: str) -> bool:
        """Use one of a share's views atomically; False if none is left or no such share."""
        ...

    def set_password(
        self, owner_id: str, share_id: str, password_hash: str | None, epoch: str
    ) -> bool:
        """Replace a share's password hash and epoch; False if the owner has no such share."""
        ...

    def remove_for_album(self, owner_id: str, album_id: str) -> None:
        """Delete every link to an album (when the album is deleted)."""
        ...


class ExportRepository(Protocol):
    """Background exports, always scoped by owner (the job alone moves their progress)."""

    def add(self, export: Export) -> None:
        """Insert a new export."""
        ...

    def add_unless_busy(self, export: Export, stalled_before: datetime) -> Export:
        """Insert ``export`` unless its owner already has one PENDING or RUNNING whose
        ``updated`` is at or after ``stalled_before``; return that one, or ``export``.

        Atomic: of two concurrent calls for one owner, one inserts and the other gets it.
        """
        ...

    def get(self, owner_id: str, export_id: str) -> Export | None:
        """Return the owner's export, or None (another owner's id is None too)."""
        ...

    def latest(self, owner_id: str) -> Export | None:
        """Return the owner's most recently created export, or None."""
        ...

    def save(self, export: Export) -> bool:
        """Store status, progress, error and expiry; False if the owner has no such export,
        or if it is READY already: a finished export is final (a second run of it must
        not turn it back into one in progress)."""
        ...

    def remove(self, owner_id: str, export_id: str) -> None:
        """Delete an export's record (its zip is the caller's); absent is not an error."""
        ...

    def for_owner(self, owner_id: str) -> list[Export]:
        """Return every export of the owner, newest first (account deletion, listing)."""
        ...

    def expired(self, before: datetime, limit: int) -> list[Export]:
        """Return up to ``limit`` exports of anyone whose ``expires`` is before ``before``."""
        ...


class ExportRunner(Protocol):
    """Starts ``picbucket exports build`` for one export somewhere that outlives a request."""

    def start(self, owner_id: str, export_id: str) -> None:
        """Start building in the background; raise ``BackendUnavailable`` if it cannot start."""
        ...


class AlbumRepository(Protocol):
    """Albums and their items, always scoped by owner."""

    def add(self, album: Album) -> None:
        """Insert an album."""
        ...

    def get(self, owner_id: str, album_id: str) -> Album | None:
        """Return the owner's album, or None."""
        ...

    def for_owner(self, owner_id: str) -> list[Album]:
        """Return the owner's albums, newest first."""
        ...

    def update(self, album: Album) -> bool:
        """Store title, description, cover and order; False if the owner has no such album."""
        ...

    def remove(self, owner_id: str, album_id: str) -> bool:
        """Delete an album and its items (never the images); False if absent."""
        ...

    def item_ids(
        self, owner_id: str, album_id: str, offset: int = 0, limit: int | None = None
    ) -> list[str]:
        """Return the album's image ids by position (whatever the images' status).

        ``offset``/``limit`` select a window, so a page of a large album reads only it.
        """
        ...

    def counts(self, owner_id: str) -> dict[str, int]:
        """Return how many items each of the owner's albums holds."""
        ...

    def count(self, owner_id: str, album_id: str) -> int:
        """Return how many items one album holds."""
        ...

    def add_items(self, owner_id: str, album_id: str, image_ids: Sequence[str]) -> int:
        """Append images not yet in the album (in batches); return how many were added."""
        ...

    def remove_items(self, owner_id: str, album_id: str, image_ids: Sequence[str]) -> int:
        """Take images out of the album; return how many were in it."""
        ...

    def set_order(self, owner_id: str, album_id: str, image_ids: Sequence[str]) -> None:
        """Renumber the album's items in the order given (ids not in it are ignored)."""
        ...

    def albums_of(self, owner_id: str, image_id: str) -> list[str]:
        """Return the ids of the owner's albums that hold an image."""
        ...

    def remove_image(self, owner_id: str, image_id: str) -> None:
        """Take an image out of every album (when it is purged)."""
        ...


class TokenRepository(Protocol):
    """Personal API tokens."""

    def add(self, token: ApiToken) -> None:
        """Insert a token record."""
        ...

    def by_hash(self, token_hash: str) -> ApiToken | None:
        """Return the token with this hash, or None."""
        ...

    def for_owner(self, owner_id: str) -> list[ApiToken]:
        """Return the owner's tokens, newest first."""
        ...

    def revoke(self, owner_id: str, token_id: str) -> bool:
        """Delete a token; return False if the owner has no such token."""
        ...

    def remove_for_owner(self, owner_id: str) -> int:
        """Delete every token of the owner; return how many."""
        ...

    def touch(self, token_id: str, when: datetime) -> None:
        """Record that a token was just used."""
        ...


@dataclass(frozen=True)
class IdempotencyRecord:
    """An owner's Idempotency-Key bound to the image its first request stored."""

    owner_id: str
    key: str
    image_id: str
    fingerprint: str  # sha256 of the stored original: same key, other file → refused
    created: datetime


class IdempotencyKeys(Protocol):
    """Idempotency-Key → image id, per owner, kept for ``IDEMPOTENCY_TTL``."""

    def claim(self, record: IdempotencyRecord, stale_before: datetime) -> IdempotencyRecord:
        """Bind the key unless bound since ``stale_before``; return the binding in force."""
        ...

    def rebind(self, record: IdempotencyRecord, expected_image_id: str) -> bool:
        """Move the key to ``record.image_id`` if it still points at ``expected_image_id``."""
        ...

    def purge(self, before: datetime) -> int:
        """Delete bindings created before ``before`` (all owners); return how many."""
        ...


class HealthCheck(Protocol):
    """A backend that can say whether it is reachable."""

    def ping(self) -> None:
        """Raise if the backend cannot be reached."""
        ...


class RecordStore(Protocol):
    """One record backend: its four repositories, a health check and a way to close."""

    @property
    def users(self) -> UserRepository: ...
    @property
    def images(self) -> ImageRepository: ...
    @property
    def shares(self) -> ShareRepository: ...
    @property
    def tokens(self) -> TokenRepository: ...
    def ping(self) -> None: ...
    def close(self) -> None: ...


@dataclass
class Backends:
    """Every adapter the services use, built once per app."""

    blobs: BlobStore
    users: UserRepository
    images: ImageRepository
    shares: ShareRepository
    tokens: TokenRepository
    albums: AlbumRepository
    exports: ExportRepository
    health: dict[str, HealthCheck] = field(default_factory=dict)
    closers: list[Callable[[], None]] = field(default_factory=list)
    # The services' only source of "now" (DESIGN.md: services take a clock), so tests
    # can move time instead of waiting for a link to expire.
    clock: Callable[[], datetime] = utcnow
    # None: this store keeps no Idempotency-Key records, so a key changes nothing.
    idempotency: IdempotencyKeys | None = None
    # None: "Export everything" streams within the request (PICBUCKET_EXPORT_MODE=stream).
    export_runner: ExportRunner | None = None

    def close(self) -> None:
        """Release connections (tests build many apps)."""
        for close in self.closers:
            close()
