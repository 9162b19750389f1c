"""Records in one SQLite file: the embedded default for one machine.

One connection per thread (sqlite3 connections are not shareable), WAL so readers
never wait for the writer, and ``BEGIN IMMEDIATE`` around quota changes so two
uploads racing for the last bytes of a quota serialise: one wins.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from picbucket.cursors import decode_cursor, encode_cursor
from picbucket.domain import (
    ApiToken,
    Image,
    ImageStatus,
    NotFound,
    Page,
    Quota,
    QuotaExceeded,
    Share,
    Usage,
    User,
    Variant,
)

SCHEMA = """
CREATE TABLE IF NOT EXISTS users (
    id TEXT PRIMARY KEY,
    issuer TEXT NOT NULL,
    subject TEXT NOT NULL,
    email TEXT NOT NULL,
    name TEXT NOT NULL,
    created TEXT NOT NULL,
    session_epoch TEXT NOT NULL,
    used_bytes INTEGER NOT NULL DEFAULT 0,
    image_count INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS images (
    owner_id TEXT NOT NULL REFERENCES users(id),
    id TEXT NOT NULL,
    title TEXT NOT NULL,
    width INTEGER NOT NULL,
    height INTEGER NOT NULL,
    original_key TEXT NOT NULL,
    original_type TEXT NOT NULL,
    original_size INTEGER NOT NULL,
    original_sha256 TEXT NOT NULL,
    thumb_key TEXT NOT NULL,
    thumb_type TEXT NOT NULL,
    thumb_size INTEGER NOT NULL,
    thumb_sha256 TEXT NOT NULL,
    created TEXT NOT NULL,
    status TEXT NOT NULL,
    PRIMARY KEY (owner_id, id)
);
CREATE INDEX IF NOT EXISTS images_gallery ON images (owner_id, status, created DESC, id DESC);
CREATE INDEX IF NOT EXISTS images_unfinished ON images (status, created);
CREATE TABLE IF NOT EXISTS shares (
    id TEXT PRIMARY KEY,
    owner_id TEXT NOT NULL,
    image_id TEXT NOT NULL,
    token_hash TEXT NOT NULL UNIQUE,
    created TEXT NOT NULL,
    expires TEXT,
    revoked TEXT
);
CREATE INDEX IF NOT EXISTS shares_owner ON shares (owner_id, image_id, created DESC);
CREATE TABLE IF NOT EXISTS tokens (
    id TEXT PRIMARY KEY,
    owner_id TEXT NOT NULL,
    name TEXT NOT NULL,
    token_hash TEXT NOT NULL UNIQUE,
    created TEXT NOT NULL,
    last_used TEXT
);
CREATE INDEX IF NOT EXISTS tokens_owner ON tokens (owner_id, created DESC);
"""


def _ts(value: datetime | None) -> str | None:
    # One fixed-width UTC format, so text order is time order in every query.
    return None if value is None else value.astimezone(UTC).isoformat(timespec="microseconds")


def _dt(value: str | None) -> datetime | None:
    return None if value is None else datetime.fromisoformat(value)


def _req_dt(value: str) -> datetime:
    return datetime.fromisoformat(value)


class SqliteRecords:
    """Owns the database file and hands out one repository per port."""

    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        self._local = threading.local()
        self._all: list[sqlite3.Connection] = []
        self._lock = threading.Lock()
        # executescript manages its own transaction; every statement is idempotent.
        self.connection().executescript(SCHEMA)
        self.users = SqliteUsers(self)
        self.images = SqliteImages(self)
        self.shares = SqliteShares(self)
        self.tokens = SqliteTokens(self)

    def connection(self) -> sqlite3.Connection:
        """Return this thread's connection, opening it on first use."""
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            # check_same_thread=False only so close() may close every thread's
            # connection; each connection is still used by its own thread alone.
            conn = sqlite3.connect(
                self.path, timeout=30, isolation_level=None, check_same_thread=False
            )
            conn.row_factory = sqlite3.Row
            conn.execute("PRAGMA journal_mode=WAL")
            # FULL: a commit survives power loss too; "saved" must mean saved.
            conn.execute("PRAGMA synchronous=FULL")
            conn.execute("PRAGMA foreign_keys=ON")
            self._local.conn = conn
            with self._lock:
                self._all.append(conn)
        return conn

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """Run a write transaction that holds the write lock from its first statement."""
        conn = self.connection()
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield conn
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")

    def query(self, sql: str, params: Iterable[Any] = ()) -> list[sqlite3.Row]:
        """Run a read query and return every row."""
        return self.connection().execute(sql, tuple(params)).fetchall()

    def ping(self) -> None:
        """Raise if the database cannot be read."""
        self.query("SELECT 1")

    def close(self) -> None:
        """Close every connection this object opened."""
        with self._lock:
            for conn in self._all:
                conn.close()
            self._all.clear()
        self._local = threading.local()


class SqliteUsers:
    """UserRepository on SQLite."""

    def __init__(self, db: SqliteRecords) -> None:
        self._db = db

    def get(self, user_id: str) -> User | None:
        """Return the user, or None."""
        rows = self._db.query("SELECT * FROM users WHERE id = ?", (user_id,))
        return _user(rows[0]) if rows else None

    def upsert(self, user: User) -> User:
        """Create the user or refresh their email and name; the epoch is kept."""
        with self._db.transaction() as conn:
            conn.execute(
                "INSERT INTO users (id, issuer, subject, email, name, created, session_epoch)"
                " VALUES (?, ?, ?, ?, ?, ?, ?)"
                " ON CONFLICT (id) DO UPDATE SET email = excluded.email, name = excluded.name",
                (
                    user.id,
                    user.issuer,
                    user.subject,
                    user.email,
                    user.name,
                    _ts(user.created),
                    user.session_epoch,
                ),
            )
        stored = self.get(user.id)
        assert stored is not None
        return stored

    def set_session_epoch(self, user_id: str, epoch: str) -> None:
        """Replace the session epoch."""
        with self._db.transaction() as conn:
            conn.execute("UPDATE users SET session_epoch = ? WHERE id = ?", (epoch, user_id))


def _user(row: sqlite3.Row) -> User:
    return User(
        id=row["id"],
        issuer=row["issuer"],
        subject=row["subject"],
        email=row["email"],
        name=row["name"],
        created=_req_dt(row["created"]),
        session_epoch=row["session_epoch"],
        usage=Usage(bytes=row["used_bytes"], images=row["image_count"]),
    )


class SqliteImages:
    """ImageRepository on SQLite."""

    def __init__(self, db: SqliteRecords) -> None:
        self._db = db

    def add(self, image: Image, quota: Quota) -> None:
        """Insert a record and charge the owner, or raise ``QuotaExceeded``."""
        with self._db.transaction() as conn:
            charged = conn.execute(
                "UPDATE users SET used_bytes = used_bytes + ?, image_count = image_count + 1"
                " WHERE id = ? AND used_bytes + ? <= ? AND image_count + 1 <= ?",
                (image.bytes, image.owner_id, image.bytes, quota.max_bytes, quota.max_images),
            ).rowcount
            if charged != 1:
                row = conn.execute(
                    "SELECT used_bytes, image_count FROM users WHERE id = ?", (image.owner_id,)
                ).fetchone()
                if row is None:
                    raise NotFound("No such user.")
                quota.check(Usage(row["used_bytes"], row["image_count"]), image.bytes)
                raise QuotaExceeded("That would take you over your quota.")  # not reached
            conn.execute(
                "INSERT INTO images VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    image.owner_id,
                    image.id,
                    image.title,
                    image.width,
                    image.height,
                    image.original.key,
                    image.original.content_type,
                    image.original.size,
                    image.original.sha256,
                    image.thumbnail.key,
                    image.thumbnail.content_type,
                    image.thumbnail.size,
                    image.thumbnail.sha256,
                    _ts(image.created),
                    image.status.value,
                ),
            )

    def get(self, owner_id: str, image_id: str) -> Image | None:
        """Return the owner's image, or None."""
        rows = self._db.query(
            "SELECT * FROM images WHERE owner_id = ? AND id = ?", (owner_id, image_id)
        )
        return _image(rows[0]) if rows else None

    def page(self, owner_id: str, cursor: str | None, limit: int) -> Page[Image]:
        """Return ready images newest first, after ``cursor`` (keyset pagination)."""
        sql = "SELECT * FROM images WHERE owner_id = ? AND status = 'ready'"
        params: list[Any] = [owner_id]
        if cursor:
            created, last_id = decode_cursor(cursor)
            sql += " AND (created < ? OR (created = ? AND id < ?))"
            params += [_ts(created), _ts(created), last_id]
        sql += " ORDER BY created DESC, id DESC LIMIT ?"
        params.append(limit + 1)
        images = [_image(row) for row in self._db.query(sql, params)]
        if len(images) > limit:
            last = images[limit - 1]
            return Page(images[:limit], encode_cursor(last.created, last.id))
        return Page(images, None)

    def rename(self, owner_id: str, image_id: str, title: str) -> bool:
        """Set the title of a ready image."""
        with self._db.transaction() as conn:
            changed = conn.execute(
                "UPDATE images SET title = ? WHERE owner_id = ? AND id = ? AND status = 'ready'",
                (title, owner_id, image_id),
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
                "SELECT original_size + thumb_size AS bytes FROM images"
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


def _image(row: sqlite3.Row) -> Image:
    return Image(
        id=row["id"],
        owner_id=row["owner_id"],
        title=row["title"],
        width=row["width"],
        height=row["height"],
        original=Variant(
            key=row["original_key"],
            content_type=row["original_type"],
            size=row["original_size"],
            sha256=row["original_sha256"],
        ),
        thumbnail=Variant(
            key=row["thumb_key"],
            content_type=row["thumb_type"],
            size=row["thumb_size"],
            sha256=row["thumb_sha256"],
        ),
        created=_req_dt(row["created"]),
        status=ImageStatus(row["status"]),
    )


class SqliteShares:
    """ShareRepository on SQLite."""

    def __init__(self, db: SqliteRecords) -> None:
        self._db = db

    def add(self, share: Share) -> None:
        """Insert a share link."""
        with self._db.transaction() as conn:
            conn.execute(
                "INSERT INTO shares VALUES (?, ?, ?, ?, ?, ?, ?)",
                (
                    share.id,
                    share.owner_id,
                    share.image_id,
                    share.token_hash,
                    _ts(share.created),
                    _ts(share.expires),
                    _ts(share.revoked),
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


def _share(row: sqlite3.Row) -> Share:
    return Share(
        id=row["id"],
        owner_id=row["owner_id"],
        image_id=row["image_id"],
        token_hash=row["token_hash"],
        created=_req_dt(row["created"]),
        expires=_dt(row["expires"]),
        revoked=_dt(row["revoked"]),
    )


class SqliteTokens:
    """TokenRepository on SQLite."""

    def __init__(self, db: SqliteRecords) -> None:
        self._db = db

    def add(self, token: ApiToken) -> None:
        """Insert a token record."""
        with self._db.transaction() as conn:
            conn.execute(
                "INSERT INTO tokens VALUES (?, ?, ?, ?, ?, ?)",
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

    def touch(self, token_id: str, when: datetime) -> None:
        """Record the token's last use."""
        with self._db.transaction() as conn:
            conn.execute("UPDATE tokens SET last_used = ? WHERE id = ?", (_ts(when), token_id))


def _token(row: sqlite3.Row) -> ApiToken:
    return ApiToken(
        id=row["id"],
        owner_id=row["owner_id"],
        name=row["name"],
        token_hash=row["token_hash"],
        created=_req_dt(row["created"]),
        last_used=_dt(row["last_used"]),
    )
