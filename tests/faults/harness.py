"""Fault-injection harness: gunicorn on the emulators, the faults, and what clients saw.

Everything here is real: the container's gunicorn command, the official Firestore
emulator and gcp-storage-emulator as subprocesses, SIGSTOP/SIGKILL for the faults,
a tmpfs for a full disk. ``PICBUCKET_FAULTS=full`` (``make faults``) runs each
phase longer and harder than the short form that ``make test`` runs.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import random
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from picbucket.dev.emulators import Emulator, free_port
from picbucket.dev.emulators import create_bucket as emulator_bucket

ROOT = Path(__file__).resolve().parents[2]
FULL = os.environ.get("PICBUCKET_FAULTS", "short") == "full"

# Short deadlines so a fault costs a request seconds, not the defaults' 10-30 s.
RECORDS_DEADLINE = 2.0
BLOBS_DEADLINE = 4.0
# A request may meet one deadline, plus the upload's own work and scheduling noise.
ANSWER_BOUND = BLOBS_DEADLINE + 3.0
READY_WITHIN_FAULT = 2.0
READY_WITHIN_RECOVERY = 5.0
HEALTH_FAST = 1.0
HEALTH_SHARE = 0.99


@dataclass(frozen=True)
class Answer:
    """One HTTP exchange as the client saw it; ``status`` None: no answer at all."""

    status: int | None
    elapsed: float
    body: bytes = b""
    error: str = ""
    headers: dict[str, str] = field(default_factory=dict)

    def json(self) -> Any:
        """Return the body as JSON."""
        return json.loads(self.body)


def request(
    port: int,
    method: str,
    path: str,
    *,
    body: bytes = b"",
    headers: dict[str, str] | None = None,
    timeout: float = 30.0,
) -> Answer:
    """Send one request on a fresh connection; never raise for network trouble."""
    started = time.monotonic()
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request(method, path, body=body or None, headers=headers or {})
        response = conn.getresponse()
        data = response.read()
        return Answer(
            response.status,
            time.monotonic() - started,
            data,
            headers={k.lower(): v for k, v in response.getheaders()},
        )
    except (OSError, http.client.HTTPException) as exc:
        return Answer(None, time.monotonic() - started, error=f"{type(exc).__name__}: {exc}")
    finally:
        conn.close()


def multipart(data: bytes, filename: str) -> tuple[bytes, str]:
    """Return a multipart/form-data body with ``data`` as field ``file``, and its type."""
    boundary = uuid.uuid4().hex
    head = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; '
        f'filename="{filename}"\r\nContent-Type: application/octet-stream\r\n\r\n'
    ).encode()
    return head + data + f"\r\n--{boundary}--\r\n".encode(), (
        f"multipart/form-data; boundary={boundary}"
    )


# -- emulators -----------------------------------------------------------------


class Emulators:
    """A Firestore and a Cloud Storage emulator this suite may freeze, kill and restart."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.gcs_data = workdir / "gcs-data"
        self.gcs_data.mkdir(parents=True, exist_ok=True)
        self.firestore_port = free_port()
        self.gcs_port = free_port()
        self.firestore = self._start_firestore()
        self.gcs = self._start_gcs()

    def _start_firestore(self) -> Emulator:
        import shutil

        gcloud = shutil.which("gcloud") or "gcloud"
        argv = [
            gcloud,
            "emulators",
            "firestore",
            "start",
            f"--host-port=127.0.0.1:{self.firestore_port}",
            "--quiet",
        ]
        log = self.workdir / f"firestore-{time.monotonic_ns()}.log"
        emulator = Emulator("firestore-emulator", argv, self.firestore_port, log)
        emulator.wait_ready(b"Ok")
        return emulator

    def _start_gcs(self) -> Emulator:
        exe = Path(sys.executable).with_name("gcp-storage-emulator")
        # On disk (not --in-memory), so a stopped emulator comes back with its blobs.
        argv = [
            str(exe),
            "--data-dir",
            str(self.gcs_data),
            "start",
            "--host=127.0.0.1",
            f"--port={self.gcs_port}",
            "--quiet",
        ]
        log = self.workdir / f"gcs-{time.monotonic_ns()}.log"
        emulator = Emulator("gcp-storage-emulator", argv, self.gcs_port, log)
        emulator.wait_ready(b"OK")
        return emulator

    @property
    def env(self) -> dict[str, str]:
        """Return the variables that point Google's clients at these emulators."""
        return {
            "FIRESTORE_EMULATOR_HOST": f"127.0.0.1:{self.firestore_port}",
            "STORAGE_EMULATOR_HOST": f"http://127.0.0.1:{self.gcs_port}",
        }

    def freeze_firestore(self) -> None:
        """SIGSTOP the Firestore emulator's whole process group: connections hang."""
        os.killpg(self.firestore.process.pid, signal.SIGSTOP)

    def thaw_firestore(self) -> None:
        """SIGCONT what ``freeze_firestore`` stopped."""
        os.killpg(self.firestore.process.pid, signal.SIGCONT)

    def stop_firestore(self) -> None:
        """Kill the Firestore emulator (its data is in memory: gone)."""
        self.firestore.stop()

    def restart_firestore(self) -> None:
        """Start a fresh Firestore emulator on the same port."""
        self.firestore = self._start_firestore()

    def stop_gcs(self) -> None:
        """Kill the storage emulator; its blobs stay on disk."""
        self.gcs.stop()

    def restart_gcs(self) -> None:
        """Start the storage emulator again on the same port and data."""
        self.gcs = self._start_gcs()

    def close(self) -> None:
        """Stop both (a frozen group is woken first so it can die)."""
        with contextlib.suppress(ProcessLookupError):
            self.thaw_firestore()
        self.firestore.stop()
        self.gcs.stop()


def create_bucket(emulators: Emulators) -> str:
    """Create an empty bucket in the storage emulator; return its name."""
    with _env(emulators.env):
        return emulator_bucket("pb-faults")


@contextlib.contextmanager
def _env(values: dict[str, str]) -> Iterator[None]:
    previous = {name: os.environ.get(name) for name in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for name, value in previous.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


# -- the server ------------------------------------------------------------------


@dataclass
class Server:
    """Gunicorn started as the container starts it, with its logs in files."""

    process: subprocess.Popen[bytes]
    port: int
    env: dict[str, str]
    log: Path

    def get(self, path: str, token: str = "", timeout: float = 30.0) -> Answer:
        """GET ``path`` (with a bearer token if given)."""
        return request(self.port, "GET", path, headers=_auth(token), timeout=timeout)

    def upload(self, token: str, data: bytes, key: str = "", timeout: float = 60.0) -> Answer:
        """POST one image to the API (with an Idempotency-Key if given)."""
        body, content_type = multipart(data, f"{uuid.uuid4().hex[:8]}.png")
        headers = {**_auth(token), "Content-Type": content_type}
        if key:
            headers["Idempotency-Key"] = key
        return request(
            self.port, "POST", "/api/v1/images", body=body, headers=headers, timeout=timeout
        )

    def delete(self, token: str, image_id: str, timeout: float = 30.0) -> Answer:
        """DELETE one image through the API."""
        return request(
            self.port, "DELETE", f"/api/v1/images/{image_id}", headers=_auth(token), timeout=timeout
        )

    def workers(self) -> list[int]:
        """Return the pids of gunicorn's worker processes (children of the master)."""
        children = Path(f"/proc/{self.process.pid}/task/{self.process.pid}/children")
        with contextlib.suppress(OSError):
            return [int(pid) for pid in children.read_text().split()]
        return []

    def kill_a_worker(self, rng: random.Random) -> int | None:
        """SIGKILL one worker at random; return its pid (None if none was running)."""
        pids = self.workers()
        if not pids:
            return None
        pid = rng.choice(pids)
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
        return pid

    def stop(self) -> None:
        """SIGTERM, then SIGKILL if it lingers."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)

    def tail(self, lines: int = 30) -> str:
        """Return the end of the server's log, for failure messages."""
        text = self.log.read_text(errors="replace").splitlines()
        return "\n".join(text[-lines:])


def _auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"} if token else {}


def server_env(data_dir: Path, extra: dict[str, str]) -> dict[str, str]:
    """Return the environment of a faults server: short deadlines, no rate limits."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("PICBUCKET_")
        and k not in ("GOOGLE_CLOUD_PROJECT", "FIRESTORE_EMULATOR_HOST", "STORAGE_EMULATOR_HOST")
    }
    env.update(
        PICBUCKET_DATA_DIR=str(data_dir),
        PICBUCKET_WORKERS="2",
        PICBUCKET_THREADS="8",
        PICBUCKET_RECORDS_DEADLINE_SECONDS=str(RECORDS_DEADLINE),
        PICBUCKET_BLOBS_DEADLINE_SECONDS=str(BLOBS_DEADLINE),
        PICBUCKET_BREAKER_COOLDOWN_SECONDS="1",
        PICBUCKET_RATE_LIMIT_UPLOAD="100000 per minute",
        PICBUCKET_RATE_LIMIT_API="100000 per minute",
        PICBUCKET_LOG_LEVEL="WARNING",
    )
    env.update(extra)
    return env


def start_server(workdir: Path, env: dict[str, str], timeout: float = 60.0) -> Server:
    """Start gunicorn with ``env`` and wait until /healthz answers."""
    port = free_port()
    env = {**env, "PORT": str(port)}
    log = workdir / f"gunicorn-{port}.log"
    gunicorn = Path(sys.executable).parent / "gunicorn"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [str(gunicorn), "--config", "gunicorn.conf.py", "picbucket:create_app()"],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    server = Server(process, port, env, log)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"gunicorn exited with {process.returncode}:\n{server.tail()}")
        if server.get("/healthz", timeout=2).status == 200:
            return server
        time.sleep(0.2)
    server.stop()
    raise AssertionError(f"gunicorn did not answer /healthz within {timeout} s:\n{server.tail()}")


def make_account(env: dict[str, str], name: str = "faults") -> tuple[str, str]:
    """Create a user and an API token in the server's stores; return (user id, token)."""
    from picbucket.domain import User, user_id_for, utcnow
    from picbucket.services.tokens import create_token
    from picbucket.wiring import build_backends

    subject = f"{name}-{uuid.uuid4().hex[:8]}"
    with _env({k: v for k, v in env.items() if k.endswith("_EMULATOR_HOST")}):
        backends = build_backends(_patient(env))
        try:
            user = User(
                id=user_id_for("https://faults.example", subject),
                issuer="https://faults.example",
                subject=subject,
                email=f"{subject}@example.com",
                name=name,
                created=utcnow(),
            )
            backends.users.upsert(user)
            _token, secret = create_token(backends, user.id, name)
        finally:
            backends.close()
    return user.id, secret


def _patient(env: dict[str, str]) -> Any:
    """Return the server's settings with long deadlines (the test's own cold client)."""
    from picbucket.settings import Settings

    relaxed = {
        **env,
        "PICBUCKET_RECORDS_DEADLINE_SECONDS": "60",
        "PICBUCKET_BLOBS_DEADLINE_SECONDS": "60",
    }
    return Settings.from_env(relaxed, for_maintenance=True)


def reconcile(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """Run ``picbucket reconcile --grace-minutes 0 --force`` against the server's stores."""
    exe = Path(sys.executable).parent / "picbucket"
    # The production deadlines: the job's cold client needs more than the server's 2 s.
    relaxed = {k: v for k, v in env.items() if not k.endswith("_DEADLINE_SECONDS")}
    return subprocess.run(
        [str(exe), "reconcile", "--grace-minutes", "0", "--force"],
        env=relaxed,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def leftovers(env: dict[str, str]) -> tuple[list[str], list[str]]:
    """Return (blob keys whose image has no record, temp files) in the server's stores."""
    from picbucket.wiring import build_backends

    with _env({k: v for k, v in env.items() if k.endswith("_EMULATOR_HOST")}):
        backends = build_backends(_patient(env))
        try:
            keys = [blob.key for blob in backends.blobs.scan("users/")]
            refs = {tuple(key.split("/")[1:3]) for key in keys}
            found = backends.images.existing((owner, image) for owner, image in refs)
            orphans = [key for key in keys if tuple(key.split("/")[1:3]) not in found]
            partial = [blob.key for blob in backends.blobs.scan_partial()]
        finally:
            backends.close()
    return orphans, partial


# -- observers -------------------------------------------------------------------


class HealthProbe:
    """Ask /healthz every 100 ms in a thread; keep how fast each answer came, per phase."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.phase = "start"
        self.samples: dict[str, list[float | None]] = {}
        self.misses: dict[str, list[str]] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> HealthProbe:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(10)

    def _run(self) -> None:
        while not self._stop.is_set():
            answer = request(self.port, "GET", "/healthz", timeout=HEALTH_FAST * 3)
            if self.phase == "storm" and _cut_by_a_kill(answer):
                # The worker holding this connection was killed mid-answer (the storm's
                # kill -9). A client retries an idempotent GET on a reset connection, as
                # Cloud Run's front end does; the retry's time counts against the 1 s.
                # Only in the storm: in any other phase a reset is a finding.
                self.misses.setdefault(self.phase, []).append(f"retried: {answer.error[:50]}")
                retry = request(self.port, "GET", "/healthz", timeout=HEALTH_FAST * 3)
                answer = replace(retry, elapsed=answer.elapsed + retry.elapsed)
            took = answer.elapsed if answer.status == 200 else None
            self.samples.setdefault(self.phase, []).append(took)
            if took is None or took > HEALTH_FAST:
                what = (
                    f"{answer.status} in {answer.elapsed:.1f} s" if answer.status else answer.error
                )
                self.misses.setdefault(self.phase, []).append(what[:60])
            self._stop.wait(0.1)

    def fast_share(self, phase: str) -> tuple[float, int]:
        """Return the share of /healthz answered 200 within 1 s in ``phase``, and the count."""
        taken = self.samples.get(phase, [])
        if not taken:
            return 0.0, 0
        fast = sum(1 for t in taken if t is not None and t <= HEALTH_FAST)
        return fast / len(taken), len(taken)


def _cut_by_a_kill(answer: Answer) -> bool:
    """Tell whether a request lost its connection after it was accepted (no answer)."""
    resets = ("RemoteDisconnected", "ConnectionResetError", "BadStatusLine")
    return answer.status is None and answer.error.startswith(resets)


def wait_for_ready(port: int, status: int, within: float) -> float | None:
    """Poll /readyz until it answers ``status``; return how long that took, or None."""
    started = time.monotonic()
    while time.monotonic() - started < within + 10:
        answer = request(port, "GET", "/readyz", timeout=3)
        if answer.status == status:
            return time.monotonic() - started
        time.sleep(0.1)
    return None


class SlowClients:
    """Connections that announce an upload and then send its body at ~10 bytes/s."""

    def __init__(self, port: int, count: int, token: str) -> None:
        self.port = port
        self.count = count
        self.token = token
        self.sockets: list[socket.socket] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._trickle, daemon=True)
        self.outcomes: list[str] = []

    def __enter__(self) -> SlowClients:
        for _ in range(self.count):
            sock = socket.create_connection(("127.0.0.1", self.port), timeout=5)
            head = (
                "POST /api/v1/images HTTP/1.1\r\nHost: faults\r\n"
                f"Authorization: Bearer {self.token}\r\n"
                "Content-Type: multipart/form-data; boundary=x\r\n"
                "Content-Length: 1000000\r\n\r\n"
            )
            sock.sendall(head.encode())
            self.sockets.append(sock)
        self._thread.start()
        return self

    def _trickle(self) -> None:
        while not self._stop.wait(1.0):
            for sock in self.sockets:
                with contextlib.suppress(OSError):
                    sock.send(b"x" * 10)

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(5)
        for sock in self.sockets:
            sock.settimeout(0.5)
            try:
                first = sock.recv(64).split(b"\r\n", 1)[0].decode(errors="replace")
                self.outcomes.append(first or "closed")
            except OSError as exc:
                self.outcomes.append(type(exc).__name__)
            sock.close()
