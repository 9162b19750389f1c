"""IdempotencyKeys on the shared SQLite file (table ``idempotency_keys``, migration 7)."""

from __future__ import annotations

import sqlite3
from datetime import datetime

from picbucket.adapters.sqlite_codec import _req_dt, _ts
from picbucket.adapters.sqlite_records import SqliteRecords
from picbucket.ports import IdempotencyRecord


class SqliteIdempotency:
    """One row per (owner, key); claims run under ``BEGIN IMMEDIATE``, so they serialise."""

    def __init__(self, db: SqliteRecords) -> None:
        self._db = db

    def claim(self, record: IdempotencyRecord, stale_before: datetime) -> IdempotencyRecord:
        """Bind the key unless bound since ``stale_before``; return the binding in force."""
        with self._db.transaction() as conn:
            row = conn.execute(
                "SELECT * FROM idempotency_keys WHERE owner_id = ? AND key = ?",
                (record.owner_id, record.key),
            ).fetchone()
            if row is not None and _req_dt(row["created"]) >= stale_before:
                return _record(row)
            conn.execute(
                "INSERT OR REPLACE INTO idempotency_keys"
                " (owner_id, key, image_id, fingerprint, created) VALUES (?, ?, ?, ?, ?)",
                (
                    record.owner_id,
                    record.key,
                    record.image_id,
                    record.fingerprint,
                    _ts(record.created),
                ),
            )
        return record

    def rebind(self, record: IdempotencyRecord, expected_image_id: str) -> bool:
        """Move the key to ``record.image_id`` if it still points at ``expected_image_id``."""
        with self._db.transaction() as conn:
            changed = conn.execute(
                "UPDATE idempotency_keys SET image_id = ?, fingerprint = ?, created = ?"
                " WHERE owner_id = ? AND key = ? AND image_id = ?",
                (
                    record.image_id,
                    record.fingerprint,
                    _ts(record.created),
                    record.owner_id,
                    record.key,
                    expected_image_id,
                ),
            ).rowcount
        return changed == 1

    def purge(self, before: datetime) -> int:
        """Delete bindings created before ``before``; return how many."""
        with self._db.transaction() as conn:
            deleted: int = conn.execute(
                "DELETE FROM idempotency_keys WHERE created < ?", (_ts(before),)
            ).rowcount
        return deleted


def _record(row: sqlite3.Row) -> IdempotencyRecord:
    return IdempotencyRecord(
        owner_id=row["owner_id"],
        key=row["key"],
        image_id=row["image_id"],
        fingerprint=row["fingerprint"],
        created=_req_dt(row["created"]),
    )
