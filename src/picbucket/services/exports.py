"""Exports built by a job: "Export everything" for accounts too big for one request.

In job mode (``PICBUCKET_EXPORT_MODE=job``) an account storing more than
``PICBUCKET_EXPORT_STREAM_MAX_MB`` asks for an export (``request_export``); a runner
(adapters.export_runners: a Cloud Run job, or a thread) calls ``build_export``, which
writes the same zip as the streamed export (``account_export.export_entries``) into
the blob store under ``export_key`` as it is produced, saving progress now and then.
The owner downloads it until it expires (signed URL, or streamed by the app); then
reconcile purges zip and record (``purge_expired_exports``).

Order, as elsewhere (DESIGN.md): the record exists before any blob, and the blob is
removed before the record, so a crash leaves a record that says what to clean up.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, BinaryIO, NoReturn

from picbucket.domain import (
    BackendUnavailable,
    Conflict,
    Export,
    ExportStatus,
    NotFound,
    StorageFull,
    export_key,
    is_id,
    new_id,
)
from picbucket.ports import Backends
from picbucket.services.account_export import export_entries
from picbucket.services.zips import stream_zip
from picbucket.settings import MIB

if TYPE_CHECKING:
    from collections.abc import Iterable, Iterator

    from picbucket.settings import Settings

log = logging.getLogger(__name__)

SIGNED_LINK_TTL = timedelta(minutes=15)
STALLED_AFTER = timedelta(minutes=10)
# A pending or running export that never finishes is purged this long after creation.
UNFINISHED_KEEP = timedelta(days=1)
# Progress is saved every this many photos or seconds, whichever comes first, but
# never twice within PROGRESS_MIN_SECONDS: one record write per photo would cost more
# than a small photo, and Firestore sustains about one write a second per document.
# Module level so tests can change them.
PROGRESS_PHOTOS = 100
PROGRESS_SECONDS = 2.0
PROGRESS_MIN_SECONDS = 1.0

INTERRUPTED = "The export was interrupted. Try again."


@dataclass(frozen=True)
class ExportPolicy:
    """How "Export everything" is delivered (from Settings)."""

    mode: str  # "stream" | "job"
    stream_max_bytes: int
    keep: timedelta

    @classmethod
    def from_settings(cls, settings: Settings) -> ExportPolicy:
        """Return the policy the ``PICBUCKET_EXPORT_*`` settings describe."""
        return cls(
            mode=settings.export_mode,
            stream_max_bytes=settings.export_stream_max_mb * MIB,
            keep=timedelta(days=settings.export_keep_days),
        )


@dataclass(frozen=True)
class ExportDownload:
    """Where a ready export's bytes come from: a signed URL, or a stream from the app."""

    filename: str
    url: str | None
    stream: BinaryIO | None
    size: int


class _Removed(Exception):
    """The export's record went away while it was built (the account is being deleted)."""


class _FinishedElsewhere(Exception):
    """Another run of the same export made it READY first: its zip is the one to keep."""


def needs_job(backends: Backends, policy: ExportPolicy, owner_id: str) -> bool:
    """Tell whether the owner's export must be built by a job instead of streamed."""
    if policy.mode != "job" or backends.export_runner is None:
        return False
    return backends.images.usage(owner_id).bytes > policy.stream_max_bytes


def request_export(backends: Backends, policy: ExportPolicy, owner_id: str) -> Export:
    """Return the export in progress, or add one (PENDING) and start the runner.

    Raises ``BackendUnavailable`` (the new export saved FAILED) if it cannot start.
    """
    runner = backends.export_runner
    if runner is None:
        raise BackendUnavailable("Exports cannot be prepared on this server.")
    now = backends.clock()
    asked = Export(
        id=new_id(),
        owner_id=owner_id,
        status=ExportStatus.PENDING,
        created=now,
        updated=now,
        expires=now + UNFINISHED_KEEP,
    )
    # Atomic: of a double click or two tabs, one request adds and starts an export,
    # the other gets that one (a stalled export does not count as in progress).
    export = backends.exports.add_unless_busy(asked, now - STALLED_AFTER)
    if export.id != asked.id:
        return export
    try:
        runner.start(owner_id, export.id)
    except Exception as exc:
        log.exception("could not start export %s of %s", export.id, owner_id)
        failed = replace(
            export,
            status=ExportStatus.FAILED,
            updated=backends.clock(),
            error="The export could not be started. Try again in a few minutes.",
        )
        backends.exports.save(failed)
        if isinstance(exc, BackendUnavailable):
            raise
        raise BackendUnavailable("The export could not be started.") from exc
    return export


def build_export(backends: Backends, policy: ExportPolicy, owner_id: str, export_id: str) -> Export:
    """Write the export's zip into the blob store; return the export as it ends.

    Safe to run twice: a READY export is left alone, and so is a FAILED one (its
    owner has been told and offered "Try again"; a late start of its job must not
    build a second copy); a pending or running one is built afresh (a leftover zip
    of an interrupted run is deleted first). Any failure is saved as FAILED with a
    sentence for the owner, and no zip is left. ``NotFound`` if there is no such export.
    """
    export = backends.exports.get(owner_id, export_id) if is_id(export_id) else None
    if export is None:
        raise NotFound("No such export.")
    if not export.status.in_progress:
        return export
    key = export_key(owner_id, export_id)
    filename = download_filename(export)
    progress: _Progress | None = None
    try:
        user = backends.users.get(owner_id)
        if user is None or user.deleting:
            raise _Removed
        # put_stream is create-only: a zip left by an interrupted run goes first.
        backends.blobs.delete(key)
        # Usage counts trashed photos too (they are charged), the zip does not.
        trashed = backends.images.trash_count(owner_id)
        estimate = max(backends.images.usage(owner_id).images - trashed, 0)
        progress = _Progress(backends, export, estimate)
        chunks = stream_zip(backends.blobs, export_entries(backends, owner_id, progress.photos))
        info = backends.blobs.put_stream(
            key, progress.count(chunks), content_type="application/zip", download_name=filename
        )
        now = backends.clock()
        ready = replace(
            progress.export,
            status=ExportStatus.READY,
            updated=now,
            expires=now + policy.keep,
            photos_total=progress.done,
            photos_done=progress.done,
            bytes_written=info.size,
            error=None,
        )
        if not backends.exports.save(ready):
            _refused(backends, owner_id, export_id)
    except _Removed:
        backends.blobs.delete(key)
        raise NotFound("The export was removed while it was being built.") from None
    except (_FinishedElsewhere, Conflict):
        # Another run of this export (a retry racing one thought lost) finished it, or
        # wrote the zip first: the zip is that run's; deleting or failing it would lose it.
        log.warning("export %s of %s was written by another run", export_id, owner_id)
        return backends.exports.get(owner_id, export_id) or export
    except Exception as exc:
        log.exception("export %s of %s failed", export_id, owner_id)
        if _finished_elsewhere(backends, owner_id, export_id):
            return export
        _delete_quietly(backends, key)
        failed = replace(
            progress.export if progress else export,
            status=ExportStatus.FAILED,
            updated=backends.clock(),
            error=_reason(exc),
        )
        backends.exports.save(failed)
        return failed
    try:
        _remove_older(backends, ready)
    except Exception:
        # The new zip is ready whatever happens to the old ones: they expire anyway.
        log.exception("could not remove the exports older than %s", export_id)
    log.info(
        "export ready",
        extra={
            "event": "export_ready",
            "user_id": owner_id,
            "photos": ready.photos_done,
            "bytes": ready.bytes_written,
        },
    )
    return ready


def current_export(backends: Backends, owner_id: str) -> Export | None:
    """Return the owner's latest export, as ``find_export`` describes it."""
    return _as_seen(backends, backends.exports.latest(owner_id))


def find_export(backends: Backends, owner_id: str, export_id: str) -> Export | None:
    """Return one of the owner's exports (None: not theirs, or not an id at all).

    One in progress that stopped moving reads as FAILED ("interrupted").
    """
    if not is_id(export_id):
        return None
    return _as_seen(backends, backends.exports.get(owner_id, export_id))


def _as_seen(backends: Backends, export: Export | None) -> Export | None:
    if export is None or not export.status.in_progress:
        return export
    if backends.clock() - export.updated > STALLED_AFTER:
        return replace(export, status=ExportStatus.FAILED, error=INTERRUPTED)
    return export


def export_download(backends: Backends, owner_id: str, export_id: str) -> ExportDownload:
    """Return how to download the owner's ready export; ``NotFound`` otherwise."""
    export = find_export(backends, owner_id, export_id)
    if (
        export is None
        or export.status is not ExportStatus.READY
        or export.expires <= backends.clock()
    ):
        raise NotFound("That export is not available (any more).")
    key = export_key(owner_id, export_id)
    filename = download_filename(export)
    url = backends.blobs.download_url(key, SIGNED_LINK_TTL)
    if url is not None:
        return ExportDownload(filename=filename, url=url, stream=None, size=export.bytes_written)
    stream = backends.blobs.open(key)
    return ExportDownload(filename=filename, url=None, stream=stream, size=export.bytes_written)


def download_filename(export: Export) -> str:
    """Return the zip's name for the owner: the date the export was asked for."""
    return f"picbucket-export-{export.created:%Y-%m-%d}.zip"


def purge_expired_exports(
    backends: Backends, limit: int = 200, *, now: datetime | None = None
) -> int:
    """Remove every export expired by ``now`` (zip, then record), ``limit`` at a time.

    Returns how many went (reconcile reports it).
    """
    now = now or backends.clock()
    removed = 0
    seen: set[tuple[str, str]] = set()
    while batch := backends.exports.expired(now, limit):
        refs = {(export.owner_id, export.id) for export in batch}
        if refs <= seen:
            # Records that will not go away: stop rather than spin; the next run retries.
            raise RuntimeError("expired exports were not removed")
        for export in batch:
            _remove(backends, export)
            seen.add((export.owner_id, export.id))
            removed += 1
        if len(batch) < limit:
            break
    return removed


def remove_exports_of(backends: Backends, owner_id: str) -> int:
    """Remove every export of the owner (zips, records); return how many records went."""
    exports = backends.exports.for_owner(owner_id)
    for export in exports:
        _remove(backends, export)
    # A zip whose record is gone already (a build that crashed after its record was
    # removed) is found by its place.
    for blob in list(backends.blobs.scan(f"exports/{owner_id}/")):
        backends.blobs.delete(blob.key)
    return len(exports)


def _remove_older(backends: Backends, ready: Export) -> None:
    # One ready copy per person: a new export replaces the ones asked for before it
    # (each is a full copy of the account, uncharged by the quota), so "Prepare a new
    # export" pressed every day keeps one zip, not a week of them. Only older ones: an
    # older build finishing after a newer one must not delete the newer zip. One still
    # being built stays (it ends or expires on its own).
    for export in backends.exports.for_owner(ready.owner_id):
        older = (export.created, export.id) < (ready.created, ready.id)
        if older and not export.status.in_progress:
            _remove(backends, export)


def _refused(backends: Backends, owner_id: str, export_id: str) -> NoReturn:
    """Raise why the store refused a save: the export is gone, or another run finished it."""
    if backends.exports.get(owner_id, export_id) is None:
        raise _Removed
    raise _FinishedElsewhere


def _finished_elsewhere(backends: Backends, owner_id: str, export_id: str) -> bool:
    # Asked after a failure, when the record store may be the thing that failed.
    try:
        latest = backends.exports.get(owner_id, export_id)
    except Exception:
        return False
    return latest is not None and latest.status is ExportStatus.READY


def _remove(backends: Backends, export: Export) -> None:
    # The zip first: a crash in between leaves the record, which says where it was.
    backends.blobs.delete(export_key(export.owner_id, export.id))
    backends.exports.remove(export.owner_id, export.id)


def _delete_quietly(backends: Backends, key: str) -> None:
    # The failure is saved even if the zip cannot go now: its record's expiry purges it.
    try:
        backends.blobs.delete(key)
    except Exception:
        log.exception("could not delete the zip of a failed export at %s", key)


def _reason(exc: Exception) -> str:
    """Return why an export failed, in words for its owner."""
    if isinstance(exc, StorageFull):
        return "The server ran out of disk space while writing the export. Try again later."
    if isinstance(exc, BackendUnavailable):
        return "Storage was unavailable while the export was being written. Try again."
    if isinstance(exc, NotFound):
        return "A photo was deleted while the export was being written. Try again."
    return "The export could not be finished. Try again."


class _Progress:
    """Counts photos and bytes as the zip is written; saves them every so often."""

    def __init__(self, backends: Backends, export: Export, estimate: int) -> None:
        self._backends = backends
        self.done = 0
        self.written = 0
        self._saved_done = 0
        self._saved_at = time.monotonic()
        self.export = replace(
            export,
            status=ExportStatus.RUNNING,
            updated=backends.clock(),
            photos_total=estimate,
            photos_done=0,
            bytes_written=0,
            error=None,
        )
        self._store()

    def photos(self, done: int) -> None:
        """Note that ``done`` photos are written (``export_entries``' callback)."""
        self.done = done
        since = time.monotonic() - self._saved_at
        if done - self._saved_done >= PROGRESS_PHOTOS and since >= PROGRESS_MIN_SECONDS:
            self._save()
        else:
            self._maybe_save()

    def count(self, chunks: Iterable[bytes]) -> Iterator[bytes]:
        """Pass ``chunks`` through, counting their bytes."""
        for chunk in chunks:
            self.written += len(chunk)
            self._maybe_save()
            yield chunk

    def _maybe_save(self) -> None:
        if time.monotonic() - self._saved_at >= PROGRESS_SECONDS:
            self._save()

    def _save(self) -> None:
        self.export = replace(
            self.export,
            updated=self._backends.clock(),
            # The estimate counts photos stored while this runs too: never below done.
            photos_total=max(self.export.photos_total, self.done),
            photos_done=self.done,
            bytes_written=self.written,
        )
        self._store()
        self._saved_done = self.done
        self._saved_at = time.monotonic()

    def _store(self) -> None:
        if not self._backends.exports.save(self.export):
            _refused(self._backends, self.export.owner_id, self.export.id)
