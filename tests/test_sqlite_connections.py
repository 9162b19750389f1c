"""One connection lifecycle: a real threaded server keeps its open files flat.

The dev server starts a thread per request; connections that belong to threads leak
one open file (or more) per request until the process dies of "Too many open files".
"""

from __future__ import annotations

import http.client
import multiprocessing
import os
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from werkzeug.serving import make_server

from picbucket.adapters.sqlite_pool import POOL_SIZE
from picbucket.adapters.sqlite_records import SqliteRecords
from picbucket.domain import Image, ImageStatus, Quota, User, Variant, user_id_for
from picbucket.ports import Backends
from picbucket.services.links import LinkOptions, create_link

REQUESTS = 5_000
WARM = 500
# Threads still finishing their last request may hold a socket each for a moment.
SLACK = 8


@pytest.fixture
def backend_overrides() -> dict[str, Any]:
    """Local disk + SQLite only: this is about SQLite's connections."""
    return {}


def open_files() -> int:
    """Return how many file descriptors this process has open."""
    return len(os.listdir("/proc/self/fd"))


@pytest.fixture
def served(app: Flask) -> Iterator[tuple[int, Backends]]:
    """Run the app under werkzeug's threaded server (a thread per request)."""
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_port, app.extensions["picbucket"]
    finally:
        server.shutdown()
        thread.join(10)
        server.server_close()


def shared_image(backends: Backends) -> str:
    """Store a user, a ready image record and a share link; return the link's token."""
    subject = "alice@example.com"
    user = backends.users.upsert(
        User(
            id=user_id_for("https://idp.example", subject),
            issuer="https://idp.example",
            subject=subject,
            email=subject,
            name="Alice",
            created=datetime(2026, 1, 1, tzinfo=UTC),
        )
    )
    image_id = "sharedImage-AAAAAAAAAA"
    base = f"users/{user.id}/{image_id}"
    image = Image(
        id=image_id,
        owner_id=user.id,
        title="Shared",
        width=64,
        height=48,
        original=Variant(f"{base}/original.png", "image/png", 1000, "a" * 64, 64, 48),
        thumbnail=Variant(f"{base}/thumb.jpg", "image/jpeg", 100, "b" * 64, 64, 48),
        created=datetime(2026, 1, 2, tzinfo=UTC),
        status=ImageStatus.READY,
    )
    backends.images.add(image, Quota(max_bytes=10**9, max_images=10))
    return create_link(backends, user.id, LinkOptions("never"), image_id=image_id).token


def get(port: int, path: str) -> int:
    """GET ``path`` on a new connection (so the server starts a new thread) and drain it."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request("GET", path)
        response = conn.getresponse()
        response.read()
        return response.status
    finally:
        conn.close()


def test_open_files_stay_flat_over_5000_share_page_requests(
    served: tuple[int, Backends],
) -> None:
    port, backends = served
    path = f"/s/{shared_image(backends)}"
    counts: dict[int, int] = {}
    for n in range(1, REQUESTS + 1):
        assert get(port, path) == 200
        if n in (1, WARM, REQUESTS):
            counts[n] = open_files()
    print(f"open files after request 1, {WARM}, {REQUESTS}: {counts}")
    assert counts[REQUESTS] - counts[WARM] <= SLACK, counts


def test_the_pool_never_holds_more_than_its_size(tmp_path: Path) -> None:
    store = SqliteRecords(tmp_path / "picbucket.sqlite3", pool_size=2)
    barrier = threading.Barrier(12)
    inside: list[int] = []
    peak: list[int] = []
    lock = threading.Lock()

    def reader() -> None:
        barrier.wait()
        for _ in range(20):
            with store.pool.borrow() as conn:
                with lock:
                    inside.append(1)
                    peak.append(len(inside))
                conn.execute("SELECT 1").fetchall()
                time.sleep(0.001)  # hold it a moment, so borrowers overlap
                with lock:
                    inside.pop()

    threads = [threading.Thread(target=reader) for _ in range(12)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    try:
        assert max(peak) == 2
        assert store.pool.open_count() == 2
    finally:
        store.close()
    assert store.pool.open_count() == 0
    assert POOL_SIZE >= 2


def test_a_forked_child_opens_its_own_connections(tmp_path: Path) -> None:
    store = SqliteRecords(tmp_path / "picbucket.sqlite3")
    with store.pool.borrow() as conn:
        parents = id(conn)
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: a pre-forking server's worker
        try:
            with store.pool.borrow() as conn:
                ok = id(conn) != parents and conn.execute("SELECT 1").fetchone()[0] == 1
            os.write(write, b"ok" if ok else b"shared")
        finally:
            os._exit(0)
    os.close(write)
    answer = os.read(read, 16)
    os.waitpid(pid, 0)
    os.close(read)
    store.close()
    assert answer == b"ok"


def _open_at_once(path: str, barrier: Any, results: Any) -> None:
    """Open the records on ``path`` when every other process is ready, as a worker does."""
    barrier.wait()
    try:
        SqliteRecords(Path(path)).close()
        results.put("opened")
    except Exception as exc:  # reported to the test, which names it
        results.put(f"{type(exc).__name__}: {exc}")


def test_workers_starting_together_on_a_new_database_all_open_it(tmp_path: Path) -> None:
    """Gunicorn workers on a first start: none fails to boot on the switch to WAL.

    Before, one of two processes switching a new file to WAL at once got "database is
    locked" at once (SQLite refuses one of two lock escalations instead of waiting):
    5 rounds in 20 failed with four processes.
    """
    forked = multiprocessing.get_context("fork")
    for round_ in range(20):
        path = str(tmp_path / f"round-{round_}.sqlite3")
        barrier, results = forked.Barrier(4), forked.Queue()
        workers = [
            forked.Process(target=_open_at_once, args=(path, barrier, results)) for _ in range(4)
        ]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join(60)
        assert [results.get(timeout=5) for _ in workers] == ["opened"] * 4, f"round {round_}"
