"""Reconcile blobs and records after crashes: remove what nobody owns, finish deletes.

Blob and record cannot change atomically, so uploads write the record (pending)
before any blob, and deletes mark the record (deleting) before removing blobs
(DESIGN.md). A crash therefore leaves one of four things, each handled here:

- a ``pending`` record older than the grace period: the upload died before the
  user was told "saved"; its blobs, shares and record go, and its quota is refunded;
- a ``deleting`` record: the delete is finished (shares → blobs → record);
- a blob under ``users/<uid>/<image-id>/`` with no record: an orphan, removed;
- a blob under ``incoming/`` (direct browser upload) never picked up: removed;
- a temp file of a write killed half-way (local disk only): removed;
- a photo in the trash longer than ``trash_days``: purged like a delete (marked
  ``deleting`` first, so a run stopped half-way is finished by the next);
- an account marked ``deleting`` (the person left, or an administrator deleted it)
  whose removal was interrupted: finished (``account_deletion``);
- an export (zip built by a job) past its ``expires``: zip, then record, deleted
  (``exports.purge_expired_exports``);
- an Idempotency-Key older than ``IDEMPOTENCY_TTL``: deleted (on Firestore a TTL
  policy deletes them too, within a day; this keeps SQLite small and counts them).

It plans first, then acts on exactly that plan. The guards (``Guards``) brake only
the blob deletions (orphans and abandoned direct uploads): a record store that came
back empty, or pointed at the wrong database, makes every blob look like an orphan,
so removing more than a small share of the blobs, or any blob while no blob has a
record, is refused unless forced. Everything driven by a record (account deletions,
stale pending uploads, interrupted deletes, trash purges, expired exports and keys)
still runs: a refusal must not keep a person's account or trash around.

Safe while users upload: a blob younger than the grace period may belong to an
upload in progress (its record is written first, but the scan and the record check
are not one snapshot), so it is left alone; so is every pending record and temp
file younger than the grace period. Nothing a user was told was saved is touched: ready records
and their blobs are never removed.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from picbucket.domain import Image, ImageStatus
from picbucket.ports import Backends, BlobInfo
from picbucket.services.account_deletion import finish_account_deletion
from picbucket.services.direct_uploads import INCOMING_PREFIX
from picbucket.services.exports import purge_expired_exports
from picbucket.services.images import finish_delete
from picbucket.services.trash import due_for_purge, purge_trashed
from picbucket.services.uploads import IDEMPOTENCY_TTL, USERS_PREFIX

log = logging.getLogger(__name__)

# Blob keys are checked against records in batches: one existence query per batch.
CHECK_BATCH = 300
# Expired exports are purged this many at a time; the plan counts up to EXPORTS_COUNTED.
EXPORT_BATCH = 200
EXPORTS_COUNTED = 10_000
DEFAULT_GRACE = timedelta(hours=1)


@dataclass(frozen=True)
class Guards:
    """Brakes on what one run may delete without ``force``."""

    # Largest share of the scanned blobs one run may delete.
    max_delete_share: float = 0.10
    # A tiny store may always lose this many: one orphan among 8 blobs is not an incident.
    always_allowed: int = 5
    force: bool = False


@dataclass
class ReconcilePlan:
    """What a run would do, computed before anything is touched."""

    grace: timedelta
    cutoff: datetime
    # Idempotency-Keys bound before this are expired (the upload API forgets them).
    keys_expired_before: datetime | None = None
    stale_pending: list[Image] = field(default_factory=list)
    finished_deletes: list[Image] = field(default_factory=list)
    orphan_blobs: list[BlobInfo] = field(default_factory=list)
    abandoned_incoming: list[BlobInfo] = field(default_factory=list)
    stale_temp_files: list[BlobInfo] = field(default_factory=list)
    # Trashed longer than the trash period (at most ``trash.PURGE_PER_RUN`` per run).
    expired_trash: list[Image] = field(default_factory=list)
    # Accounts marked ``deleting`` whose removal a crash or a stop interrupted.
    deleting_accounts: list[str] = field(default_factory=list)
    # Exports (zips built by a job) past their expiry at ``exports_expired_before``.
    exports_expired_before: datetime | None = None
    expired_exports: int = 0
    young_blobs_kept: int = 0
    young_temp_files_kept: int = 0
    blobs_scanned: int = 0  # under users/ and incoming/
    image_blobs_scanned: int = 0  # under users/
    image_blobs_with_record: int = 0

    @property
    def blob_deletions(self) -> int:
        """Return how many scanned blobs the plan removes (what the share guard counts)."""
        return len(self.orphan_blobs) + len(self.abandoned_incoming)

    def delete_limit(self, guards: Guards) -> int:
        """Return how many scanned blobs ``guards`` let one run remove."""
        return max(int(self.blobs_scanned * guards.max_delete_share), guards.always_allowed)

    def refusals(self, guards: Guards) -> list[str]:
        """Return why ``guards`` refuse this plan (empty: it may run)."""
        if guards.force:
            return []
        reasons = []
        if self.image_blobs_scanned and not self.image_blobs_with_record:
            reasons.append(
                f"the record store has no record for any of the {self.image_blobs_scanned} "
                "image blobs: it looks empty or is the wrong database"
            )
        limit = self.delete_limit(guards)
        if self.blob_deletions > limit:
            reasons.append(
                f"it would delete {self.blob_deletions} of {self.blobs_scanned} blobs "
                f"({_percent(self.blob_deletions, self.blobs_scanned)}), more than the "
                f"{guards.max_delete_share:.0%} limit ({limit} blobs)"
            )
        return reasons

    def summary(self, guards: Guards) -> str:
        """Return the plan as a few lines, with the guards' verdict."""
        lines = [
            f"reconcile plan (leaving alone anything younger than {_minutes(self.grace)}):",
            f"  stale pending uploads to remove: {len(self.stale_pending)}",
            f"  interrupted deletes to finish: {len(self.finished_deletes)}",
            f"  orphan blobs to remove: {_counted(self.orphan_blobs)}",
            f"  abandoned direct uploads to remove: {_counted(self.abandoned_incoming)}",
            f"  temp files of killed uploads to remove: {_counted(self.stale_temp_files)}",
            f"  photos past their time in the trash to purge: {len(self.expired_trash)}",
            f"  account deletions to finish: {len(self.deleting_accounts)}",
            f"  expired exports to remove: {self.expired_exports}",
            f"  recent blobs left alone (may be uploads in progress): {self.young_blobs_kept}",
            f"  recent temp files left alone (may be uploads in progress): "
            f"{self.young_temp_files_kept}",
            f"  blobs scanned: {self.blobs_scanned}; to delete: {self.blob_deletions} "
            f"({_percent(self.blob_deletions, self.blobs_scanned)}, "
            f"limit {self.delete_limit(guards)}{', forced' if guards.force else ''})",
        ]
        lines += [f"  REFUSED: {reason}" for reason in self.refusals(guards)]
        return "\n".join(lines)


@dataclass
class ReconcileReport:
    """What reconcile removed (or, in a dry run, would remove)."""

    dry_run: bool
    stale_pending: list[str] = field(default_factory=list)  # "<owner>/<image>"
    finished_deletes: list[str] = field(default_factory=list)  # "<owner>/<image>"
    orphan_blobs: list[str] = field(default_factory=list)  # keys
    abandoned_incoming: list[str] = field(default_factory=list)  # keys
    stale_temp_files: list[str] = field(default_factory=list)  # paths in the blob store
    stale_temp_bytes: int = 0
    purged_trash: list[str] = field(default_factory=list)  # "<owner>/<image>"
    deleted_accounts: list[str] = field(default_factory=list)  # user ids
    expired_exports: int = 0  # zips and their records (in a dry run: would be)
    young_blobs_kept: int = 0
    young_temp_files_kept: int = 0
    refused: list[str] = field(default_factory=list)  # why the guards stopped the run
    # Expired Idempotency-Keys deleted; None: not counted (a dry run, or no key store).
    expired_keys: int | None = None
    errors: list[str] = field(default_factory=list)

    @property
    def changed(self) -> int:
        """Return how many records and blobs were (or would be) removed."""
        return (
            len(self.stale_pending)
            + len(self.finished_deletes)
            + len(self.orphan_blobs)
            + len(self.abandoned_incoming)
            + len(self.stale_temp_files)
            + len(self.purged_trash)
            + len(self.deleted_accounts)
            + self.expired_exports
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
            f"  temp files of killed uploads {verb}: {len(self.stale_temp_files)} "
            f"({self.stale_temp_bytes:,} bytes)",
            f"  photos purged from the trash{' (would be)' if self.dry_run else ''}: "
            f"{len(self.purged_trash)}",
            f"  account deletions {'would be finished' if self.dry_run else 'finished'}: "
            f"{len(self.deleted_accounts)}",
            f"  expired exports {verb}: {self.expired_exports}",
            "  expired idempotency keys removed: "
            + ("not counted in a dry run" if self.expired_keys is None else f"{self.expired_keys}"),
            f"  recent blobs left alone (may be uploads in progress): {self.young_blobs_kept}",
            f"  recent temp files left alone (may be uploads in progress): "
            f"{self.young_temp_files_kept}",
        ]
        if self.refused:
            lines += ["  blob deletions REFUSED (no orphan or direct-upload blob removed):"]
            lines += [f"    {reason}" for reason in self.refused]
            lines += ["    check the record store settings; run with --force if this is intended"]
        if self.errors:
            lines.append(f"  errors: {len(self.errors)} (see log); run again to retry")
        return "\n".join(lines)


def reconcile(
    backends: Backends,
    *,
    dry_run: bool,
    grace: timedelta = DEFAULT_GRACE,
    now: datetime | None = None,
    guards: Guards | None = None,
    trash_days: int | None = None,
) -> ReconcileReport:
    """Plan, check the plan against ``guards``, then carry it out (unless a dry run)."""
    plan = plan_reconcile(backends, grace=grace, now=now, trash_days=trash_days)
    return carry_out(backends, plan, dry_run=dry_run, guards=guards or Guards())


def plan_reconcile(
    backends: Backends,
    *,
    grace: timedelta = DEFAULT_GRACE,
    now: datetime | None = None,
    trash_days: int | None = None,
) -> ReconcilePlan:
    """Find what a crash left behind (older than ``grace``) and expired trash; change nothing.

    ``trash_days`` None leaves the trash alone.
    """
    now = now or backends.clock()
    plan = ReconcilePlan(grace=grace, cutoff=now - grace, keys_expired_before=now - IDEMPOTENCY_TTL)
    plan.deleting_accounts = [user.id for user in backends.users.marked_deleting()]
    plan.exports_expired_before = now
    plan.expired_exports = len(backends.exports.expired(now, EXPORTS_COUNTED))
    if trash_days is not None:
        plan.expired_trash = due_for_purge(backends, now - timedelta(days=trash_days))
    # Materialise: carrying out removes records the query would be iterating over.
    for image in list(backends.images.unfinished(plan.cutoff)):
        stale = image.status is ImageStatus.PENDING
        (plan.stale_pending if stale else plan.finished_deletes).append(image)
    _plan_image_blobs(backends, plan)
    for blob in backends.blobs.scan(INCOMING_PREFIX):
        plan.blobs_scanned += 1
        if blob.updated < plan.cutoff:
            plan.abandoned_incoming.append(blob)
        else:
            plan.young_blobs_kept += 1
    for temp in backends.blobs.scan_partial():
        # A young temp file may be an upload writing right now.
        if temp.updated < plan.cutoff:
            plan.stale_temp_files.append(temp)
        else:
            plan.young_temp_files_kept += 1
    return plan


def carry_out(
    backends: Backends, plan: ReconcilePlan, *, dry_run: bool, guards: Guards
) -> ReconcileReport:
    """Do what ``plan`` says; report what was (or would be) done.

    A refusal of ``guards`` skips only the blob deletions (orphans, abandoned
    direct uploads); ``report.refused`` says why.
    """
    refused = plan.refusals(guards)
    orphans = [] if refused else plan.orphan_blobs
    incoming = [] if refused else plan.abandoned_incoming
    report = ReconcileReport(
        dry_run=dry_run,
        stale_pending=[_ref(image) for image in plan.stale_pending],
        finished_deletes=[_ref(image) for image in plan.finished_deletes],
        orphan_blobs=[blob.key for blob in orphans],
        abandoned_incoming=[blob.key for blob in incoming],
        stale_temp_files=[temp.key for temp in plan.stale_temp_files],
        stale_temp_bytes=sum(temp.size for temp in plan.stale_temp_files),
        purged_trash=[_ref(image) for image in plan.expired_trash],
        deleted_accounts=list(plan.deleting_accounts),
        expired_exports=plan.expired_exports,
        young_blobs_kept=plan.young_blobs_kept,
        young_temp_files_kept=plan.young_temp_files_kept,
        refused=refused,
    )
    if refused:
        log.error("reconcile refused the blob deletions: %s", "; ".join(refused))
    if not dry_run:
        # First: a person who asked to leave is gone before anything else is tidied.
        for user_id in plan.deleting_accounts:
            _attempt(report, f"account {user_id}", finish_account_deletion, backends, user_id)
        _finish_records(backends, plan.stale_pending + plan.finished_deletes, report)
        for blob in orphans + incoming:
            _attempt(report, blob.key, backends.blobs.delete, blob.key)
        for temp in plan.stale_temp_files:
            _attempt(report, temp.key, backends.blobs.delete_partial, temp.key)
        for image in plan.expired_trash:
            _attempt(report, _ref(image), purge_trashed, backends, image)
        _purge_expired_exports(backends, plan, report)
        _purge_expired_keys(backends, plan, report)
    log.info(
        "reconcile finished",
        extra={"dry_run": dry_run, "changed": report.changed, "errors": len(report.errors)},
    )
    return report


def _purge_expired_exports(
    backends: Backends, plan: ReconcilePlan, report: ReconcileReport
) -> None:
    before = plan.exports_expired_before
    report.expired_exports = 0  # what was removed, not what was planned
    if before is None:
        return

    def purge() -> None:
        report.expired_exports = purge_expired_exports(backends, EXPORT_BATCH, now=before)

    _attempt(report, "expired exports", purge)


def _purge_expired_keys(backends: Backends, plan: ReconcilePlan, report: ReconcileReport) -> None:
    keys = backends.idempotency
    if keys is None or plan.keys_expired_before is None:
        return
    before = plan.keys_expired_before

    def purge() -> None:
        report.expired_keys = keys.purge(before)

    _attempt(report, "expired idempotency keys", purge)


def _plan_image_blobs(backends: Backends, plan: ReconcilePlan) -> None:
    finishing = {(image.owner_id, image.id) for image in plan.stale_pending + plan.finished_deletes}
    for batch in _batches(backends.blobs.scan(USERS_PREFIX), CHECK_BATCH):
        plan.blobs_scanned += len(batch)
        plan.image_blobs_scanned += len(batch)
        refs = {blob.key: _image_ref(blob.key) for blob in batch}
        # Young blobs are looked up too: they tell whether the record store knows anything.
        known = backends.images.existing(ref for ref in refs.values() if ref is not None)
        for blob in batch:
            ref = refs[blob.key]
            # A key not shaped like one the app writes is owned by nobody either.
            owned = ref is not None and ref in known
            plan.image_blobs_with_record += owned
            if ref in finishing:
                continue  # removed with its record
            if blob.updated >= plan.cutoff:
                plan.young_blobs_kept += 1
            elif not owned:
                plan.orphan_blobs.append(blob)


def _finish_records(backends: Backends, images: Iterable[Image], report: ReconcileReport) -> None:
    for image in images:
        # Same order for stale and deleting: shares → blobs → record (refunding the
        # quota), so a crash here again leaves a record for the next run to find.
        _attempt(report, _ref(image), finish_delete, backends, image)


def _attempt(
    report: ReconcileReport, what: str, action: Callable[..., object], *args: object
) -> None:
    # One failure must not stop the rest; the next run retries what is left.
    try:
        action(*args)
    except Exception as exc:
        log.exception("reconcile could not remove %s", what)
        report.errors.append(f"{what}: {exc}")


def _ref(image: Image) -> str:
    return f"{image.owner_id}/{image.id}"


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


def _counted(blobs: list[BlobInfo]) -> str:
    return f"{len(blobs)} ({sum(blob.size for blob in blobs):,} bytes)"


def _percent(part: int, whole: int) -> str:
    return f"{part / whole:.0%}" if whole else "0%"


def _minutes(grace: timedelta) -> str:
    return f"{int(grace.total_seconds() // 60)} min"
