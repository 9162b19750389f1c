"""Deadlines, circuit breakers and readiness: a slow or dead backend costs a request
at most its deadline, and once known down, nothing.

The hung record store is real: another SQLite connection holds the write lock, so
writes wait in SQLite's own busy handler (30 s) as they would behind a stuck writer.
"""

from __future__ import annotations

import io
import os
import shutil
import signal
import socket
import sqlite3
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from conftest import sign_in
from helpers import json_of, upload, user_id_of
from imagefiles import png
from picbucket import draining
from picbucket.adapters.local_blobs import LocalBlobStore
from picbucket.app import create_app
from picbucket.dev.emulators import Emulator
from picbucket.domain import BackendUnavailable, NotFound, StorageFull
from picbucket.ports import Backends
from picbucket.resilience import (
    BackendDown,
    Ballast,
    BreakerAwareCheck,
    CircuitBreaker,
    DiskSpace,
    Guard,
    cap_firestore_client,
    cap_http_session,
    new_request,
)
from picbucket.settings import Settings, SettingsError
from picbucket.wiring import build_backends


class FakeClock:
    """A monotonic clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def is_open(breaker: CircuitBreaker) -> bool:
    """Read the state afresh (a function, so type narrowing does not stick)."""
    return breaker.is_open


# --- the breaker -----------------------------------------------------------------------


def test_breaker_opens_after_consecutive_failures_and_fails_fast() -> None:
    clock = FakeClock()
    breaker = CircuitBreaker(failures=3, cooldown=5.0, clock=clock)
    for _ in range(2):
        breaker.before_call()
        breaker.record_failure()
    assert not is_open(breaker)
    breaker.before_call()
    breaker.record_failure()
    assert is_open(breaker)
    clock.now += 1.0
    with pytest.raises(BackendDown) as refused:
        breaker.before_call()
    assert refused.value.retry_after == 4


def test_a_success_resets_the_count() -> None:
    breaker = CircuitBreaker(failures=2, cooldown=5.0, clock=FakeClock())
    breaker.record_failure()
    breaker.record_success()
    breaker.record_failure()
    assert not is_open(breaker)


def test_after_the_cooldown_one_probe_goes_through_and_its_success_closes() -> None:
    clock = FakeClock()
    breaker = CircuitBreaker(failures=1, cooldown=5.0, clock=clock)
    breaker.record_failure()
    clock.now += 5.0
    assert breaker.before_call() is True  # the probe
    with pytest.raises(BackendDown):
        breaker.before_call()  # everyone else still fails fast while it runs
    breaker.record_success()
    assert breaker.before_call() is False
    assert not is_open(breaker)


def test_a_failed_probe_opens_again_for_a_full_cooldown() -> None:
    clock = FakeClock()
    breaker = CircuitBreaker(failures=3, cooldown=5.0, clock=clock)
    for _ in range(3):
        breaker.record_failure()
    clock.now += 5.0
    assert breaker.before_call() is True
    breaker.record_failure()
    clock.now += 4.9
    with pytest.raises(BackendDown):
        breaker.before_call()
    clock.now += 0.1
    assert breaker.before_call() is True


# --- the guard -------------------------------------------------------------------------


@pytest.fixture
def guard() -> Iterator[Guard]:
    made = Guard("test", deadline=0.3, breaker=CircuitBreaker(failures=2, cooldown=60.0))
    yield made
    made.close()
    new_request()  # forget this test's timeouts on the test thread


def test_a_call_past_its_deadline_is_answered_at_the_deadline(guard: Guard) -> None:
    release = threading.Event()
    started = time.monotonic()
    with pytest.raises(BackendDown):
        guard.call(release.wait, 30)
    assert time.monotonic() - started < 0.6
    release.set()


def test_once_open_calls_fail_without_waiting(guard: Guard) -> None:
    release = threading.Event()
    for _ in range(2):
        with pytest.raises(BackendDown):
            guard.call(release.wait, 30)
    calls: list[int] = []
    started = time.monotonic()
    with pytest.raises(BackendDown):
        guard.call(calls.append, 1)
    assert time.monotonic() - started < 0.05
    assert calls == []  # the backend was not even asked
    release.set()


def test_a_request_waits_out_a_deadline_once_not_once_per_call(guard: Guard) -> None:
    release = threading.Event()
    with pytest.raises(BackendDown):
        guard.call(release.wait, 30)
    calls: list[int] = []
    started = time.monotonic()
    with pytest.raises(BackendDown):
        guard.call(calls.append, 1)  # the cleanup that follows in the same request
    assert time.monotonic() - started < 0.05
    assert calls == []
    new_request()  # the next request on this thread asks the backend again
    guard.call(calls.append, 2)
    assert calls == [2]
    release.set()


def test_refusals_are_not_failures(guard: Guard) -> None:
    def missing() -> None:
        raise NotFound("gone")

    for _ in range(5):
        with pytest.raises(NotFound):
            guard.call(missing)
    assert not is_open(guard.breaker)


def test_every_step_of_a_generator_is_bounded(guard: Guard) -> None:
    release = threading.Event()

    def slow_scan() -> Iterator[int]:
        yield 1
        release.wait(30)
        yield 2

    items = guard.call(slow_scan)
    assert next(items) == 1
    started = time.monotonic()
    with pytest.raises(BackendDown):
        next(items)
    assert time.monotonic() - started < 0.6
    release.set()


# --- the app with a stuck database ---------------------------------------------------------


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    return {
        "records_deadline_seconds": 0.5,
        "breaker_failures": 3,
        "breaker_cooldown_seconds": 1.0,
        "min_free_disk_mb": 1,
    }


@pytest.fixture
def backend_overrides() -> dict[str, Any]:
    return {}  # SQLite: the stuck writer below is a SQLite lock


@pytest.fixture
def locked_database(settings_overrides: dict[str, Any], app: Flask) -> Iterator[sqlite3.Connection]:
    """Hold the database's write lock from another connection, as a stuck writer would."""
    path = app.config["PICBUCKET_SETTINGS"].data_dir / "picbucket.sqlite3"
    holder = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    holder.execute("BEGIN IMMEDIATE")
    yield holder
    if holder.in_transaction:
        holder.execute("ROLLBACK")
    holder.close()


def test_a_stuck_database_costs_a_write_its_deadline_and_reads_go_on(
    alice: FlaskClient, locked_database: sqlite3.Connection
) -> None:
    for _ in range(4):
        started = time.monotonic()
        response = upload(alice, png())
        took = time.monotonic() - started
        assert response.status_code == 503
        assert json_of(response)["error"]["code"] == "backend_unavailable"
        assert 1 <= int(response.headers["Retry-After"]) <= 5
        assert 0.4 < took < 1.5, took
        # Reads do not wait for the writer (WAL), so the gallery stays up.
        assert alice.get("/api/v1/images").status_code == 200
    locked_database.execute("ROLLBACK")
    assert upload(alice, png()).status_code == 201


def test_healthz_and_readyz_answer_while_the_database_is_stuck(
    client: FlaskClient, locked_database: sqlite3.Connection
) -> None:
    started = time.monotonic()
    assert client.get("/healthz").status_code == 200
    assert client.get("/readyz").status_code == 200  # reads still work in WAL mode
    assert time.monotonic() - started < 2.0


def test_a_passing_readiness_check_closes_the_breaker(tmp_path: Path) -> None:
    breaker = CircuitBreaker(failures=1, cooldown=600.0)
    breaker.record_failure()
    assert is_open(breaker)
    BreakerAwareCheck(LocalBlobStore(tmp_path), breaker).ping()
    assert not is_open(breaker)


@pytest.mark.gcp
def test_gcp_firestore_frozen_fails_fast_and_readiness_tracks_it(
    gcp_settings: dict[str, Any], firestore_emulator: Emulator, issuer: str, tmp_path: Path
) -> None:
    settings = Settings(
        data_dir=tmp_path / "data",
        oidc_issuer=issuer,
        oidc_local=True,
        secret_key="test-secret-key-that-is-long-enough-for-tests",
        records_deadline_seconds=2.0,
        breaker_failures=3,
        breaker_cooldown_seconds=30.0,
        **gcp_settings,
    )
    app = create_app(settings)
    try:
        # The first call on a fresh client opens its channel (seconds on the emulator).
        app.extensions["picbucket"].health["records"].ping()
        browser = app.test_client()
        assert sign_in(browser, "alice@example.com").status_code == 302
        assert upload(browser, png()).status_code == 201
        group = os.getpgid(firestore_emulator.process.pid)
        os.killpg(group, signal.SIGSTOP)
        try:
            _check_frozen(app, browser)
        finally:
            os.killpg(group, signal.SIGCONT)
        recovered = time.monotonic()
        while app.test_client().get("/readyz").status_code != 200:
            assert time.monotonic() - recovered < 5.0, "readyz still 503 5 s after recovery"
            time.sleep(0.2)
        # Readiness closed the breaker: no 30 s cooldown before requests flow again.
        assert browser.get("/api/v1/images").status_code == 200
    finally:
        app.extensions["picbucket"].close()


def _check_frozen(app: Flask, browser: FlaskClient) -> None:
    started = time.monotonic()
    ready = app.test_client().get("/readyz")
    assert time.monotonic() - started < 2.0
    assert ready.status_code == 503
    assert json_of(ready)["backends"]["records"] in ("timeout", "unreachable")
    started = time.monotonic()
    assert app.test_client().get("/healthz").status_code == 200
    assert time.monotonic() - started < 0.5
    for _ in range(3):
        started = time.monotonic()
        response = browser.get("/api/v1/images")
        assert response.status_code == 503
        assert time.monotonic() - started < 3.0
    started = time.monotonic()
    response = browser.get("/api/v1/images")
    assert response.status_code == 503
    assert time.monotonic() - started < 0.2  # known down: no waiting
    assert int(response.headers["Retry-After"]) > 20


# --- disk space ------------------------------------------------------------------------


class TestLowDisk:
    """A floor above the free space of any test machine's disk (10 TB)."""

    @pytest.fixture
    def settings_overrides(self) -> dict[str, Any]:
        return {"min_free_disk_mb": 10_000_000}

    def test_readyz_names_low_disk_space_with_the_free_bytes(
        self, client: FlaskClient, tmp_path: Path
    ) -> None:
        started = time.monotonic()
        response = client.get("/readyz")
        assert time.monotonic() - started < 2.0
        assert response.status_code == 503
        body = json_of(response)
        assert body["backends"] == {"disk": "low on space"}
        assert body["disk"]["floor_bytes"] == 10_000_000 * 1024 * 1024
        free = shutil.disk_usage(tmp_path).free
        assert abs(body["disk"]["free_bytes"] - free) < 64 * 1024 * 1024

    def test_an_upload_that_would_eat_the_disk_reserve_is_refused_with_507(
        self, alice: FlaskClient, backends: Backends
    ) -> None:
        response = upload(alice, png())
        assert response.status_code == 507
        assert json_of(response)["error"]["code"] == "storage_full"
        assert "out of disk space" in json_of(response)["error"]["message"]
        assert list(backends.blobs.scan("")) == []
        assert list(backends.blobs.scan_partial()) == []
        assert backends.images.usage(user_id_of(alice)).images == 0


def test_backend_down_is_a_backend_unavailable_with_retry_after() -> None:
    down = BackendDown("x", retry_after=3)
    assert isinstance(down, BackendUnavailable)
    assert down.retry_after == 3


def test_on_a_full_disk_the_ballast_is_released_and_the_write_retried(tmp_path: Path) -> None:
    ballast = Ballast(tmp_path / ".space-ballast", 64 * 1024)
    ballast.ensure()
    assert (tmp_path / ".space-ballast").stat().st_size == 64 * 1024
    guard = Guard("records", 1.0, CircuitBreaker(5, 5.0), free_space=ballast.release)
    attempts: list[bool] = []

    def delete_record() -> str:
        attempts.append(ballast.path.exists())
        if ballast.path.exists():  # the disk is full until the ballast goes
            raise StorageFull("full")
        return "deleted"

    try:
        assert guard.call(delete_record) == "deleted"
        assert attempts == [True, False]
        with pytest.raises(StorageFull):  # nothing left to give back: the error stands
            guard.call(lambda: (_ for _ in ()).throw(StorageFull("full")))
    finally:
        guard.close()
    DiskSpace(tmp_path, floor=1, ballast=ballast).ping()  # space is back: set aside again
    assert ballast.path.exists()


# --- settings and draining ---------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("PICBUCKET_RECORDS_DEADLINE_SECONDS", "0"),
        ("PICBUCKET_BLOBS_DEADLINE_SECONDS", "forever"),
        ("PICBUCKET_BREAKER_FAILURES", "0"),
        ("PICBUCKET_BREAKER_COOLDOWN_SECONDS", "-1"),
        ("PICBUCKET_MIN_FREE_DISK_MB", "-5"),
    ],
)
def test_resilience_settings_are_checked(name: str, value: str) -> None:
    with pytest.raises(SettingsError, match=name):
        Settings.from_env({name: value})


def test_resilience_settings_are_read() -> None:
    settings = Settings.from_env(
        {
            "PICBUCKET_RECORDS_DEADLINE_SECONDS": "2.5",
            "PICBUCKET_BLOBS_DEADLINE_SECONDS": "40",
            "PICBUCKET_BREAKER_FAILURES": "3",
            "PICBUCKET_BREAKER_COOLDOWN_SECONDS": "7",
            "PICBUCKET_MIN_FREE_DISK_MB": "0",
        }
    )
    assert settings.records_deadline_seconds == 2.5
    assert settings.blobs_deadline_seconds == 40
    assert settings.breaker_failures == 3
    assert settings.breaker_cooldown_seconds == 7
    assert settings.min_free_disk_mb == 0


@pytest.fixture
def drained() -> Iterator[None]:
    draining.begin()
    yield
    draining.reset()


def test_while_draining_new_requests_get_503_and_retry_after(
    client: FlaskClient, drained: None
) -> None:
    refused = client.get("/api/v1/images")
    assert refused.status_code == 503
    assert refused.headers["Retry-After"] == "2"
    assert refused.headers["Connection"] == "close"
    assert client.get("/healthz").status_code == 200  # liveness stays green
    ready = client.get("/readyz")
    assert ready.status_code == 503
    assert json_of(ready) == {"status": "draining"}
    # A request whose bytes began arriving before SIGTERM is served as usual.
    in_flight = client.get("/", environ_base={draining.IN_FLIGHT: True})
    assert in_flight.status_code != 503


# --- the Google clients' own timeouts -------------------------------------------------


def test_firestore_rpcs_default_to_the_records_deadline(monkeypatch: pytest.MonkeyPatch) -> None:
    from google.cloud import firestore

    # A real client; nothing is sent (gRPC connects lazily), so no emulator is needed.
    monkeypatch.setenv("FIRESTORE_EMULATOR_HOST", "127.0.0.1:9")
    client = firestore.Client(project="picbucket-caps")
    try:
        cap_firestore_client(client, 2.5)
        wrapped = client._firestore_api._transport._wrapped_methods
        get_document = wrapped[client._firestore_api._transport.get_document]
        assert get_document._timeout == 2.5
        assert get_document._retry.timeout == 2.5  # was 60 s of retries
        assert all(method._timeout == 2.5 for method in wrapped.values())
    finally:
        client.close()  # type: ignore[no-untyped-call]


def test_an_http_session_never_waits_longer_than_the_cap() -> None:
    import requests

    silent = socket.create_server(("127.0.0.1", 0))  # accepts, never answers
    session = requests.Session()
    cap_http_session(session, 0.3)
    started = time.monotonic()
    try:
        with pytest.raises(requests.exceptions.ReadTimeout):
            session.get(f"http://127.0.0.1:{silent.getsockname()[1]}/", timeout=60)
    finally:
        silent.close()
        session.close()
    assert time.monotonic() - started < 2.0


@pytest.mark.gcp
def test_gcp_storage_frozen_fails_uploads_at_the_deadline_and_readiness_names_it(
    gcp_settings: dict[str, Any], gcs_emulator: Emulator, issuer: str, tmp_path: Path
) -> None:
    settings = Settings(
        data_dir=tmp_path / "data",
        oidc_issuer=issuer,
        oidc_local=True,
        secret_key="test-secret-key-that-is-long-enough-for-tests",
        blobs_deadline_seconds=2.0,
        **gcp_settings,
    )
    app = create_app(settings)
    try:
        for check in app.extensions["picbucket"].health.values():
            check.ping()  # open both clients' connections before timing anything
        browser = app.test_client()
        assert sign_in(browser, "alice@example.com").status_code == 302
        group = os.getpgid(gcs_emulator.process.pid)
        os.killpg(group, signal.SIGSTOP)
        try:
            started = time.monotonic()
            ready = app.test_client().get("/readyz")
            assert time.monotonic() - started < 2.0
            assert ready.status_code == 503
            assert set(json_of(ready)["backends"]) == {"blobs"}
            started = time.monotonic()
            response = upload(browser, png())
            assert response.status_code == 503
            assert "Retry-After" in response.headers
            assert time.monotonic() - started < 4.0
        finally:
            os.killpg(group, signal.SIGCONT)
        recovered = time.monotonic()
        while app.test_client().get("/readyz").status_code != 200:
            assert time.monotonic() - recovered < 5.0, "readyz still 503 5 s after recovery"
            time.sleep(0.2)
        assert upload(browser, png()).status_code == 201
    finally:
        app.extensions["picbucket"].close()


def test_calls_after_the_backends_are_closed_are_503_not_500(tmp_path: Path) -> None:
    """A request that arrives while the app shuts down gets a 503 with Retry-After."""
    backends = build_backends(Settings(data_dir=tmp_path / "data"))
    backends.close()
    with pytest.raises(BackendUnavailable):
        backends.images.usage("someone")


def test_a_streamed_write_outlives_the_blobs_deadline_while_put_stays_bounded(
    tmp_path: Path,
) -> None:
    """An export zip is written for minutes: put_stream is not cut at the deadline."""
    backends = build_backends(Settings(data_dir=tmp_path, blobs_deadline_seconds=0.2))
    release = threading.Event()
    try:

        def slow_source() -> Iterator[bytes]:
            for n in range(6):  # 0.6 s in all: three deadlines
                release.wait(0.1)
                yield bytes([n]) * 1000

        info = backends.blobs.put_stream(
            "exports/u1/e1.zip", slow_source(), content_type="application/zip"
        )
        assert info.size == 6000
        with backends.blobs.open("exports/u1/e1.zip") as stream:
            assert stream.read() == b"".join(bytes([n]) * 1000 for n in range(6))

        class Stuck(io.RawIOBase):
            def readable(self) -> bool:
                return True

            def readinto(self, buffer: Any) -> int:
                release.wait(30)
                return 0

        started = time.monotonic()
        with pytest.raises(BackendUnavailable):
            backends.blobs.put(
                "users/u1/i1/original.png", io.BufferedReader(Stuck()), content_type="image/png"
            )
        assert time.monotonic() - started < 5
    finally:
        release.set()
        new_request()
        backends.close()
