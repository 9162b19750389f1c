"""ExportRepository on the shared SQLite file (table from migration 8).

Every statement but the reconcile sweep is scoped by ``owner_id``: another owner's
export id matches no row, so it reads as absent, exactly like a made-up id.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime

from picbucket.adapters.sqlite_codec import _req_dt, _ts
from picbucket.adapters.sqlite_records import SqliteRecords
from picbucket.domain import Conflict, Export, ExportStatus


class SqliteExports:
    """Exports in ``exports``, newest first per owner."""

    def __init__(self, db: SqliteRecords) -> None:
        self._db = db

    def add(self, export: Export) -> None:
        """Insert a new export; ``Conflict`` if the owner already has one with its id."""
        # Conflict, as on Firestore: callers handle one domain error, not the driver's.
        with _conflict_as_domain_error(), self._db.transaction() as conn:
            _insert(conn, export)

    def add_unless_busy(self, export: Export, stalled_before: datetime) -> Export:
        """Insert ``export`` unless the owner has one in progress updated since ``stalled_before``.

        One ``BEGIN IMMEDIATE`` transaction: the write lock is held from the check on,
        so of two racing requests the second sees the first one's export.
        """
        in_progress = [status.value for status in ExportStatus if status.in_progress]
        with _conflict_as_domain_error(), self._db.transaction() as conn:
            busy = conn.execute(
                "SELECT * FROM exports WHERE owner_id = ? AND status IN (?, ?) AND updated >= ?"
                " ORDER BY created DESC, id DESC LIMIT 1",
                (export.owner_id, *in_progress, _ts(stalled_before)),
            ).fetchone()
            if busy is not None:
                return _export(busy)
            _insert(conn, export)
        return export

    def get(self, owner_id: str, export_id: str) -> Export | None:
        """Return the owner's export, or None."""
        rows = self._db.query(
            "SELECT * FROM exports WHERE owner_id = ? AND id = ?", (owner_id, export_id)
        )
        return _export(rows[0]) if rows else None

    def latest(self, owner_id: str) -> Export | None:
        """Return the owner's most recently created export, or None."""
        rows = self._db.query(
            "SELECT * FROM exports WHERE owner_id = ? ORDER BY created DESC, id DESC LIMIT 1",
            (owner_id,),
        )
        return _export(rows[0]) if rows else None

    def save(self, export: Export) -> bool:
        """Store status, progress, error and expiry; False if absent or READY (final)."""
        with self._db.transaction() as conn:
            changed = conn.execute(
                "UPDATE exports SET status = ?, updated = ?, expires = ?, photos_total = ?,"
                " photos_done = ?, bytes_written = ?, error = ?"
                " WHERE owner_id = ? AND id = ? AND status != ?",
                (
                    export.status.value,
                    _ts(export.updated),
                    _ts(export.expires),
                    export.photos_total,
                    export.photos_done,
                    export.bytes_written,
                    export.error,
                    export.owner_id,
                    export.id,
                    ExportStatus.READY.value,
                ),
            ).rowcount
        return changed == 1

    def remove(self, owner_id: str, export_id: str) -> None:
        """Delete an export's record; absent is not an error."""
        with self._db.transaction() as conn:
            conn.execute("DELETE FROM exports WHERE owner_id = ? AND id = ?", (owner_id, export_id))

    def for_owner(self, owner_id: str) -> list[Export]:
        """Return every export of the owner, newest first."""
        rows = self._db.query(
            "SELECT * FROM exports WHERE owner_id = ? ORDER BY created DESC, id DESC", (owner_id,)
        )
        return [_export(row) for row in rows]

    def expired(self, before: datetime, limit: int) -> list[Export]:
        """Return up to ``limit`` exports of anyone that expired before ``before``."""
        rows = self._db.query(
            "SELECT * FROM exports WHERE expires < ? ORDER BY expires LIMIT ?",
            (_ts(before), limit),
        )
        return [_export(row) for row in rows]


def _insert(conn: sqlite3.Connection, export: Export) -> None:
    conn.execute(
        "INSERT INTO exports (owner_id, id, status, created, updated, expires,"
        " photos_total, photos_done, bytes_written, error)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            export.owner_id,
            export.id,
            export.status.value,
            _ts(export.created),
            _ts(export.updated),
            _ts(export.expires),
            export.photos_total,
            export.photos_done,
            export.bytes_written,
            export.error,
        ),
    )


@contextmanager
def _conflict_as_domain_error() -> Iterator[None]:
    try:
        yield
    except sqlite3.IntegrityError:
        raise Conflict("That export already exists.") from None


def _export(row: sqlite3.Row) -> Export:
    return Export(
        id=row["id"],
        owner_id=row["owner_id"],
        status=ExportStatus(row["status"]),
        created=_req_dt(row["created"]),
        updated=_req_dt(row["updated"]),
        expires=_req_dt(row["expires"]),
        photos_total=row["photos_total"],
        photos_done=row["photos_done"],
        bytes_written=row["bytes_written"],
        error=row["error"],
    )
