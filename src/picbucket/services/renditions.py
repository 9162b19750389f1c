"""Give images stored by the first release the renditions today's pipeline makes.

The first release made a 400 px soft thumbnail and no display rendition; its records
say ``thumbnail.width == 0``. The backfill runs each such image's stored original
through ``process_upload`` again (the original itself is kept exactly as stored) and
swaps in the new thumbnail and display rendition, batch by batch.

Order per image, so a crash anywhere leaves a record that points at stored blobs:
put the new blobs (create-only; a key already there is a rerun's, same content,
since keys carry the content's hash) → compare-and-set the record (charging the size
difference) → delete the old thumbnail. Idempotent and resumable: a second run finds
no record with ``thumbnail.width == 0`` and does nothing.
"""

from __future__ import annotations

import contextlib
import logging
import shutil
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from picbucket.domain import Conflict, Image, ImageStatus, PicbucketError, Variant
from picbucket.imaging import Limits, Rendition, process_upload
from picbucket.ports import Backends
from picbucket.services.uploads import decode_budget, put_rendition, variant_of
from picbucket.settings import MIB, Settings

log = logging.getLogger(__name__)

DEFAULT_BATCH = 50
# Records listed per query when looking for images to renew (records are small).
_LIST_PAGE = 500
_SPOOL_BYTES = 8 * MIB


@dataclass
class BackfillReport:
    """What a backfill run did."""

    total: int = 0
    renewed: int = 0
    skipped: int = 0  # changed or deleted by someone else since it was listed
    failed: int = 0

    def summary(self) -> str:
        """Return the one-line result."""
        if not self.total:
            return "renditions: nothing to do"
        return (
            f"renditions: {self.renewed} of {self.total} renewed, "
            f"{self.skipped} skipped, {self.failed} failed"
        )


def needs_renditions(image: Image) -> bool:
    """Tell whether a ready image still has the first release's renditions."""
    return image.status is ImageStatus.READY and image.thumbnail.width == 0


def backfill_renditions(
    backends: Backends,
    settings: Settings,
    *,
    batch_size: int = DEFAULT_BATCH,
    echo: Callable[[str], None] = print,
) -> BackfillReport:
    """Renew every image that needs it, ``batch_size`` at a time, printing progress."""
    todo = list(_candidates(backends))
    report = BackfillReport(total=len(todo))
    if todo:
        echo(f"renditions: {len(todo)} image(s) to renew, {batch_size} per batch")
    for start in range(0, len(todo), batch_size):
        batch = todo[start : start + batch_size]
        before = (report.renewed, report.skipped, report.failed)
        for owner_id, image_id in batch:
            outcome = _renew_safely(backends, settings, owner_id, image_id, echo)
            setattr(report, outcome, getattr(report, outcome) + 1)
        renewed, skipped, failed = (
            now - then
            for now, then in zip(
                (report.renewed, report.skipped, report.failed), before, strict=True
            )
        )
        echo(
            f"batch {start // batch_size + 1}: {start + len(batch)} of {len(todo)} done "
            f"({renewed} renewed, {skipped} skipped, {failed} failed)"
        )
    echo(report.summary())
    return report


def _candidates(backends: Backends) -> Iterator[tuple[str, str]]:
    cursor: str | None = None
    while True:
        page = backends.images.all_images(cursor, _LIST_PAGE)
        yield from ((i.owner_id, i.id) for i in page.items if needs_renditions(i))
        if page.next_cursor is None:
            return
        cursor = page.next_cursor


def _renew_safely(
    backends: Backends,
    settings: Settings,
    owner_id: str,
    image_id: str,
    echo: Callable[[str], None],
) -> str:
    try:
        return renew_image(backends, settings, owner_id, image_id)
    except PicbucketError as exc:
        # One unreadable original must not stop the run; the next run retries it.
        echo(f"  {owner_id}/{image_id}: {exc.message}")
        return "failed"
    except Exception:
        log.exception("renewing the renditions of %s/%s failed", owner_id, image_id)
        echo(f"  {owner_id}/{image_id}: failed (see the log); the next run retries")
        return "failed"


def renew_image(backends: Backends, settings: Settings, owner_id: str, image_id: str) -> str:
    """Renew one image's renditions; return "renewed" or "skipped"."""
    image = backends.images.get(owner_id, image_id)
    if image is None or not needs_renditions(image):
        return "skipped"
    with tempfile.SpooledTemporaryFile(max_size=_SPOOL_BYTES) as original:
        with backends.blobs.open(image.original.key) as stored:
            shutil.copyfileobj(stored, original)
        processed = process_upload(
            original,  # type: ignore[arg-type]
            _limits(settings, image.original.size),
            decode_budget(settings),
        )
    try:
        folder = image.original.key.rsplit("/", 1)[0]
        thumbnail = _store(backends, folder, "thumb", processed.thumbnail, image.id)
        display = (
            _store(backends, folder, "display", processed.display, image.id)
            if processed.display
            else None
        )
    finally:
        processed.close()
    if not backends.images.replace_renditions(
        owner_id, image_id, image.thumbnail.key, thumbnail, display
    ):
        _drop_unused(backends, owner_id, image_id, [thumbnail, *([display] if display else [])])
        return "skipped"
    new_keys = {thumbnail.key, display.key if display else ""}
    for old in (image.thumbnail, image.display):
        if old is not None and old.key not in new_keys:
            backends.blobs.delete(old.key)
    return "renewed"


def _limits(settings: Settings, stored_size: int) -> Limits:
    # The original was accepted once (maybe as a direct upload, up to
    # max_direct_upload_mb): its size is not a reason to refuse it now.
    return Limits(
        max_bytes=max(stored_size, settings.max_direct_upload_mb * MIB),
        max_pixels=settings.max_pixels,
        max_frames=settings.max_frames,
    )


def _store(
    backends: Backends, folder: str, name: str, rendition: Rendition, image_id: str
) -> Variant:
    """Put a rendition under a key of its own content; an existing one is a rerun's."""
    key = f"{folder}/{name}-{rendition.sha256[:8]}.{rendition.extension}"
    variant = variant_of(key, rendition)
    # Conflict: stored by an earlier run that stopped before the record changed.
    with contextlib.suppress(Conflict):
        put_rendition(backends, variant, rendition, image_id)
    return variant


def _drop_unused(backends: Backends, owner_id: str, image_id: str, variants: list[Variant]) -> None:
    """Remove new blobs the record did not take (it changed or was deleted meanwhile)."""
    current = backends.images.get(owner_id, image_id)
    kept = {v.key for v in current.variants} if current else set()
    for variant in variants:
        if variant.key not in kept:
            backends.blobs.delete(variant.key)
