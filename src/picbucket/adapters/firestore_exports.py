"""ExportRepository on Firestore, over the shared client.

Layout: ``users/{owner}/exports/{export_id}``. Under the owner's document, so a read
is owner-scoped by its path; reconcile's sweep of expired exports is the one
collection-group query (a single-field ``expires`` index, firestore.indexes.json).
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from picbucket.adapters.firestore_codec import _dt
from picbucket.adapters.firestore_collections import USERS
from picbucket.adapters.firestore_errors import _translate
from picbucket.domain import Export, ExportStatus

if TYPE_CHECKING:
    from google.cloud.firestore import Client, CollectionReference, DocumentReference

EXPORTS = "exports"
# Every racing request for one owner but the winner aborts once and then reads the
# winner's export; the client's default of 5 attempts is too few for a burst of clicks.
TRANSACTION_ATTEMPTS = 20


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

        One transaction: the query of the owner's in-progress exports is read in it, so
        a racing create of a matching document aborts one of the two, and the retry
        sees the other's export. A single-field ``in`` on ``status``: no composite index.
        """
        from google.cloud import firestore
        from google.cloud.firestore_v1.base_query import FieldFilter

        ref = self._ref(export.owner_id, export.id)
        in_progress = self._exports(export.owner_id).where(
            filter=FieldFilter(
                "status", "in", [ExportStatus.PENDING.value, ExportStatus.RUNNING.value]
            )
        )

        @firestore.transactional
        def run(transaction: Any) -> Export:
            busy = [
                found
                for found in (_export(snap) for snap in transaction.get(in_progress))
                if found.updated >= stalled_before
            ]
            if busy:
                return max(busy, key=lambda found: (found.created, found.id))
            transaction.create(ref, _export_doc(export))
            return export

        with _translate(conflict="That export already exists."):
            result: Export = run(self._client.transaction(max_attempts=TRANSACTION_ATTEMPTS))
        return result

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
        """Store status, progress, error and expiry; False if absent."""
        from google.api_core import exceptions as gexc

        try:
            with _translate(passthrough=gexc.NotFound):
                self._ref(export.owner_id, export.id).update(_progress_fields(export))
        except gexc.NotFound:
            return False
        return True

    def remove(self, owner_id: str, export_id: str) -> None:
        """Delete an export's record; absent is not an error."""
        with _translate():
            self._ref(owner_id, export_id).delete()

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
