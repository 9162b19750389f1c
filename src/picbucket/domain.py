"""Domain records and errors shared by services and adapters.

Nothing here knows about Flask, SQL, files or Google Cloud: these are the shapes
that cross the ports in ``ports.py``.
"""

from __future__ import annotations

import base64
import hashlib
import re
import secrets
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from enum import StrEnum
from typing import Generic, TypeVar

T = TypeVar("T")


def utcnow() -> datetime:
    """Return the current time, timezone-aware, truncated to milliseconds.

    Milliseconds because Firestore stores microseconds but SQLite ISO strings and
    cursors round-trip most reliably at a fixed precision everywhere.
    """
    now = datetime.now(UTC)
    return now.replace(microsecond=now.microsecond // 1000 * 1000)


def new_id() -> str:
    """Return a random 128-bit URL-safe identifier (22 characters)."""
    return secrets.token_urlsafe(16)


_ID_SHAPE = re.compile(r"[A-Za-z0-9_-]{22}")


def is_id(value: str) -> bool:
    """Tell whether ``value`` has the shape ``new_id`` produces.

    Checked before any lookup, so a malformed id from a URL is a plain "not found"
    and never reaches a backend (Firestore refuses ids such as ``..``).
    """
    return _ID_SHAPE.fullmatch(value) is not None


def new_secret(prefix: str) -> str:
    """Return a random 256-bit secret with a recognisable prefix (for tokens)."""
    return prefix + secrets.token_urlsafe(32)


def hash_secret(secret: str) -> str:
    """Hash a bearer secret for storage; a fast hash is right for 128+ bit randoms."""
    return hashlib.sha256(secret.encode()).hexdigest()


def user_id_for(issuer: str, subject: str) -> str:
    """Derive the stable user id from the identity provider's issuer and ``sub``.

    Deterministic, so the first sign-in needs no uniqueness lookup and two parallel
    first sign-ins cannot create two users. Google's two spellings of its issuer
    map to one user.
    """
    issuer = issuer.rstrip("/")
    if issuer == "accounts.google.com":
        issuer = "https://accounts.google.com"
    digest = hashlib.sha256(f"{issuer}\n{subject}".encode()).digest()[:16]
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


class ImageStatus(StrEnum):
    """Lifecycle of an image record; blobs and records cannot change atomically."""

    PENDING = "pending"  # record written, blobs being stored
    READY = "ready"  # every blob stored; visible to the owner
    DELETING = "deleting"  # blobs being removed; invisible
    # In the trash: shown only on the trash page, still charged to the quota, purged
    # by reconcile after PICBUCKET_TRASH_DAYS. A status (not only a date), so every
    # "ready only" read (gallery, albums, share links) drops it without a new filter.
    TRASHED = "trashed"


@dataclass(frozen=True)
class Quota:
    """Per-user limits enforced when an image record is added."""

    max_bytes: int
    max_images: int

    def check(self, usage: Usage, adding_bytes: int) -> None:
        """Raise ``QuotaExceeded`` if one more image of ``adding_bytes`` does not fit."""
        if usage.images + 1 > self.max_images:
            raise QuotaExceeded(
                f"You have reached your quota of {self.max_images} images. "
                "Delete some images and try again."
            )
        if usage.bytes + adding_bytes > self.max_bytes:
            free = max(self.max_bytes - usage.bytes, 0)
            raise QuotaExceeded(
                f"That would take you over your storage quota: this image needs "
                f"{human_bytes(adding_bytes)} but only {human_bytes(free)} of your "
                f"{human_bytes(self.max_bytes)} "
                "is free. Delete some images and try again."
            )


def human_bytes(size: int) -> str:
    """Format a byte count for people: the one formatter of every page and message.

    Binary units under their everyday names (1 MiB shows as "1.0 MB"), as file
    managers and phones show sizes, so a limit reads as the number it was set to.
    """
    mib = 1024 * 1024
    if size < 1024:
        return f"{size} B"
    if size < mib:
        return f"{size / 1024:.0f} KB"
    if size < 1024 * mib:
        return f"{size / mib:.1f} MB"
    return f"{size / (1024 * mib):.2f} GB"


@dataclass(frozen=True)
class Usage:
    """What a user has stored, as charged against their quota."""

    bytes: int = 0
    images: int = 0


@dataclass(frozen=True)
class User:
    """A person, keyed by identity provider issuer + subject (never by email)."""

    id: str
    issuer: str
    subject: str
    email: str
    name: str
    created: datetime
    # Rotated on sign-out: every session cookie that carries an old epoch is dead.
    session_epoch: str = field(default_factory=new_id)
    usage: Usage = Usage()
    # Refreshed at each sign-in from PICBUCKET_ADMIN_EMAILS (shown on the admin page;
    # authorization re-derives it from the settings on every request).
    role: str = "user"
    # Set by an administrator: every session, token and share link stops; nothing is deleted.
    disabled: bool = False
    # Set first when the account is being deleted; never cleared (the record goes last).
    deleting: bool = False
    # A per-person quota set by an administrator; None: the configured default.
    quota: Quota | None = None
    last_sign_in: datetime | None = None
    # Google's ``hd`` claim at the last sign-in: the Workspace domain that vouched for
    # the person (empty for personal accounts and other issuers).
    hosted_domain: str = ""


@dataclass(frozen=True)
class AuditEntry:
    """One administrator action: who did what to whom, and when."""

    id: str
    when: datetime
    actor_id: str
    actor_email: str
    action: str
    target_id: str
    target_email: str
    detail: str = ""


@dataclass(frozen=True)
class AccountChange:
    """What an administrator (or the person leaving) changes on an account record."""

    disabled: bool | None = None  # None: unchanged
    quota: Quota | None = None  # None: unchanged
    default_quota: bool = False  # True: drop the per-person quota
    deleting: bool = False  # True: mark for deletion (one way)


@dataclass(frozen=True)
class Variant:
    """One stored file of an image: the clean original or a rendition made from it."""

    key: str
    content_type: str
    size: int
    sha256: str
    # Pixel size as displayed; 0 where a record from before pipeline v2 did not say.
    width: int = 0
    height: int = 0


@dataclass(frozen=True)
class Image:
    """An uploaded image owned by one user."""

    id: str
    owner_id: str
    title: str
    width: int
    height: int
    original: Variant
    thumbnail: Variant
    created: datetime
    status: ImageStatus = ImageStatus.PENDING
    # The ~2048 px rendition the viewer and share pages show; None when the original is
    # small enough to show as is, or for records the backfill has not reached yet.
    display: Variant | None = None
    # When the photo was taken (from its metadata, read before the metadata is dropped).
    taken_at: datetime | None = None
    # When the image was moved to the trash (status TRASHED); None otherwise.
    trashed_at: datetime | None = None

    @property
    def variants(self) -> tuple[Variant, ...]:
        """Return every stored file of this image."""
        return (self.original, self.thumbnail, *((self.display,) if self.display else ()))

    @property
    def bytes(self) -> int:
        """Return the bytes this image is charged against the owner's quota."""
        return sum(variant.size for variant in self.variants)

    @property
    def shown(self) -> Variant:
        """Return the file to show at screen size: the display rendition, else the original."""
        return self.display or self.original

    def with_title(self, title: str) -> Image:
        """Return a copy with a new title."""
        return replace(self, title=title)

    def with_status(self, status: ImageStatus) -> Image:
        """Return a copy with a new status."""
        return replace(self, status=status)


@dataclass(frozen=True)
class Share:
    """A public link to one image or one album; the token is only held by the owner.

    ``image_id`` is "" for an album link (``album_id`` set). Records written before
    albums, passwords and view limits existed read with the defaults below.
    """

    id: str
    owner_id: str
    image_id: str
    token_hash: str
    created: datetime
    expires: datetime | None = None
    revoked: datetime | None = None
    views: int = 0  # share-page opens, counted for the owner's "Shared links" list
    album_id: str | None = None
    # scrypt hash (services.passwords); None: no password.
    password_hash: str | None = None
    # Replaced at every password change: unlock cookies carry it, so old ones stop.
    epoch: str = ""
    # Page opens allowed (counted in ``views``); None: no limit.
    max_views: int | None = None
    # Album links serve display renditions only unless the owner allows originals.
    allow_originals: bool = True

    def is_live(self, now: datetime, *, viewed: bool = False) -> bool:
        """Tell whether the link still opens what it points at.

        ``viewed``: the visitor holds a view already counted (the bytes its page needs),
        so the view limit is not checked again; revoked or expired still ends it.
        """
        return (
            self.revoked is None
            and (self.expires is None or now < self.expires)
            and (viewed or self.max_views is None or self.views < self.max_views)
        )


class AlbumOrder(StrEnum):
    """How an album's photos are ordered."""

    MANUAL = "manual"  # by the owner's positions
    TAKEN = "taken"  # by date taken (else upload date), oldest first


@dataclass(frozen=True)
class Album:
    """A named, ordered set of one owner's images; a photo may be in many albums."""

    id: str
    owner_id: str
    title: str
    created: datetime
    description: str = ""
    cover_id: str | None = None
    order: AlbumOrder = AlbumOrder.MANUAL


class ExportStatus(StrEnum):
    """Where a background export is (DESIGN.md "Leaving": exports past the request timeout)."""

    PENDING = "pending"  # asked for; the job has not started it yet
    RUNNING = "running"  # the job is writing the zip into the blob store
    READY = "ready"  # the zip is complete under ``export_key`` until ``expires``
    FAILED = "failed"  # the job stopped; ``error`` says why in words for the owner

    @property
    def in_progress(self) -> bool:
        """Tell whether an export in this state is being built, or about to be."""
        return self in (ExportStatus.PENDING, ExportStatus.RUNNING)


@dataclass(frozen=True)
class Export:
    """One "Export everything" built by a job into the blob store, for its owner alone."""

    id: str
    owner_id: str
    status: ExportStatus
    created: datetime
    updated: datetime  # last progress: a RUNNING export that stops moving was interrupted
    expires: datetime  # the record and its zip are purged by reconcile after this
    photos_total: int = 0
    photos_done: int = 0
    bytes_written: int = 0
    error: str | None = None


def export_key(owner_id: str, export_id: str) -> str:
    """Return the blob key of an export's zip (outside users/, so never an image orphan)."""
    return f"exports/{owner_id}/{export_id}.zip"


@dataclass(frozen=True)
class ApiToken:
    """A personal API token (for ShareX, curl); stored hashed, shown once."""

    id: str
    owner_id: str
    name: str
    token_hash: str
    created: datetime
    last_used: datetime | None = None


@dataclass(frozen=True)
class Page(Generic[T]):
    """One page of a listing and the opaque cursor for the next (None: last page)."""

    items: list[T]
    next_cursor: str | None


class PicbucketError(Exception):
    """Base of every error a user can be told about.

    Errors say what happened, not how to answer it: ``web/errors.py`` maps each to
    an HTTP status and an API code.
    """

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class NotFound(PicbucketError):
    """The object does not exist, or it is not the caller's (never say which)."""


class InvalidImage(PicbucketError):
    """The upload is not an image Picbucket accepts."""


class TooLarge(PicbucketError):
    """The upload is bigger than the configured limits."""


class QuotaExceeded(PicbucketError):
    """Storing this would take the user over their quota."""


class InvalidInput(PicbucketError):
    """A form or API field is malformed."""


class InvalidCursor(InvalidInput):
    """A pagination cursor was tampered with or is from another listing."""


class Conflict(PicbucketError):
    """A create-only write found something already there."""


class IdempotencyKeyReused(Conflict):
    """An Idempotency-Key came back with a different file than its first use."""


class UploadInProgress(Conflict):
    """An upload with this Idempotency-Key is still being stored; retry shortly."""


class BackendUnavailable(PicbucketError):
    """A storage backend failed; the operation changed nothing the user can see."""

    retry_after = 5


class StorageFull(PicbucketError):
    """The server's own disk is full; nothing was stored (deleting still works)."""


class Busy(PicbucketError):
    """The server is at capacity for this kind of work; the same request may succeed later."""

    retry_after = 5
