"""Records in one SQLite file: the embedded default for one machine.

Connections are borrowed per operation from a small bounded pool and returned at
once, so every server shape (the dev server's thread per request, gunicorn threads,
the CLI) holds at most ``POOL_SIZE`` open connections, however many threads come
and go. WAL so readers never wait for the writer, and ``BEGIN IMMEDIATE`` around
quota changes so two uploads racing for the last bytes of a quota serialise: one wins.
The schema is brought up to date at start by ``sqlite_migrations``.

This module is the database: it owns the file, runs transactions and queries, and
hands out the repositories. One module per job: the pool is ``sqlite_pool``, the
repositories are ``sqlite_users``, ``sqlite_images``, ``sqlite_shares`` and
``sqlite_tokens``, and rows to records and back is ``sqlite_codec``.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from picbucket.adapters.sqlite_images import SqliteImages
from picbucket.adapters.sqlite_migrations import migrate
from picbucket.adapters.sqlite_pool import POOL_SIZE, ConnectionPool
from picbucket.adapters.sqlite_shares import SqliteShares
from picbucket.adapters.sqlite_tokens import SqliteTokens
from picbucket.adapters.sqlite_users import SqliteUsers
from picbucket.domain import StorageFull


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
