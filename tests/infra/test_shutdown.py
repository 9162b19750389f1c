"""Graceful shutdown under real gunicorn, as Cloud Run does it: SIGTERM, then 10 s.

Eight uploads are half sent when the signal comes; they finish and are stored. A
request that starts after the signal gets 503 + Retry-After, and the process exits
cleanly inside Cloud Run's 10 s.
"""

from __future__ import annotations

import http.client
import signal
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from live_client import multipart, noise_png, open_upload, read_response, sign_in
from test_gunicorn import CLOUD_RUN_SIGTERM_GRACE, Server, start_server

IN_FLIGHT = 8


@pytest.fixture
def live_servers() -> Iterator[list[Server]]:
    """Collect started servers and make sure none outlives its test."""
    servers: list[Server] = []
    yield servers
    for server in servers:
        if server.process.poll() is None:
            server.process.kill()
            server.process.communicate()


def _kept_alive(port: int) -> http.client.HTTPConnection:
    """Return a connection that has served one request and stays open."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    conn.request("GET", "/healthz")
    answer = conn.getresponse()
    answer.read()
    assert answer.status == 200
    return conn


def test_sigterm_finishes_uploads_in_flight_and_turns_new_requests_away(
    tmp_path: Path, live_servers: list[Server], issuer: str
) -> None:
    server = start_server(tmp_path, PICBUCKET_OIDC_ISSUER=issuer, PICBUCKET_OIDC_LOCAL="true")
    live_servers.append(server)
    alice = sign_in(f"http://127.0.0.1:{server.port}", "alice@example.com")
    uploads = []
    for seed in range(IN_FLIGHT):
        body, content_type = multipart(noise_png(seed, side=512))  # ~790 KB each
        sock = open_upload(server.port, alice, body, content_type)
        sock.sendall(body[: len(body) // 2])
        uploads.append((sock, body))
    api_conn, ready_conn = _kept_alive(server.port), _kept_alive(server.port)

    signalled = time.monotonic()
    server.process.send_signal(signal.SIGTERM)
    # The arbiter passes the signal on to the worker: on a busy machine that can take
    # longer than any fixed pause, so ask readiness (200 keeps the connection) until
    # the drain has begun.
    while True:
        ready_conn.request("GET", "/readyz")
        readiness = ready_conn.getresponse()
        said = readiness.read()
        if readiness.status != 200 or time.monotonic() - signalled > CLOUD_RUN_SIGTERM_GRACE:
            break
        time.sleep(0.1)
    assert readiness.status == 503
    assert b"draining" in said

    api_conn.request("GET", "/api/v1/images", headers={"Cookie": alice.cookie_header()})
    refused = api_conn.getresponse()
    assert refused.status == 503
    assert refused.getheader("Retry-After") == "2"
    assert refused.getheader("Connection") == "close"
    assert b"restarting" in refused.read()

    time.sleep(1.0)  # the rest of each body arrives well after the signal
    for sock, body in uploads:
        sock.sendall(body[len(body) // 2 :])
    statuses = [read_response(sock)[0] for sock, _ in uploads]
    assert statuses == [201] * IN_FLIGHT

    server.process.communicate(timeout=CLOUD_RUN_SIGTERM_GRACE + 5)
    exited = time.monotonic() - signalled
    assert server.process.returncode == 0
    assert exited < CLOUD_RUN_SIGTERM_GRACE
    database = sqlite3.connect(tmp_path / "data" / "picbucket.sqlite3")
    try:
        stored = database.execute("SELECT status, COUNT(*) FROM images GROUP BY status").fetchall()
    finally:
        database.close()
    assert stored == [("ready", IN_FLIGHT)]  # every 201 was saved; nothing half-done
    print(f"SIGTERM to exit: {exited:.1f} s with {IN_FLIGHT} uploads finishing")
