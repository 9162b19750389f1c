"""TokenRepository on the shared SQLite file (table ``tokens``)."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from picbucket.adapters.sqlite_codec import _token, _ts
from picbucket.domain import ApiToken

if TYPE_CHECKING:
    from picbucket.adapters.sqlite_records import SqliteRecords


class SqliteTokens:
    """TokenRepository on SQLite."""

    def __init__(self, db: SqliteRecords) -> None:
        self._db = db

    def add(self, token: ApiToken) -> None:
        """Insert a token record."""
        with self._db.transaction() as conn:
            conn.execute(
                "INSERT INTO tokens (id, owner_id, name, token_hash, created, last_used)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                (
                    token.id,
                    token.owner_id,
                    token.name,
                    token.token_hash,
                    _ts(token.created),
                    _ts(token.last_used),
                ),
            )

    def by_hash(self, token_hash: str) -> ApiToken | None:
        """Return the token with this hash."""
        rows = self._db.query("SELECT * FROM tokens WHERE token_hash = ?", (token_hash,))
        return _token(rows[0]) if rows else None

    def for_owner(self, owner_id: str) -> list[ApiToken]:
        """Return the owner's tokens, newest first."""
        rows = self._db.query(
            "SELECT * FROM tokens WHERE owner_id = ? ORDER BY created DESC, id DESC", (owner_id,)
        )
        return [_token(row) for row in rows]

    def revoke(self, owner_id: str, token_id: str) -> bool:
        """Delete one of the owner's tokens."""
        with self._db.transaction() as conn:
            changed = conn.execute(
                "DELETE FROM tokens WHERE owner_id = ? AND id = ?", (owner_id, token_id)
            ).rowcount
        return changed == 1

    def remove_for_owner(self, owner_id: str) -> int:
        """Delete every token of the owner; return how many."""
        with self._db.transaction() as conn:
            return conn.execute("DELETE FROM tokens WHERE owner_id = ?", (owner_id,)).rowcount

    def touch(self, token_id: str, when: datetime) -> None:
        """Record the token's last use."""
        with self._db.transaction() as conn:
            conn.execute("UPDATE tokens SET last_used = ? WHERE id = ?", (_ts(when), token_id))
