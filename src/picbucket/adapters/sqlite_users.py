"""UserRepository on the shared SQLite file (table ``users``).

The people search and the audit log are in ``sqlite_people``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from picbucket.adapters import sqlite_people
from picbucket.adapters.sqlite_codec import _ts, _user
from picbucket.domain import AccountChange, AuditEntry, Page, User

if TYPE_CHECKING:
    from picbucket.adapters.sqlite_records import SqliteRecords


class SqliteUsers:
    """UserRepository on SQLite."""

    def __init__(self, db: SqliteRecords) -> None:
        self._db = db

    def get(self, user_id: str) -> User | None:
        """Return the user, or None."""
        rows = self._db.query("SELECT * FROM users WHERE id = ?", (user_id,))
        return _user(rows[0]) if rows else None

    def upsert(self, user: User) -> User:
        """Create the user or refresh what sign-in says; the epoch and account state are kept.

        An account being deleted is not refreshed: the caller sees ``deleting``.
        """
        with self._db.transaction() as conn:
            conn.execute(
                "INSERT INTO users (id, issuer, subject, email, name, created, session_epoch,"
                " role, last_sign_in, hosted_domain) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
                " ON CONFLICT (id) DO UPDATE SET email = excluded.email, name = excluded.name,"
                " role = excluded.role, last_sign_in = excluded.last_sign_in,"
                " hosted_domain = excluded.hosted_domain WHERE deleting = 0",
                (
                    user.id,
                    user.issuer,
                    user.subject,
                    user.email,
                    user.name,
                    _ts(user.created),
                    user.session_epoch,
                    user.role,
                    _ts(user.last_sign_in),
                    user.hosted_domain,
                ),
            )
        stored = self.get(user.id)
        assert stored is not None
        return stored

    def set_session_epoch(self, user_id: str, epoch: str) -> None:
        """Replace the session epoch."""
        with self._db.transaction() as conn:
            conn.execute("UPDATE users SET session_epoch = ? WHERE id = ?", (epoch, user_id))

    def change_account(
        self, user_id: str, change: AccountChange, audit: AuditEntry | None = None
    ) -> User | None:
        """Apply ``change`` and insert ``audit`` in one transaction; None if no such user."""
        sets: dict[str, object] = {}
        if change.disabled is not None:
            sets["disabled"] = int(change.disabled)
        if change.quota is not None:
            sets["quota_bytes"] = change.quota.max_bytes
            sets["quota_images"] = change.quota.max_images
        if change.default_quota:
            sets["quota_bytes"] = sets["quota_images"] = None
        if change.deleting:
            sets["deleting"] = 1
        with self._db.transaction() as conn:
            if conn.execute("SELECT 1 FROM users WHERE id = ?", (user_id,)).fetchone() is None:
                return None
            if sets:
                # Column names come from the fixed keys above, never from the caller.
                assignments = ", ".join(f"{name} = ?" for name in sets)
                conn.execute(
                    f"UPDATE users SET {assignments} WHERE id = ? AND deleting = 0",  # noqa: S608
                    (*sets.values(), user_id),
                )
            if audit is not None:
                sqlite_people.insert_audit(conn, audit)
        return self.get(user_id)

    def remove(self, user_id: str) -> None:
        """Delete the user record."""
        with self._db.transaction() as conn:
            conn.execute("DELETE FROM users WHERE id = ?", (user_id,))

    def marked_deleting(self) -> list[User]:
        """Return every user whose account deletion has not finished."""
        return [_user(row) for row in self._db.query("SELECT * FROM users WHERE deleting = 1")]

    def search(self, prefix: str, cursor: str | None, limit: int) -> Page[User]:
        """Return users whose email starts with ``prefix``, by email then id."""
        rows = sqlite_people.search_rows(self._db.query, prefix, cursor, limit)
        return sqlite_people.people_page([_user(row) for row in rows], limit)

    def add_audit(self, entry: AuditEntry) -> None:
        """Append an audit record."""
        with self._db.transaction() as conn:
            sqlite_people.insert_audit(conn, entry)

    def audit_page(self, cursor: str | None, limit: int) -> Page[AuditEntry]:
        """Return audit records, newest first."""
        return sqlite_people.audit_page(self._db.query, cursor, limit)
