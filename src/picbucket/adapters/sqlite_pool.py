"""A small bounded pool of connections to one SQLite file, each lent to one thread at a time."""

from __future__ import annotations

import os
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from picbucket.domain import BackendUnavailable

# SQLite runs one writer at a time and reads take milliseconds, so a few connections
# serve many threads; 8 covers gunicorn's thread counts without queueing in practice.
POOL_SIZE = 8
# Write-ahead log pages between automatic checkpoints (SQLite's default is 1000).
WAL_CHECKPOINT_PAGES = 100
# How long an operation waits for a free connection before reporting the store busy.
BORROW_TIMEOUT = 30.0
# How long opening a connection waits for another process switching the file to WAL:
# as long as any other lock wait (sqlite3.connect's timeout below).
WAL_SWITCH_SECONDS = 30.0


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
        _switch_to_wal(conn)
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


def _switch_to_wal(conn: sqlite3.Connection) -> None:
    """Put the database in WAL mode, waiting out another process doing the same.

    Gunicorn workers starting on a new database all switch it at once. The switch
    escalates a shared lock, and of two connections escalating together SQLite
    refuses one at once ("database is locked", deadlock avoidance) instead of waiting
    the busy timeout; a worker then failed to boot and took the server down. Once one
    has switched, the pragma is a no-op for the others.
    """
    deadline = time.monotonic() + WAL_SWITCH_SECONDS
    delay = 0.01
    while True:
        try:
            conn.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
        time.sleep(delay)
        delay = min(delay * 2, 0.5)
