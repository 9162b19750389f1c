"""The trash: deleting moves photos here for ``trash_days``; restore, empty, purge.

A trashed image keeps its record, blobs and quota charge; its status ``trashed``
hides it from the gallery, albums and every share link at once (they serve only
``ready`` images). Purging expired trash is reconcile's job: it plans with
``due_for_purge`` (at most ``PURGE_PER_RUN`` per run) and removes each with
``purge_trashed``, which marks the image ``deleting`` first, so a purge stopped
half-way is finished by the next run's "interrupted deletes" step.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime, timedelta

from picbucket.domain import Image, ImageStatus, InvalidInput, NotFound, is_id
from picbucket.ports import Backends
from picbucket.services.images import finish_delete

log = logging.getLogger(__name__)

# One bulk call acts on at most this many images (the page's multi-select cap).
MAX_BULK = 1000
# The trash page lists at most this many; emptying works through all of them.
TRASH_PAGE = 1000
# Expired photos purged per reconcile run: bounded work (the scheduled job runs again).
PURGE_PER_RUN = 5000


def checked_ids(image_ids: Sequence[str]) -> list[str]:
    """Return the ids, de-duplicated; ``InvalidInput`` past ``MAX_BULK`` or if malformed."""
    ids = list(dict.fromkeys(image_ids))
    if not ids:
        raise InvalidInput("Select at least one photo.")
    if len(ids) > MAX_BULK:
        raise InvalidInput(f"Select at most {MAX_BULK} photos at a time; you chose {len(ids)}.")
    if not all(is_id(image_id) for image_id in ids):
        raise InvalidInput("image_ids holds an id that is not a photo id.")
    return ids


def trash_images(backends: Backends, owner_id: str, image_ids: Sequence[str]) -> list[str]:
    """Move the owner's ready images to the trash; return the ids moved."""
    ids = checked_ids(image_ids)
    return backends.images.move_many(
        owner_id, ids, ImageStatus.READY, ImageStatus.TRASHED, backends.clock()
    )


def restore_images(backends: Backends, owner_id: str, image_ids: Sequence[str]) -> list[str]:
    """Bring the owner's trashed images back to the gallery; return the ids restored."""
    ids = checked_ids(image_ids)
    return backends.images.move_many(owner_id, ids, ImageStatus.TRASHED, ImageStatus.READY, None)


def trashed_images(backends: Backends, owner_id: str) -> list[Image]:
    """Return the owner's trash, most recently trashed first."""
    return backends.images.trashed(owner_id, TRASH_PAGE)


def purge_date(image: Image, trash_days: int) -> datetime | None:
    """Return when a trashed image will be purged."""
    return image.trashed_at + timedelta(days=trash_days) if image.trashed_at else None


def delete_forever(backends: Backends, owner_id: str, image_ids: Sequence[str]) -> int:
    """Delete trashed images now (blobs, record, album places); return how many."""
    ids = checked_ids(image_ids)
    moved = set(
        backends.images.move_many(owner_id, ids, ImageStatus.TRASHED, ImageStatus.DELETING, None)
    )
    for image in backends.images.get_many(owner_id, list(moved)):
        _finish(backends, image)
    return len(moved)


def empty_trash(backends: Backends, owner_id: str) -> int:
    """Delete everything in the owner's trash now; return how many photos."""
    emptied = 0
    while batch := backends.images.trashed(owner_id, MAX_BULK):
        done = delete_forever(backends, owner_id, [image.id for image in batch])
        emptied += done
        if not done:
            break
    return emptied


def due_for_purge(backends: Backends, before: datetime) -> list[Image]:
    """Return up to ``PURGE_PER_RUN`` images of any owner trashed before ``before``."""
    return backends.images.trashed_before(before, PURGE_PER_RUN)


def purge_trashed(backends: Backends, image: Image) -> None:
    """Delete one trashed image for good: mark it ``deleting`` (if still trashed), finish.

    A photo restored since it was planned is left alone; a failure after the mark is
    raised (the caller reports it) and the next reconcile finishes the delete.
    """
    if backends.images.set_status(
        image.owner_id, image.id, ImageStatus.TRASHED, ImageStatus.DELETING
    ):
        finish_delete(backends, image)


def _finish(backends: Backends, image: Image) -> None:
    try:
        finish_delete(backends, image)
    except Exception:
        # Marked ``deleting``: invisible, and reconcile finishes it on its next run.
        log.exception("purging image %s failed; reconcile will finish it", image.id)


def require_trashed(backends: Backends, owner_id: str, image_id: str) -> Image:
    """Return the owner's trashed image, or ``NotFound``."""
    image = backends.images.get(owner_id, image_id) if is_id(image_id) else None
    if image is None or image.status is not ImageStatus.TRASHED:
        raise NotFound("No such photo in your trash.")
    return image
