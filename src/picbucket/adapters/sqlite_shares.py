"""ShareRepository on the shared SQLite file (table ``shares``)."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from picbucket.adapters.sqlite_codec import _share, _ts
from picbucket.domain import Share

if TYPE_CHECKING:
    from picbucket.adapters.sqlite_records import SqliteRecords


class SqliteShares:
    """ShareRepository on SQLite."""

    def __init__(self, db: SqliteRecords) -> None:
        self._db = db

    def add(self, share: Share) -> None:
        """Insert a share link."""
        with self._db.transaction() as conn:
            conn.execute(
                "INSERT INTO shares (id, owner_id, image_id, token_hash, created, expires, revoked,"
                " album_id, password_hash, epoch, max_views, allow_originals)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    share.id,
                    share.owner_id,
                    share.image_id,
                    share.token_hash,
                    _ts(share.created),
                    _ts(share.expires),
                    _ts(share.revoked),
                    share.album_id,
                    share.password_hash,
                    share.epoch,
                    share.max_views,
                    int(share.allow_originals),
                ),
            )

    def by_token_hash(self, token_hash: str) -> Share | None:
        """Return the share with this token hash."""
        rows = self._db.query("SELECT * FROM shares WHERE token_hash = ?", (token_hash,))
        return _share(rows[0]) if rows else None

    def for_owner(self, owner_id: str, image_id: str | None = None) -> list[Share]:
        """Return the owner's shares, newest first."""
        if image_id is None:
            rows = self._db.query(
                "SELECT * FROM shares WHERE owner_id = ? ORDER BY created DESC, id DESC",
                (owner_id,),
            )
        else:
            rows = self._db.query(
                "SELECT * FROM shares WHERE owner_id = ? AND image_id = ?"
                " ORDER BY created DESC, id DESC",
                (owner_id, image_id),
            )
        return [_share(row) for row in rows]

    def get(self, owner_id: str, share_id: str) -> Share | None:
        """Return one of the owner's shares."""
        rows = self._db.query(
            "SELECT * FROM shares WHERE owner_id = ? AND id = ?", (owner_id, share_id)
        )
        return _share(rows[0]) if rows else None

    def revoke(self, owner_id: str, share_id: str, when: datetime) -> bool:
        """Mark the share revoked (keeping the first revocation time)."""
        with self._db.transaction() as conn:
            changed = conn.execute(
                "UPDATE shares SET revoked = COALESCE(revoked, ?) WHERE owner_id = ? AND id = ?",
                (_ts(when), owner_id, share_id),
            ).rowcount
        return changed == 1

    def remove_for_image(self, owner_id: str, image_id: str) -> None:
        """Delete every share of an image."""
        with self._db.transaction() as conn:
            conn.execute(
                "DELETE FROM shares WHERE owner_id = ? AND image_id = ?", (owner_id, image_id)
            )

    def set_password(
        self, owner_id: str, share_id: str, password_hash: str | None, epoch: str
    ) -> bool:
        """Replace a share's password hash and epoch."""
        with self._db.transaction() as conn:
            changed = conn.execute(
                "UPDATE shares SET password_hash = ?, epoch = ? WHERE owner_id = ? AND id = ?",
                (password_hash, epoch, owner_id, share_id),
            ).rowcount
        return changed == 1

    def remove_for_album(self, owner_id: str, album_id: str) -> None:
        """Delete every link to an album."""
        with self._db.transaction() as conn:
            conn.execute(
                "DELETE FROM shares WHERE owner_id = ? AND album_id = ?", (owner_id, album_id)
            )

    def count_view(self, share_id: str) -> bool:
        """Use one of a share's views; False if none is left (or no such share).

        One conditional UPDATE: parallel opens of the last view cannot all get through.
        """
        with self._db.transaction() as conn:
            cursor = conn.execute(
                "UPDATE shares SET views = views + 1"
                " WHERE id = ? AND (max_views IS NULL OR views < max_views)",
                (share_id,),
            )
            return cursor.rowcount == 1
