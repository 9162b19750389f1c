"""SQLite queries behind the admin pages: people by email prefix, and the audit log.

Used by ``SqliteUsers``; both listings are keyset pages on an index
(``users_email``, ``audit_newest``), so page 200 of 10,000 people costs what page 1 does.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from datetime import UTC, datetime

from picbucket.account_cursors import (
    decode_audit_cursor,
    decode_people_cursor,
    encode_audit_cursor,
    encode_people_cursor,
)
from picbucket.domain import AuditEntry, Page, User

# Above every character an email may hold: "prefix" <= email < prefix + this.
_PREFIX_END = "\U0010ffff"
Query = Callable[[str, tuple[object, ...]], list[sqlite3.Row]]


def search_rows(query: Query, prefix: str, cursor: str | None, limit: int) -> list[sqlite3.Row]:
    """Return up to ``limit + 1`` rows of users whose email starts with ``prefix``."""
    sql = "SELECT * FROM users WHERE email >= ? AND email < ?"
    params: list[object] = [prefix, prefix + _PREFIX_END]
    if cursor:
        email, user_id = decode_people_cursor(cursor)
        sql += " AND (email > ? OR (email = ? AND id > ?))"
        params += [email, email, user_id]
    sql += " ORDER BY email, id LIMIT ?"
    params.append(limit + 1)
    return query(sql, tuple(params))


def people_page(users: list[User], limit: int) -> Page[User]:
    """Cut ``limit + 1`` users to a page and its cursor."""
    if len(users) <= limit:
        return Page(users, None)
    last = users[limit - 1]
    return Page(users[:limit], encode_people_cursor(last.email, last.id))


def insert_audit(conn: sqlite3.Connection, entry: AuditEntry) -> None:
    """Insert one audit record inside the caller's transaction."""
    conn.execute(
        "INSERT INTO audit (id, at, actor_id, actor_email, action, target_id, target_email,"
        " detail) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        (
            entry.id,
            _ts(entry.when),
            entry.actor_id,
            entry.actor_email,
            entry.action,
            entry.target_id,
            entry.target_email,
            entry.detail,
        ),
    )


def audit_page(query: Query, cursor: str | None, limit: int) -> Page[AuditEntry]:
    """Return audit records newest first, after ``cursor``."""
    sql = "SELECT * FROM audit"
    params: list[object] = []
    if cursor:
        when, entry_id = decode_audit_cursor(cursor)
        sql += " WHERE (at < ? OR (at = ? AND id < ?))"
        params += [_ts(when), _ts(when), entry_id]
    sql += " ORDER BY at DESC, id DESC LIMIT ?"
    params.append(limit + 1)
    entries = [_entry(row) for row in query(sql, tuple(params))]
    if len(entries) <= limit:
        return Page(entries, None)
    last = entries[limit - 1]
    return Page(entries[:limit], encode_audit_cursor(last.when, last.id))


def _ts(value: datetime) -> str:
    # The fixed-width UTC text sqlite_codec uses, so text order is time order.
    return value.astimezone(UTC).isoformat(timespec="microseconds")


def _entry(row: sqlite3.Row) -> AuditEntry:
    return AuditEntry(
        id=row["id"],
        when=datetime.fromisoformat(row["at"]),
        actor_id=row["actor_id"],
        actor_email=row["actor_email"],
        action=row["action"],
        target_id=row["target_id"],
        target_email=row["target_email"],
        detail=row["detail"],
    )
