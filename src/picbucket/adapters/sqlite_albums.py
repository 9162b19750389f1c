"""AlbumRepository on the shared SQLite file (tables from migration 4 onwards).

Every statement is scoped by ``owner_id``: an album id of someone else matches no row,
so it reads as absent, exactly like a made-up id.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from datetime import datetime

from picbucket.adapters.sqlite_codec import _ts
from picbucket.adapters.sqlite_records import SqliteRecords
from picbucket.domain import Album, AlbumOrder

# SQLite caps bound parameters (32,766 today, 999 on old builds): stay far below.
_CHUNK = 400


class SqliteAlbums:
    """Albums in ``albums``, their members in ``album_items`` (position per album)."""

    def __init__(self, db: SqliteRecords) -> None:
        self._db = db

    def add(self, album: Album) -> None:
        """Insert an album."""
        with self._db.transaction() as conn:
            conn.execute(
                "INSERT INTO albums (owner_id, id, title, description, cover_id, order_mode,"
                " created) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (
                    album.owner_id,
                    album.id,
                    album.title,
                    album.description,
                    album.cover_id,
                    album.order.value,
                    _ts(album.created),
                ),
            )

    def get(self, owner_id: str, album_id: str) -> Album | None:
        """Return the owner's album, or None."""
        rows = self._db.query(
            "SELECT * FROM albums WHERE owner_id = ? AND id = ?", (owner_id, album_id)
        )
        return _album(rows[0]) if rows else None

    def for_owner(self, owner_id: str) -> list[Album]:
        """Return the owner's albums, newest first."""
        rows = self._db.query(
            "SELECT * FROM albums WHERE owner_id = ? ORDER BY created DESC, id DESC", (owner_id,)
        )
        return [_album(row) for row in rows]

    def update(self, album: Album) -> bool:
        """Store the album's editable fields."""
        with self._db.transaction() as conn:
            changed = conn.execute(
                "UPDATE albums SET title = ?, description = ?, cover_id = ?, order_mode = ?"
                " WHERE owner_id = ? AND id = ?",
                (
                    album.title,
                    album.description,
                    album.cover_id,
                    album.order.value,
                    album.owner_id,
                    album.id,
                ),
            ).rowcount
        return changed == 1

    def remove(self, owner_id: str, album_id: str) -> bool:
        """Delete the album and its items (the images stay)."""
        with self._db.transaction() as conn:
            conn.execute(
                "DELETE FROM album_items WHERE owner_id = ? AND album_id = ?", (owner_id, album_id)
            )
            changed = conn.execute(
                "DELETE FROM albums WHERE owner_id = ? AND id = ?", (owner_id, album_id)
            ).rowcount
        return changed == 1

    def item_ids(
        self, owner_id: str, album_id: str, offset: int = 0, limit: int | None = None
    ) -> list[str]:
        """Return the album's image ids by position (a window of them, if asked)."""
        rows = self._db.query(
            "SELECT image_id FROM album_items WHERE owner_id = ? AND album_id = ?"
            " ORDER BY position, image_id LIMIT ? OFFSET ?",
            (owner_id, album_id, -1 if limit is None else limit, max(offset, 0)),
        )
        return [row["image_id"] for row in rows]

    def count(self, owner_id: str, album_id: str) -> int:
        """Return how many items one album holds."""
        rows = self._db.query(
            "SELECT COUNT(*) AS n FROM album_items WHERE owner_id = ? AND album_id = ?",
            (owner_id, album_id),
        )
        return int(rows[0]["n"])

    def counts(self, owner_id: str) -> dict[str, int]:
        """Return the item count of each of the owner's albums."""
        rows = self._db.query(
            "SELECT album_id, COUNT(*) AS n FROM album_items WHERE owner_id = ? GROUP BY album_id",
            (owner_id,),
        )
        return {row["album_id"]: row["n"] for row in rows}

    def add_items(self, owner_id: str, album_id: str, image_ids: Sequence[str]) -> int:
        """Append images not yet in the album, after its last position."""
        added = 0
        with self._db.transaction() as conn:
            if not _exists(conn, owner_id, album_id):
                return 0
            row = conn.execute(
                "SELECT COALESCE(MAX(position), -1) AS last FROM album_items"
                " WHERE owner_id = ? AND album_id = ?",
                (owner_id, album_id),
            ).fetchone()
            position = int(row["last"]) + 1
            for image_id in dict.fromkeys(image_ids):
                added += conn.execute(
                    "INSERT OR IGNORE INTO album_items (owner_id, album_id, image_id, position)"
                    " VALUES (?, ?, ?, ?)",
                    (owner_id, album_id, image_id, position),
                ).rowcount
                position += 1
        return added

    def remove_items(self, owner_id: str, album_id: str, image_ids: Sequence[str]) -> int:
        """Take images out of the album."""
        removed = 0
        wanted = list(dict.fromkeys(image_ids))
        with self._db.transaction() as conn:
            for start in range(0, len(wanted), _CHUNK):
                chunk = wanted[start : start + _CHUNK]
                marks = ", ".join("?" for _ in chunk)
                removed += conn.execute(
                    "DELETE FROM album_items WHERE owner_id = ? AND album_id = ?"  # noqa: S608
                    f" AND image_id IN ({marks})",
                    (owner_id, album_id, *chunk),
                ).rowcount
        return removed

    def set_order(self, owner_id: str, album_id: str, image_ids: Sequence[str]) -> None:
        """Renumber the items in the given order."""
        with self._db.transaction() as conn:
            conn.executemany(
                "UPDATE album_items SET position = ?"
                " WHERE owner_id = ? AND album_id = ? AND image_id = ?",
                [(n, owner_id, album_id, image_id) for n, image_id in enumerate(image_ids)],
            )

    def albums_of(self, owner_id: str, image_id: str) -> list[str]:
        """Return the ids of the albums holding an image."""
        rows = self._db.query(
            "SELECT album_id FROM album_items WHERE owner_id = ? AND image_id = ?",
            (owner_id, image_id),
        )
        return [row["album_id"] for row in rows]

    def remove_image(self, owner_id: str, image_id: str) -> None:
        """Take an image out of every album, and off every cover."""
        with self._db.transaction() as conn:
            conn.execute(
                "DELETE FROM album_items WHERE owner_id = ? AND image_id = ?", (owner_id, image_id)
            )
            conn.execute(
                "UPDATE albums SET cover_id = NULL WHERE owner_id = ? AND cover_id = ?",
                (owner_id, image_id),
            )


def _exists(conn: sqlite3.Connection, owner_id: str, album_id: str) -> bool:
    row = conn.execute(
        "SELECT 1 FROM albums WHERE owner_id = ? AND id = ?", (owner_id, album_id)
    ).fetchone()
    return row is not None


def _album(row: sqlite3.Row) -> Album:
    return Album(
        id=row["id"],
        owner_id=row["owner_id"],
        title=row["title"],
        description=row["description"],
        cover_id=row["cover_id"],
        order=AlbumOrder(row["order_mode"]),
        created=datetime.fromisoformat(row["created"]),
    )
