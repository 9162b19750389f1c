"""Store an upload: validate and clean it, then record and blobs in a crash-safe order."""

from __future__ import annotations

import logging
import re
import unicodedata
from collections.abc import Callable
from datetime import datetime, timedelta
from functools import cache
from typing import BinaryIO

from picbucket.domain import (
    BackendUnavailable,
    IdempotencyKeyReused,
    Image,
    ImageStatus,
    NotFound,
    PicbucketError,
    Quota,
    UploadInProgress,
    User,
    Variant,
    new_id,
)
from picbucket.imaging import DecodeBudget, Limits, ProcessedImage, Rendition, process_upload
from picbucket.ports import Backends, IdempotencyKeys, IdempotencyRecord
from picbucket.settings import MIB, Settings

log = logging.getLogger(__name__)

# Every image's blobs live under users/<user-id>/<image-id>/: keys are generated,
# never taken from file names.
USERS_PREFIX = "users/"
MAX_TITLE_LENGTH = 200
# How long an upload's Idempotency-Key answers retries with its first result.
IDEMPOTENCY_TTL = timedelta(hours=24)
# A pending image younger than this may still be stored by its first request (the
# longest an upload request may run), so a retry waits rather than storing twice.
UPLOAD_IN_FLIGHT = timedelta(minutes=2)
# Image bytes never change once stored (a rename changes only the record), so
# browsers may keep them for a year.
IMMUTABLE_CACHE = "private, max-age=31536000, immutable"


def quota_for(settings: Settings, user: User | None = None) -> Quota:
    """Return ``user``'s quota: an administrator's override, else what the settings define."""
    if user is not None and user.quota is not None:
        return user.quota
    return Quota(max_bytes=settings.quota_mb * MIB, max_images=settings.quota_images)


def quota_of(backends: Backends, settings: Settings, owner_id: str) -> Quota:
    """Return the quota of the user ``owner_id`` (one record read)."""
    return quota_for(settings, backends.users.get(owner_id))


@cache
def _budget(total_bytes: int, wait_seconds: float) -> DecodeBudget:
    return DecodeBudget(total_bytes, wait_seconds)


def decode_budget(settings: Settings) -> DecodeBudget:
    """Return this process's decode budget (one per process: memory is per process)."""
    return _budget(settings.decode_budget_mb * MIB, settings.decode_wait_seconds)


def limits_for(settings: Settings, max_bytes: int | None = None) -> Limits:
    """Return the per-upload limits the settings define."""
    return Limits(
        max_bytes=max_bytes or settings.max_upload_bytes,
        max_pixels=settings.max_pixels,
        max_frames=settings.max_frames,
    )


def clean_title(raw: str) -> str:
    """Return a display title: printable, single-line, at most 200 characters."""
    text = unicodedata.normalize("NFC", raw)
    text = "".join(ch for ch in text if unicodedata.category(ch)[0] != "C")
    text = re.sub(r"\s+", " ", text).strip()
    return text[:MAX_TITLE_LENGTH]


def title_from_filename(filename: str | None) -> str:
    """Derive a title from an uploaded file's name (without folders or extension)."""
    name = (filename or "").replace("\\", "/").rsplit("/", 1)[-1]
    stem = name.rsplit(".", 1)[0] if "." in name.lstrip(".") else name
    return clean_title(stem) or "Untitled"


def store_image(
    backends: Backends,
    settings: Settings,
    owner_id: str,
    source: BinaryIO,
    filename: str | None,
    *,
    max_bytes: int | None = None,
    claim: Callable[[Image], Image | None] | None = None,
    on_duplicate: Callable[[Image], None] | None = None,
) -> Image:
    """Validate and store an upload; return the ready image.

    ``claim`` (see ``store_image_once``) sees the image before anything is written
    and may return an earlier image to answer with instead.

    A duplicate (the owner already has a photo whose clean original has the same
    sha256) is not stored or charged again: the existing photo is returned (brought
    back from the trash if it was there) and passed to ``on_duplicate``.

    Order (DESIGN.md): record ``pending`` (charging quota) → blobs, create-only →
    record ``ready``. If anything fails the user is told so and what was written
    is removed; a crash in between leaves a pending record for ``reconcile``.
    """
    owner = backends.users.get(owner_id)
    if owner is None or owner.deleting or owner.disabled:
        # Checked again, atomically, when the record is charged (images.add).
        raise NotFound("No such user.")
    quota = quota_for(settings, owner)
    # Cheap check before the expensive decode (any image needs at least a byte);
    # the authoritative one is in the repository's add() transaction.
    # A retry (claim) is checked after the decode: its first try may have used the
    # last bytes, and it must still get that first result.
    if claim is None:
        quota.check(owner.usage, 1)
    processed = process_upload(source, limits_for(settings, max_bytes), decode_budget(settings))
    try:
        image = _new_image(owner_id, title_from_filename(filename), processed, backends.clock())
        earlier = claim(image) if claim is not None else None
        if earlier is not None:
            return earlier
        duplicate = _existing_copy(backends, image)
        if duplicate is not None:
            if on_duplicate is not None:
                on_duplicate(duplicate)
            return duplicate
        backends.images.add(image, quota)
        try:
            for variant, rendition in zip(image.variants, processed.renditions(), strict=True):
                put_rendition(backends, variant, rendition, image.id)
            if not backends.images.set_status(
                owner_id, image.id, ImageStatus.PENDING, ImageStatus.READY
            ):
                raise BackendUnavailable(
                    "The upload took too long and was cleaned up; nothing was saved. "
                    "Please try again."
                )
            ready = image.with_status(ImageStatus.READY)
        except BaseException as exc:
            _discard(backends, image)
            if isinstance(exc, PicbucketError):
                raise
            log.exception("storing image %s failed", image.id)
            raise BackendUnavailable(
                "Storage is not available right now; nothing was saved. Please try again."
            ) from exc
        return ready
    finally:
        processed.close()


def store_image_once(
    backends: Backends,
    settings: Settings,
    owner_id: str,
    source: BinaryIO,
    filename: str | None,
    key: str,
    on_duplicate: Callable[[Image], None] | None = None,
) -> tuple[Image, bool]:
    """Store an upload at most once per ``key``; return (image, True if stored earlier).

    The key is bound to the new image before its record is written, so a retry
    finds it even when the first request's worker died after storing but before
    answering. A key whose image was never finished (or was deleted) is taken over.
    """
    keys = backends.idempotency
    if keys is None:
        stored = store_image(
            backends, settings, owner_id, source, filename, on_duplicate=on_duplicate
        )
        return stored, False
    replayed: list[Image] = []

    def claim(image: Image) -> Image | None:
        earlier = _claim_key(backends, keys, key, image)
        if earlier is not None:
            replayed.append(earlier)
        return earlier

    image = store_image(
        backends, settings, owner_id, source, filename, claim=claim, on_duplicate=on_duplicate
    )
    return image, bool(replayed)


def _claim_key(backends: Backends, keys: IdempotencyKeys, key: str, image: Image) -> Image | None:
    """Bind ``key`` to ``image`` (return None) or return the image it already stored."""
    now = backends.clock()
    mine = IdempotencyRecord(image.owner_id, key, image.id, image.original.sha256, now)
    for _attempt in range(3):
        bound = keys.claim(mine, now - IDEMPOTENCY_TTL)
        if bound.image_id == image.id:
            return None
        if bound.fingerprint != mine.fingerprint:
            raise IdempotencyKeyReused(
                "This Idempotency-Key was already used for a different file; "
                "send a new key for a new upload."
            )
        earlier = backends.images.get(image.owner_id, bound.image_id)
        if earlier is not None and earlier.status is ImageStatus.READY:
            return earlier
        in_flight = earlier is not None and earlier.status is ImageStatus.PENDING
        if in_flight and earlier is not None and now - earlier.created < UPLOAD_IN_FLIGHT:
            raise UploadInProgress(
                "An upload with this Idempotency-Key is still being stored; "
                "try again in a few seconds."
            )
        # Never finished, cleaned up, or deleted since: store it again under the key.
        if keys.rebind(mine, bound.image_id):
            return None
    raise UploadInProgress("Uploads with this Idempotency-Key are racing; try again.")


def _existing_copy(backends: Backends, image: Image) -> Image | None:
    """Return the owner's photo with the same clean original, restoring it from the trash."""
    found = backends.images.by_sha256(image.owner_id, image.original.sha256)
    if found is None:
        return None
    if found.status is ImageStatus.TRASHED:
        # Uploading a trashed photo again means "I want it": bring it back, charge nothing.
        backends.images.move_many(
            found.owner_id, [found.id], ImageStatus.TRASHED, ImageStatus.READY, None
        )
        refreshed = backends.images.get(found.owner_id, found.id)
        return refreshed if refreshed and refreshed.status is ImageStatus.READY else None
    return found


def _new_image(owner_id: str, title: str, processed: ProcessedImage, created: datetime) -> Image:
    image_id = new_id()
    prefix = f"{USERS_PREFIX}{owner_id}/{image_id}"

    def stored_as(name: str, rendition: Rendition) -> Variant:
        return variant_of(f"{prefix}/{name}.{rendition.extension}", rendition)

    return Image(
        id=image_id,
        owner_id=owner_id,
        title=title,
        width=processed.width,
        height=processed.height,
        original=stored_as("original", processed.original),
        thumbnail=stored_as("thumb", processed.thumbnail),
        display=stored_as("display", processed.display) if processed.display else None,
        created=created,
        status=ImageStatus.PENDING,
        taken_at=processed.taken_at,
    )


def variant_of(key: str, rendition: Rendition) -> Variant:
    """Return the record of ``rendition`` stored under ``key``."""
    return Variant(
        key=key,
        content_type=rendition.content_type,
        size=rendition.size,
        sha256=rendition.sha256,
        width=rendition.width,
        height=rendition.height,
    )


def put_rendition(
    backends: Backends, variant: Variant, rendition: Rendition, image_id: str
) -> None:
    """Store ``rendition``'s bytes as ``variant`` (create-only: ``Conflict`` if there)."""
    name = variant.key.rsplit("/", 1)[-1]
    backends.blobs.put(
        variant.key,
        rendition.data,  # type: ignore[arg-type]
        content_type=variant.content_type,
        cache_control=IMMUTABLE_CACHE,
        download_name=f"picbucket-{image_id}-{name}",
    )


def _discard(backends: Backends, image: Image) -> None:
    """Best-effort removal of a half-stored image; reconcile finishes what this cannot."""
    try:
        for variant in image.variants:
            backends.blobs.delete(variant.key)
        backends.images.remove(image.owner_id, image.id)
    except Exception:
        log.exception("cleanup of image %s failed; reconcile will remove it", image.id)
