"""Reconcile blobs and records after crashes: remove what nobody owns, finish deletes.

Blob and record cannot change atomically, so uploads write the record (pending)
before any blob, and deletes mark the record (deleting) before removing blobs
(DESIGN.md). A crash therefore leaves one of four things, each handled here:

- a ``pending`` record older than the grace period: the upload died before the
  user was told "saved"; its blobs, shares and record go, and its quota is refunded;
- a ``deleting`` record: the delete is finished (shares → blobs → record);
- a blob under ``users/<uid>/<image-id>/`` with no record: an orphan, removed;
- a blob under ``incoming/`` (direct browser upload) never picked up: removed.

Safe while users upload: a blob younger than the grace period may belong to an
upload in progress (its record is written first, but the scan and the record check
are not one snapshot), so it is left alone; so is every pending record younger
than the grace period. Nothing a user was told was saved is touched: ready records
and their blobs are never removed.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from picbucket.domain import ImageStatus
from picbucket.ports import Backends, BlobInfo
from picbucket.services.direct_uploads import INCOMING_PREFIX
from picbucket.services.images import finish_delete
from picbucket.services.uploads import USERS_PREFIX

log = logging.getLogger(__name__)

# Blob keys are checked against records in batches: one existence query per batch.
CHECK_BATCH = 300


@dataclass
class ReconcileReport:
    """What reconcile removed (or, in a dry run, would remove)."""

    dry_run: bool
    stale_pending: list[str] = field(default_factory=list)  # "<owner>/<image>"
    finished_deletes: list[str] = field(default_factory=list)  # "<owner>/<image>"
    orphan_blobs: list[str] = field(default_factory=list)  # keys
    abandoned_incoming: list[str] = field(default_factory=list)  # keys
    young_blobs_kept: int = 0
    errors: list[str] = field(default_factory=list)

    @property
    def changed(self) -> int:
        """Return how many records and blobs were (or would be) removed."""
        return (
            len(self.stale_pending)
            + len(self.finished_deletes)
            + len(self.orphan_blobs)
            + len(self.abandoned_incoming)
        )

    def summary(self) -> str:
        """Return a few human-readable lines for the command line and logs."""
        verb = "would remove" if self.dry_run else "removed"
        lines = [
            f"reconcile{' (dry run)' if self.dry_run else ''}:",
            f"  stale pending uploads {verb}: {len(self.stale_pending)}",
            f"  interrupted deletes {'would be finished' if self.dry_run else 'finished'}: "
            f"{len(self.finished_deletes)}",
            f"  orphan blobs {verb}: {len(self.orphan_blobs)}",
            f"  abandoned direct uploads {verb}: {len(self.abandoned_incoming)}",
            f"  recent blobs left alone (may be uploads in progress): {self.young_blobs_kept}",
        ]
        if self.errors:
            lines.append(f"  errors: {len(self.errors)} (see log); run again to retry")
        return "\n".join(lines)


def reconcile(
    backends: Backends,
    *,
    dry_run: bool,
    grace: timedelta = timedelta(hours=1),
    now: datetime | None = None,
) -> ReconcileReport:
    """Remove stale pending records, finish deletes, and remove orphan blobs."""
    now = now or backends.clock()
    cutoff = now - grace
    report = ReconcileReport(dry_run=dry_run)
    _unfinished_records(backends, cutoff, report)
    _orphan_blobs(backends, cutoff, report)
    _abandoned_incoming(backends, cutoff, report)
    log.info(
        "reconcile finished",
        extra={"dry_run": dry_run, "changed": report.changed, "errors": len(report.errors)},
    )
    return report


def _unfinished_records(backends: Backends, cutoff: datetime, report: ReconcileReport) -> None:
    # Materialise first: the loop removes records the query is iterating over.
    for image in list(backends.images.unfinished(cutoff)):
        ref = f"{image.owner_id}/{image.id}"
        stale = image.status is ImageStatus.PENDING
        (report.stale_pending if stale else report.finished_deletes).append(ref)
        if report.dry_run:
            continue
        try:
            # Same order for both: shares → blobs → record (refunding the quota), so
            # a crash here again leaves a record for the next run to find.
            finish_delete(backends, image)
        except Exception as exc:
            log.exception("reconcile could not remove %s", ref)
            report.errors.append(f"{ref}: {exc}")


def _orphan_blobs(backends: Backends, cutoff: datetime, report: ReconcileReport) -> None:
    for batch in _batches(backends.blobs.scan(USERS_PREFIX), CHECK_BATCH):
        old = [blob for blob in batch if blob.updated < cutoff]
        report.young_blobs_kept += len(batch) - len(old)
        refs = {blob.key: _image_ref(blob.key) for blob in old}
        known = backends.images.existing(ref for ref in refs.values() if ref is not None)
        for blob in old:
            ref = refs[blob.key]
            # A key not shaped like one the app writes is owned by nobody either.
            if ref is None or ref not in known:
                _remove_blob(backends, blob.key, report.orphan_blobs, report)


def _abandoned_incoming(backends: Backends, cutoff: datetime, report: ReconcileReport) -> None:
    for blob in list(backends.blobs.scan(INCOMING_PREFIX)):
        if blob.updated < cutoff:
            _remove_blob(backends, blob.key, report.abandoned_incoming, report)
        else:
            report.young_blobs_kept += 1


def _remove_blob(backends: Backends, key: str, removed: list[str], report: ReconcileReport) -> None:
    removed.append(key)
    if report.dry_run:
        return
    try:
        backends.blobs.delete(key)
    except Exception as exc:
        log.exception("reconcile could not delete blob %s", key)
        report.errors.append(f"{key}: {exc}")


def _image_ref(key: str) -> tuple[str, str] | None:
    """Return (owner_id, image_id) of ``users/<owner>/<image>/<file>``, else None."""
    parts = key.split("/")
    if len(parts) != 4 or parts[0] != "users" or not all(parts[1:]):
        return None
    return parts[1], parts[2]


def _batches(blobs: Iterator[BlobInfo], size: int) -> Iterator[list[BlobInfo]]:
    batch: list[BlobInfo] = []
    for blob in blobs:
        batch.append(blob)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch
