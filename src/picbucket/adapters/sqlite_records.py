"""Records in one SQLite file: the embedded default for one machine.

Connections are borrowed per operation from a small bounded pool and returned at
once, so every server shape (the dev server's thread per request, gunicorn threads,
the CLI) holds at most ``POOL_SIZE`` open connections, however many threads come
and go. WAL so readers never wait for the writer, and ``BEGIN IMMEDIATE`` around
quota changes so two uploads racing for the last bytes of a quota serialise: one wins.
The schema is brought up to date at start by ``sqlite_migrations``.
"""

from __future__ import annotations

import os
import sqlite3
import threading
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from picbucket import search
from picbucket.adapters import sqlite_people
from picbucket.adapters.sqlite_migrations import migrate
from picbucket.cursors import ORDER_TAKEN, check_order, decode_cursor, encode_cursor, sort_key
from picbucket.domain import (
    AccountChange,
    ApiToken,
    AuditEntry,
    BackendUnavailable,
    Image,
    ImageStatus,
    NotFound,
    Page,
    Quota,
    QuotaExceeded,
    Share,
    StorageFull,
    Usage,
    User,
    Variant,
)

# SQLite runs one writer at a time and reads take milliseconds, so a few connections
# serve many threads; 8 covers gunicorn's thread counts without queueing in practice.
POOL_SIZE = 8
# Write-ahead log pages between automatic checkpoints (SQLite's default is 1000).
WAL_CHECKPOINT_PAGES = 100
# How long an operation waits for a free connection before reporting the store busy.
BORROW_TIMEOUT = 30.0


def _ts(value: datetime | None) -> str | None:
    # One fixed-width UTC format, so text order is time order in every query.
    return None if value is None else value.astimezone(UTC).isoformat(timespec="microseconds")


def _dt(value: str | None) -> datetime | None:
    return None if value is None else datetime.fromisoformat(value)


def _req_dt(value: str) -> datetime:
    return datetime.fromisoformat(value)


class ConnectionPool:
    """At most ``size`` connections to one file, lent to one thread at a time.

    Why a pool and not flaskr's connection-per-request on ``g``: the repositories
    are also used outside requests (CLI, reconcile, tests) and must not depend on
    Flask, and a pool bounds open files even if many requests run at once.
    """

    def __init__(self, path: Path, size: int = POOL_SIZE) -> None:
        self.path = path
        self._slots = threading.BoundedSemaphore(size)
        self._idle: list[sqlite3.Connection] = []
        self._lock = threading.Lock()
        self._closed = False
        # SQLite connections must not cross fork(): a child drops what its parent opened.
        self._pid = os.getpid()
        # The connection a thread holds, so a nested borrow reuses it instead of
        # taking a second slot (which could deadlock a full pool).
        self._held = threading.local()

    def _open(self) -> sqlite3.Connection:
        # check_same_thread=False: a connection moves between threads over its life,
        # but the pool lends it to one thread at a time.
        conn = sqlite3.connect(self.path, timeout=30, isolation_level=None, check_same_thread=False)
        conn.row_factory = sqlite3.Row
        conn.execute("PRAGMA journal_mode=WAL")
        # FULL: a commit survives power loss too; "saved" must mean saved.
        conn.execute("PRAGMA synchronous=FULL")
        conn.execute("PRAGMA foreign_keys=ON")
        # Checkpoint every ~400 KiB instead of 4 MiB: the log is then rewound and
        # reused, so on a full disk a delete fits in space the log already holds
        # (and in the ballast, resilience.Ballast) instead of growing it.
        conn.execute(f"PRAGMA wal_autocheckpoint={WAL_CHECKPOINT_PAGES}")
        return conn

    @contextmanager
    def borrow(self) -> Iterator[sqlite3.Connection]:
        """Lend a connection for one operation and take it back afterwards."""
        held: sqlite3.Connection | None = getattr(self._held, "conn", None)
        if held is not None:
            yield held
            return
        if not self._slots.acquire(timeout=BORROW_TIMEOUT):
            raise BackendUnavailable("The database is busy; nothing was changed.")
        conn: sqlite3.Connection | None = None
        try:
            with self._lock:
                if self._pid != os.getpid():
                    self._pid, self._idle = os.getpid(), []
                conn = self._idle.pop() if self._idle else None
            conn = conn or self._open()
            self._held.conn = conn
            yield conn
        finally:
            self._held.conn = None
            if conn is not None:
                self._give_back(conn)
            self._slots.release()

    def _give_back(self, conn: sqlite3.Connection) -> None:
        with self._lock:
            # A connection left inside a transaction (an error mid-way) is not reused.
            if not self._closed and not conn.in_transaction:
                self._idle.append(conn)
                return
        conn.close()

    def open_count(self) -> int:
        """Return how many idle connections the pool keeps open (for tests)."""
        with self._lock:
            return len(self._idle)

    def close(self) -> None:
        """Close every idle connection; borrowed ones close when given back."""
        with self._lock:
            self._closed = True
            idle, self._idle = self._idle, []
        for conn in idle:
            conn.close()


@contextmanager
def _disk_full_refused() -> Iterator[None]:
    """Turn SQLite's "database or disk is full" into ``StorageFull`` (nothing committed)."""
    try:
        yield
    except sqlite3.OperationalError as exc:
        if getattr(exc, "sqlite_errorcode", None) == sqlite3.SQLITE_FULL:
            raise StorageFull(
                "The server is out of disk space, so nothing was saved. "
                "Deleting images still works."
            ) from exc
        raise


class SqliteRecords:
    """Owns the database file and hands out one repository per port."""

    def __init__(self, path: Path, pool_size: int = POOL_SIZE) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        self.pool = ConnectionPool(path, pool_size)
        with self.pool.borrow() as conn:
            self.schema_versions = migrate(conn)
        self.users = SqliteUsers(self)
        self.images = SqliteImages(self)
        self.shares = SqliteShares(self)
        self.tokens = SqliteTokens(self)

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """Run a write transaction that holds the write lock from its first statement."""
        with _disk_full_refused(), self.pool.borrow() as conn:
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield conn
                conn.execute("COMMIT")
            except BaseException:
                # SQLite may already have rolled back (it does on SQLITE_FULL).
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise

    def query(self, sql: str, params: Iterable[Any] = ()) -> list[sqlite3.Row]:
        """Run a read query and return every row."""
        with _disk_full_refused(), self.pool.borrow() as conn:
            return conn.execute(sql, tuple(params)).fetchall()

    def ping(self) -> None:
        """Raise if the database cannot be read."""
        self.query("SELECT 1")

    def close(self) -> None:
        """Close every pooled connection."""
        self.pool.close()


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


def _user(row: sqlite3.Row) -> User:
    quota = (
        Quota(max_bytes=row["quota_bytes"], max_images=row["quota_images"])
        if row["quota_bytes"] is not None
        else None
    )
    return User(
        id=row["id"],
        issuer=row["issuer"],
        subject=row["subject"],
        email=row["email"],
        name=row["name"],
        created=_req_dt(row["created"]),
        session_epoch=row["session_epoch"],
        usage=Usage(bytes=row["used_bytes"], images=row["image_count"]),
        role=row["role"],
        disabled=bool(row["disabled"]),
        deleting=bool(row["deleting"]),
        quota=quota,
        last_sign_in=_dt(row["last_sign_in"]),
        hosted_domain=row["hosted_domain"],
    )


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


# (column suffix, Variant attribute): image columns are <variant>_<suffix>.
_VARIANT_COLUMNS = (
    ("key", "key"),
    ("type", "content_type"),
    ("size", "size"),
    ("sha256", "sha256"),
    ("width", "width"),
    ("height", "height"),
)


def _image_columns(image: Image) -> dict[str, Any]:
    """Return the images row for ``image``, by column name."""
    display = image.display
    return {
        "owner_id": image.owner_id,
        "id": image.id,
        "title": image.title,
        "search_words": search.word_column(image.title),
        "width": image.width,
        "height": image.height,
        "original_key": image.original.key,
        "original_type": image.original.content_type,
        "original_size": image.original.size,
        "original_sha256": image.original.sha256,
        "original_width": image.original.width,
        "original_height": image.original.height,
        "thumb_key": image.thumbnail.key,
        "thumb_type": image.thumbnail.content_type,
        "thumb_size": image.thumbnail.size,
        "thumb_sha256": image.thumbnail.sha256,
        "thumb_width": image.thumbnail.width,
        "thumb_height": image.thumbnail.height,
        "display_key": display.key if display else None,
        "display_type": display.content_type if display else None,
        "display_size": display.size if display else None,
        "display_sha256": display.sha256 if display else None,
        "display_width": display.width if display else None,
        "display_height": display.height if display else None,
        "created": _ts(image.created),
        "taken_at": _ts(image.taken_at),
        "sort_at": _ts(sort_key(image, ORDER_TAKEN)),
        "status": image.status.value,
        "trashed_at": _ts(image.trashed_at),
    }


def _variant(row: sqlite3.Row, prefix: str) -> Variant:
    return Variant(
        key=row[f"{prefix}_key"],
        content_type=row[f"{prefix}_type"],
        size=row[f"{prefix}_size"],
        sha256=row[f"{prefix}_sha256"],
        width=row[f"{prefix}_width"],
        height=row[f"{prefix}_height"],
    )


def _image(row: sqlite3.Row) -> Image:
    return Image(
        id=row["id"],
        owner_id=row["owner_id"],
        title=row["title"],
        width=row["width"],
        height=row["height"],
        original=_variant(row, "original"),
        thumbnail=_variant(row, "thumb"),
        display=_variant(row, "display") if row["display_key"] is not None else None,
        created=_req_dt(row["created"]),
        taken_at=_dt(row["taken_at"]),
        status=ImageStatus(row["status"]),
        trashed_at=_dt(row["trashed_at"]),
    )


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


def _share(row: sqlite3.Row) -> Share:
    return Share(
        id=row["id"],
        owner_id=row["owner_id"],
        image_id=row["image_id"],
        token_hash=row["token_hash"],
        created=_req_dt(row["created"]),
        expires=_dt(row["expires"]),
        revoked=_dt(row["revoked"]),
        views=row["views"],
        album_id=row["album_id"],
        password_hash=row["password_hash"],
        epoch=row["epoch"],
        max_views=row["max_views"],
        allow_originals=bool(row["allow_originals"]),
    )


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


def _token(row: sqlite3.Row) -> ApiToken:
    return ApiToken(
        id=row["id"],
        owner_id=row["owner_id"],
        name=row["name"],
        token_hash=row["token_hash"],
        created=_req_dt(row["created"]),
        last_used=_dt(row["last_used"]),
    )
