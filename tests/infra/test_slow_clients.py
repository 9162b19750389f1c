"""Slow clients cannot take the instance offline (real gunicorn, gunicorn.conf.py).

64 connections trickle an upload body at 10 bytes/s - eight times the threads - while
the test measures /healthz and uploads a photo as another user. With plain gthread
every thread would be stuck reading a body and both would time out.
"""

from __future__ import annotations

import socket
import sqlite3
import threading
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from live_client import multipart, noise_png, open_upload, read_response, sign_in
from test_gunicorn import Server, start_server

SLOW_CLIENTS = 64
TRICKLE = b"x" * 10  # bytes per second per client


@pytest.fixture
def live_servers() -> Iterator[list[Server]]:
    """Collect started servers and make sure none outlives its test."""
    servers: list[Server] = []
    yield servers
    for server in servers:
        if server.process.poll() is None:
            server.process.kill()
            server.process.communicate()


@pytest.fixture
def trickling() -> Iterator[list[socket.socket]]:
    """Sockets that get 10 more body bytes every second until the test ends."""
    sockets: list[socket.socket] = []
    stop = threading.Event()

    def trickle() -> None:
        while not stop.wait(1.0):
            for sock in list(sockets):
                try:
                    sock.send(TRICKLE)
                except OSError:
                    sockets.remove(sock)

    thread = threading.Thread(target=trickle, daemon=True)
    thread.start()
    yield sockets
    stop.set()
    thread.join()
    for sock in sockets:
        sock.close()


def test_64_slow_uploads_leave_health_and_other_users_served(
    tmp_path: Path, live_servers: list[Server], issuer: str, trickling: list[socket.socket]
) -> None:
    server = start_server(tmp_path, PICBUCKET_OIDC_ISSUER=issuer, PICBUCKET_OIDC_LOCAL="true")
    live_servers.append(server)
    base = f"http://127.0.0.1:{server.port}"
    slowpoke = sign_in(base, "slow@example.com")
    alice = sign_in(base, "alice@example.com")
    body, content_type = multipart(noise_png(1))
    for _ in range(SLOW_CLIENTS):
        sock = open_upload(server.port, slowpoke, body, content_type)
        sock.send(body[:10])
        trickling.append(sock)
    time.sleep(1.5)  # every slow client is now mid-body

    latencies = []
    deadline = time.monotonic() + 6.0
    while time.monotonic() < deadline:
        started = time.monotonic()
        status, _ = server.get("/healthz")
        latencies.append(time.monotonic() - started)
        assert status == 200
        time.sleep(0.05)
    started = time.monotonic()
    response = alice.upload(noise_png(2), timeout=10)
    upload_seconds = time.monotonic() - started

    print(  # the numbers for the README, shown with -s
        f"{len(latencies)} /healthz: max {max(latencies) * 1000:.0f} ms, "
        f"median {sorted(latencies)[len(latencies) // 2] * 1000:.1f} ms; "
        f"upload beside {SLOW_CLIENTS} slow clients: {upload_seconds * 1000:.0f} ms"
    )
    assert response.status_code == 201, response.text
    assert upload_seconds < 3.0
    within_1s = sum(1 for seconds in latencies if seconds < 1.0) / len(latencies)
    assert within_1s >= 0.99, max(latencies)
    assert len(trickling) == SLOW_CLIENTS  # none was cut off: they are merely slow


def test_a_request_that_does_not_arrive_in_time_gets_408(
    tmp_path: Path, live_servers: list[Server], issuer: str
) -> None:
    server = start_server(
        tmp_path,
        PICBUCKET_OIDC_ISSUER=issuer,
        PICBUCKET_OIDC_LOCAL="true",
        PICBUCKET_REQUEST_READ_SECONDS="2",
    )
    live_servers.append(server)
    account = sign_in(f"http://127.0.0.1:{server.port}", "alice@example.com")
    body, content_type = multipart(noise_png(3))
    sock = open_upload(server.port, account, body, content_type)
    sock.send(body[:100])
    started = time.monotonic()
    status, headers, _ = read_response(sock)
    assert status == 408
    assert headers["connection"] == "close"
    assert 1.5 < time.monotonic() - started < 4.0
    sock.close()


def test_a_complete_upload_sent_in_pieces_is_stored(
    tmp_path: Path, live_servers: list[Server], issuer: str
) -> None:
    server = start_server(tmp_path, PICBUCKET_OIDC_ISSUER=issuer, PICBUCKET_OIDC_LOCAL="true")
    live_servers.append(server)
    account = sign_in(f"http://127.0.0.1:{server.port}", "alice@example.com")
    body, content_type = multipart(noise_png(4))
    sock = open_upload(server.port, account, body, content_type)
    for start in range(0, len(body), 50_000):
        sock.send(body[start : start + 50_000])
        time.sleep(0.02)
    status, _, answer = read_response(sock)
    assert status == 201, answer
    sock.close()
    listed = account.session.get(f"{account.base}/api/v1/images", timeout=5).json()
    assert len(listed["items"]) == 1


def test_expect_100_continue_gets_one_interim_answer_then_the_result(
    tmp_path: Path, live_servers: list[Server], issuer: str
) -> None:
    server = start_server(tmp_path, PICBUCKET_OIDC_ISSUER=issuer, PICBUCKET_OIDC_LOCAL="true")
    live_servers.append(server)
    account = sign_in(f"http://127.0.0.1:{server.port}", "alice@example.com")
    body, content_type = multipart(noise_png(5))
    sock = open_upload(server.port, account, body, content_type, "Expect: 100-continue\r\n")
    assert sock.recv(64) == b"HTTP/1.1 100 Continue\r\n\r\n"  # curl waits for this
    sock.sendall(body)
    status, _, answer = read_response(sock)  # no second "100 Continue" first
    assert status == 201, answer
    sock.close()


def test_a_body_over_the_limit_is_refused_without_waiting_for_it(
    tmp_path: Path, live_servers: list[Server], issuer: str
) -> None:
    server = start_server(
        tmp_path,
        PICBUCKET_OIDC_ISSUER=issuer,
        PICBUCKET_OIDC_LOCAL="true",
        PICBUCKET_MAX_UPLOAD_MB="1",
    )
    live_servers.append(server)
    account = sign_in(f"http://127.0.0.1:{server.port}", "alice@example.com")
    huge = b"x" * (3 * 1024 * 1024)
    sock = open_upload(server.port, account, huge, "multipart/form-data; boundary=x")
    sock.sendall(huge[:1000])  # the rest never comes
    started = time.monotonic()
    status, _, _ = read_response(sock)
    assert status == 413
    assert time.monotonic() - started < 2.0
    sock.close()


def test_liveness_is_answered_while_every_thread_waits_and_not_once_they_are_wedged(
    tmp_path: Path, live_servers: list[Server], issuer: str
) -> None:
    server = start_server(
        tmp_path,
        PICBUCKET_OIDC_ISSUER=issuer,
        PICBUCKET_OIDC_LOCAL="true",
        PICBUCKET_RECORDS_DEADLINE_SECONDS="20",
        PICBUCKET_WEDGED_SECONDS="3",
    )
    live_servers.append(server)
    account = sign_in(f"http://127.0.0.1:{server.port}", "alice@example.com")
    # A stuck writer: every upload waits on the database lock, all 8 threads with them.
    holder = sqlite3.connect(tmp_path / "data" / "picbucket.sqlite3", isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    statuses: list[int] = []

    def upload(seed: int) -> None:
        response = requests.post(
            f"{account.base}/api/v1/images",
            files={"file": ("photo.png", noise_png(seed, side=64), "image/png")},
            headers={"X-CSRFToken": account.csrf},
            cookies=account.session.cookies,
            timeout=60,
        )
        statuses.append(response.status_code)

    uploads = [threading.Thread(target=upload, args=(seed,)) for seed in range(8)]
    for thread in uploads:
        thread.start()
    try:
        time.sleep(0.5)
        started = time.monotonic()
        assert server.get("/healthz")[0] == 200  # busy but working: still alive
        assert time.monotonic() - started < 1.0
        time.sleep(3.0)  # nothing has finished for longer than PICBUCKET_WEDGED_SECONDS
        with pytest.raises(TimeoutError):
            urllib.request.urlopen(f"{account.base}/healthz", timeout=1.0)
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    for thread in uploads:
        thread.join()
    assert statuses == [201] * 8
    assert server.get("/healthz")[0] == 200
