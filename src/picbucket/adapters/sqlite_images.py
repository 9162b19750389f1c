"""ImageRepository on the shared SQLite file (table ``images``; usage on ``users``).

Charging the quota and inserting the record are one ``BEGIN IMMEDIATE`` transaction,
so two uploads racing for the last bytes of a quota serialise: one wins.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from picbucket import search
from picbucket.adapters.sqlite_codec import _VARIANT_COLUMNS, _image, _image_columns, _ts
from picbucket.cursors import ORDER_TAKEN, check_order, decode_cursor, encode_cursor, sort_key
from picbucket.domain import (
    Image,
    ImageStatus,
    NotFound,
    Page,
    Quota,
    QuotaExceeded,
    Usage,
    Variant,
)

if TYPE_CHECKING:
    from picbucket.adapters.sqlite_records import SqliteRecords


class SqliteImages:
    """ImageRepository on SQLite."""

    def __init__(self, db: SqliteRecords) -> None:
        self._db = db

    def add(self, image: Image, quota: Quota) -> None:
        """Insert a record and charge the owner, or raise ``QuotaExceeded``.

        ``NotFound`` if the owner is gone, disabled or being deleted: an upload racing
        an account deletion must not leave a record behind the deletion's scan.
        """
        with self._db.transaction() as conn:
            charged = conn.execute(
                "UPDATE users SET used_bytes = used_bytes + ?, image_count = image_count + 1"
                " WHERE id = ? AND deleting = 0 AND disabled = 0"
                " AND used_bytes + ? <= ? AND image_count + 1 <= ?",
                (image.bytes, image.owner_id, image.bytes, quota.max_bytes, quota.max_images),
            ).rowcount
            if charged != 1:
                row = conn.execute(
                    "SELECT used_bytes, image_count, deleting, disabled FROM users WHERE id = ?",
                    (image.owner_id,),
                ).fetchone()
                if row is None or row["deleting"] or row["disabled"]:
                    raise NotFound("No such user.")
                quota.check(Usage(row["used_bytes"], row["image_count"]), image.bytes)
                raise QuotaExceeded("That would take you over your quota.")  # not reached
            columns = _image_columns(image)
            names = ", ".join(columns)
            marks = ", ".join(f":{name}" for name in columns)
            conn.execute(f"INSERT INTO images ({names}) VALUES ({marks})", columns)  # noqa: S608

    def get(self, owner_id: str, image_id: str) -> Image | None:
        """Return the owner's image, or None."""
        rows = self._db.query(
            "SELECT * FROM images WHERE owner_id = ? AND id = ?", (owner_id, image_id)
        )
        return _image(rows[0]) if rows else None

    def page(
        self,
        owner_id: str,
        cursor: str | None,
        limit: int,
        order: str = ORDER_TAKEN,
        query: str = "",
    ) -> Page[Image]:
        """Return ready images in ``order``, after ``cursor`` (keyset pagination)."""
        # Column names come from this fixed mapping, never from the caller.
        key = {"taken": "sort_at", "uploaded": "created"}[check_order(order)]
        sql = "SELECT * FROM images WHERE owner_id = ? AND status = 'ready'"
        params: list[Any] = [owner_id]
        for word in search.query_words(query):
            # search_words is " w1 w2 ": a leading space anchors the match to a word start.
            sql += " AND instr(search_words, ?) > 0"
            params.append(" " + word)
        if cursor:
            after, last_id = decode_cursor(cursor, order)
            sql += f" AND ({key} < ? OR ({key} = ? AND id < ?))"
            params += [_ts(after), _ts(after), last_id]
        sql += f" ORDER BY {key} DESC, id DESC LIMIT ?"
        params.append(limit + 1)
        images = [_image(row) for row in self._db.query(sql, params)]
        if len(images) > limit:
            last = images[limit - 1]
            return Page(images[:limit], encode_cursor(order, sort_key(last, order), last.id))
        return Page(images, None)

    def rename(self, owner_id: str, image_id: str, title: str) -> bool:
        """Set the title of a ready image."""
        with self._db.transaction() as conn:
            changed = conn.execute(
                "UPDATE images SET title = ?, search_words = ?"
                " WHERE owner_id = ? AND id = ? AND status = 'ready'",
                (title, search.word_column(title), owner_id, image_id),
            ).rowcount
        return changed == 1

    def set_status(
        self, owner_id: str, image_id: str, expected: ImageStatus, status: ImageStatus
    ) -> bool:
        """Compare-and-set the status."""
        with self._db.transaction() as conn:
            changed = conn.execute(
                "UPDATE images SET status = ? WHERE owner_id = ? AND id = ? AND status = ?",
                (status.value, owner_id, image_id, expected.value),
            ).rowcount
        return changed == 1

    def remove(self, owner_id: str, image_id: str) -> None:
        """Delete the record and refund its bytes."""
        with self._db.transaction() as conn:
            row = conn.execute(
                "SELECT original_size + thumb_size + COALESCE(display_size, 0) AS bytes"
                " FROM images"
                " WHERE owner_id = ? AND id = ?",
                (owner_id, image_id),
            ).fetchone()
            if row is None:
                return
            conn.execute("DELETE FROM images WHERE owner_id = ? AND id = ?", (owner_id, image_id))
            conn.execute(
                "UPDATE users SET used_bytes = MAX(0, used_bytes - ?),"
                " image_count = MAX(0, image_count - 1) WHERE id = ?",
                (row["bytes"], owner_id),
            )

    def usage(self, owner_id: str) -> Usage:
        """Return what the owner is charged for."""
        rows = self._db.query("SELECT used_bytes, image_count FROM users WHERE id = ?", (owner_id,))
        if not rows:
            return Usage()
        return Usage(bytes=rows[0]["used_bytes"], images=rows[0]["image_count"])

    def unfinished(self, before: datetime) -> Iterator[Image]:
        """Yield pending/deleting records created before ``before``."""
        rows = self._db.query(
            "SELECT * FROM images WHERE status IN ('pending', 'deleting') AND created < ?",
            (_ts(before),),
        )
        yield from (_image(row) for row in rows)

    def unfinished_of(self, owner_id: str, limit: int) -> list[Image]:
        """Return up to ``limit`` of the owner's pending or deleting records."""
        rows = self._db.query(
            "SELECT * FROM images WHERE owner_id = ? AND status IN ('pending', 'deleting') LIMIT ?",
            (owner_id, limit),
        )
        return [_image(row) for row in rows]

    def existing(self, refs: Iterable[tuple[str, str]]) -> set[tuple[str, str]]:
        """Return which (owner_id, image_id) pairs have a record."""
        wanted = list(dict.fromkeys(refs))
        found: set[tuple[str, str]] = set()
        # SQLite caps bound parameters; 400 pairs = 800 parameters per query.
        for start in range(0, len(wanted), 400):
            chunk = wanted[start : start + 400]
            clause = " OR ".join("(owner_id = ? AND id = ?)" for _ in chunk)
            params = [value for pair in chunk for value in pair]
            rows = self._db.query(f"SELECT owner_id, id FROM images WHERE {clause}", params)  # noqa: S608
            found.update((row["owner_id"], row["id"]) for row in rows)
        return found

    def get_many(self, owner_id: str, image_ids: Sequence[str]) -> list[Image]:
        """Return the owner's images among ``image_ids``, in chunks of bound parameters."""
        wanted = list(dict.fromkeys(image_ids))
        found: list[Image] = []
        for start in range(0, len(wanted), 400):
            chunk = wanted[start : start + 400]
            marks = ", ".join("?" for _ in chunk)
            rows = self._db.query(
                f"SELECT * FROM images WHERE owner_id = ? AND id IN ({marks})",  # noqa: S608
                (owner_id, *chunk),
            )
            found.extend(_image(row) for row in rows)
        return found

    def move_many(
        self,
        owner_id: str,
        image_ids: Sequence[str],
        expected: ImageStatus,
        status: ImageStatus,
        trashed_at: datetime | None,
    ) -> list[str]:
        """Compare-and-set the status of many images, 400 per statement, one transaction."""
        wanted = list(dict.fromkeys(image_ids))
        moved: list[str] = []
        with self._db.transaction() as conn:
            for start in range(0, len(wanted), 400):
                chunk = wanted[start : start + 400]
                marks = ", ".join("?" for _ in chunk)
                rows = conn.execute(
                    "UPDATE images SET status = ?, trashed_at = ?"  # noqa: S608
                    f" WHERE owner_id = ? AND status = ? AND id IN ({marks}) RETURNING id",
                    (status.value, _ts(trashed_at), owner_id, expected.value, *chunk),
                ).fetchall()
                moved.extend(row["id"] for row in rows)
        return moved

    def trashed(self, owner_id: str, limit: int) -> list[Image]:
        """Return the owner's trashed images, most recently trashed first."""
        rows = self._db.query(
            "SELECT * FROM images WHERE owner_id = ? AND status = 'trashed'"
            " ORDER BY trashed_at DESC, id DESC LIMIT ?",
            (owner_id, limit),
        )
        return [_image(row) for row in rows]

    def trash_count(self, owner_id: str) -> int:
        """Return how many photos the owner has in the trash."""
        rows = self._db.query(
            "SELECT COUNT(*) FROM images WHERE owner_id = ? AND status = 'trashed'", (owner_id,)
        )
        return int(rows[0][0])

    def trashed_before(self, before: datetime, limit: int) -> list[Image]:
        """Return trashed images of any owner trashed before ``before``, oldest first."""
        rows = self._db.query(
            "SELECT * FROM images WHERE status = 'trashed' AND trashed_at < ?"
            " ORDER BY trashed_at LIMIT ?",
            (_ts(before), limit),
        )
        return [_image(row) for row in rows]

    def by_sha256(self, owner_id: str, sha256: str) -> Image | None:
        """Return a ready or trashed image of the owner with this original hash."""
        rows = self._db.query(
            "SELECT * FROM images WHERE owner_id = ? AND original_sha256 = ?"
            " AND status IN ('ready', 'trashed') ORDER BY created LIMIT 1",
            (owner_id, sha256),
        )
        return _image(rows[0]) if rows else None

    def all_images(self, cursor: str | None, limit: int) -> Page[Image]:
        """Return every owner's records in (owner_id, id) order, after ``cursor``."""
        sql, params = "SELECT * FROM images", []
        if cursor:
            owner_id, _, image_id = cursor.partition("/")
            sql += " WHERE (owner_id, id) > (?, ?)"
            params = [owner_id, image_id]
        rows = self._db.query(sql + " ORDER BY owner_id, id LIMIT ?", [*params, limit + 1])
        images = [_image(row) for row in rows[:limit]]
        more = len(rows) > limit
        return Page(images, f"{images[-1].owner_id}/{images[-1].id}" if more else None)

    def replace_renditions(
        self,
        owner_id: str,
        image_id: str,
        old_thumb_key: str,
        thumbnail: Variant,
        display: Variant | None,
    ) -> bool:
        """Swap thumbnail and display if the thumbnail is still ``old_thumb_key``."""
        with self._db.transaction() as conn:
            row = conn.execute(
                "SELECT thumb_size + COALESCE(display_size, 0) AS bytes FROM images"
                " WHERE owner_id = ? AND id = ? AND status = 'ready' AND thumb_key = ?",
                (owner_id, image_id, old_thumb_key),
            ).fetchone()
            if row is None:
                return False
            new = {
                f"{prefix}_{name}": getattr(variant, attr) if variant else None
                for prefix, variant in (("thumb", thumbnail), ("display", display))
                for name, attr in _VARIANT_COLUMNS
            }
            assignments = ", ".join(f"{column} = :{column}" for column in new)
            conn.execute(
                f"UPDATE images SET {assignments} WHERE owner_id = :owner AND id = :id",  # noqa: S608
                {**new, "owner": owner_id, "id": image_id},
            )
            delta = thumbnail.size + (display.size if display else 0) - row["bytes"]
            conn.execute(
                "UPDATE users SET used_bytes = MAX(0, used_bytes + ?) WHERE id = ?",
                (delta, owner_id),
            )
        return True
