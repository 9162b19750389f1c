"""ExportRepository on Firestore, over the shared client.

Layout: ``users/{owner}/exports/{export_id}``, and ``users/{owner}/export_slot/current``
naming the export being built (``add_unless_busy``). Under the owner's document, so
a read is owner-scoped by its path; reconcile's sweep of expired exports is the one
collection-group query (a single-field ``expires`` index, firestore.indexes.json).
"""

from __future__ import annotations

import contextlib
from datetime import datetime
from typing import TYPE_CHECKING, Any

from picbucket.adapters.firestore_codec import _dt
from picbucket.adapters.firestore_collections import USERS
from picbucket.adapters.firestore_errors import _translate
from picbucket.domain import Busy, Export, ExportStatus

if TYPE_CHECKING:
    from google.cloud.firestore import Client, CollectionReference, DocumentReference

EXPORTS = "exports"
# users/{owner}/export_slot/current names the export holding the owner's one build.
SLOT = "export_slot"
# Each attempt either commits, returns the holder, or frees a stale slot; a second
# attempt normally settles it, more only when requests keep racing.
SLOT_ATTEMPTS = 5
# A save races only a second run of the same export: two looks settle it.
SAVE_ATTEMPTS = 3


class FirestoreExports:
    """``ExportRepository`` over ``users/{owner}/exports``."""

    def __init__(self, client: Client) -> None:
        self._client = client

    def _exports(self, owner_id: str) -> CollectionReference:
        exports: CollectionReference = (
            self._client.collection(USERS).document(owner_id).collection(EXPORTS)
        )
        return exports

    def _ref(self, owner_id: str, export_id: str) -> DocumentReference:
        ref: DocumentReference = self._exports(owner_id).document(export_id)
        return ref

    def add(self, export: Export) -> None:
        """Insert a new export (create-only)."""
        with _translate(conflict="That export already exists."):
            self._ref(export.owner_id, export.id).create(_export_doc(export))

    def add_unless_busy(self, export: Export, stalled_before: datetime) -> Export:
        """Create ``export`` unless the owner has one in progress updated since ``stalled_before``.

        Lock-free: the owner's build slot (``users/{owner}/export_slot/current``) and
        the export are created together in one batch, create-only, so of racing
        requests exactly one commits and the others read the winner. A slot whose
        export is finished, failed, stalled or gone is freed with a precondition on
        its update time (never one another request has just taken). No transaction:
        on a contended transaction Firestore holds locks for seconds, where racing
        clicks should get their answer at once.
        """
        from google.api_core import exceptions as gexc
        from google.cloud.firestore_v1.base_query import FieldFilter

        # One in progress already (however it was added) is the answer; the slot below
        # settles requests racing each other past this read.
        statuses = [status.value for status in ExportStatus if status.in_progress]
        in_progress = self._exports(export.owner_id).where(
            filter=FieldFilter("status", "in", statuses)
        )
        with _translate():
            found = [_export(snap) for snap in in_progress.stream()]
        busy = [candidate for candidate in found if _busy(candidate, stalled_before)]
        if busy:
            return max(busy, key=lambda candidate: (candidate.created, candidate.id))
        slot = self._slot(export.owner_id)
        for _ in range(SLOT_ATTEMPTS):
            batch = self._client.batch()
            batch.create(slot, {"export_id": export.id})
            batch.create(self._ref(export.owner_id, export.id), _export_doc(export))
            try:
                with _translate(passthrough=gexc.Conflict):
                    batch.commit()
                return export
            except gexc.Conflict:
                pass  # the slot is held: by whom?
            with _translate():
                held = slot.get()
            if not held.exists:
                continue  # freed meanwhile
            holder = self.get(export.owner_id, str(held.get("export_id")))
            if holder is not None and _busy(holder, stalled_before):
                return holder
            self._free(slot, held.update_time)
        raise Busy("Another export request is being handled right now. Try again.")

    def _slot(self, owner_id: str) -> DocumentReference:
        ref: DocumentReference = (
            self._client.collection(USERS).document(owner_id).collection(SLOT).document("current")
        )
        return ref

    def _free(self, slot: DocumentReference, update_time: Any) -> None:
        """Delete the slot if it is still as read (a newer holder keeps it)."""
        from google.api_core import exceptions as gexc

        option = self._client.write_option(last_update_time=update_time)
        stale = (gexc.FailedPrecondition, gexc.NotFound)
        with contextlib.suppress(*stale), _translate(passthrough=stale):
            slot.delete(option=option)

    def get(self, owner_id: str, export_id: str) -> Export | None:
        """Return the owner's export, or None."""
        with _translate():
            snap = self._ref(owner_id, export_id).get()
        return _export(snap) if snap.exists else None

    def latest(self, owner_id: str) -> Export | None:
        """Return the owner's most recently created export, or None."""
        newest = self._newest(owner_id, limit=1)
        return newest[0] if newest else None

    def save(self, export: Export) -> bool:
        """Store status, progress, error and expiry; False if absent or READY (final).

        Read, then update on the condition that the document is as read (its update
        time): a READY written in between by another run makes this attempt fail and
        the next one see it. Optimistic, so the one writer of an export never waits.
        """
        from google.api_core import exceptions as gexc

        ref = self._ref(export.owner_id, export.id)
        for _ in range(SAVE_ATTEMPTS):
            with _translate():
                snap = ref.get()
            if not snap.exists or snap.get("status") == ExportStatus.READY.value:
                return False
            option = self._client.write_option(last_update_time=snap.update_time)
            stale = (gexc.FailedPrecondition, gexc.NotFound)
            try:
                with _translate(passthrough=stale):
                    ref.update(_progress_fields(export), option=option)
            except stale:
                continue  # changed (or removed) since read: look again
            return True
        raise Busy("The export's record kept changing; try again.")

    def remove(self, owner_id: str, export_id: str) -> None:
        """Delete an export's record, and the owner's build slot if it holds it."""
        slot = self._slot(owner_id)
        with _translate():
            self._ref(owner_id, export_id).delete()
            held = slot.get()
        if not held.exists:
            return
        holder = str(held.get("export_id"))
        # Its own slot, or one whose holder is gone already (a removal that stopped
        # between the two deletes): nothing else would ever free it.
        if holder == export_id or self.get(owner_id, holder) is None:
            self._free(slot, held.update_time)

    def for_owner(self, owner_id: str) -> list[Export]:
        """Return every export of the owner, newest first."""
        return self._newest(owner_id, limit=None)

    def expired(self, before: datetime, limit: int) -> list[Export]:
        """Return up to ``limit`` exports of anyone that expired before ``before``."""
        from google.cloud.firestore_v1.base_query import FieldFilter

        query = (
            self._client.collection_group(EXPORTS)
            .where(filter=FieldFilter("expires", "<", before))
            .order_by("expires")
            .limit(limit)
        )
        with _translate():
            return [_export(snap) for snap in query.stream()]

    def _newest(self, owner_id: str, limit: int | None) -> list[Export]:
        from google.cloud import firestore

        query = self._exports(owner_id).order_by("created", direction=firestore.Query.DESCENDING)
        if limit is not None:
            query = query.limit(limit)
        with _translate():
            return [_export(snap) for snap in query.stream()]


def _busy(export: Export, stalled_before: datetime) -> bool:
    return export.status.in_progress and export.updated >= stalled_before


def _export_doc(export: Export) -> dict[str, Any]:
    return {
        "owner_id": export.owner_id,
        "status": export.status.value,
        "created": export.created,
        "updated": export.updated,
        "expires": export.expires,
        "photos_total": export.photos_total,
        "photos_done": export.photos_done,
        "bytes_written": export.bytes_written,
        "error": export.error,
    }


def _progress_fields(export: Export) -> dict[str, Any]:
    # What ``save`` may change: never the owner or the creation time (as on SQLite).
    doc = _export_doc(export)
    del doc["owner_id"], doc["created"]
    return doc


def _export(snap: Any) -> Export:
    data: dict[str, Any] = snap.to_dict()
    return Export(
        id=snap.id,
        owner_id=data["owner_id"],
        status=ExportStatus(data["status"]),
        created=_dt(data["created"]),
        updated=_dt(data["updated"]),
        expires=_dt(data["expires"]),
        photos_total=int(data.get("photos_total", 0)),
        photos_done=int(data.get("photos_done", 0)),
        bytes_written=int(data.get("bytes_written", 0)),
        error=data.get("error"),
    )
