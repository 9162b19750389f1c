"""The Cloud Storage and Firestore emulators, for `make run-emulated`, tests and benchmarks.

Each emulator runs as a subprocess on a free 127.0.0.1 port in its own process
group (the Firestore one is gcloud → shell → java; killing the group stops all of
it). gcp-storage-emulator answers no CORS preflight, so a tiny proxy in front of it
adds the headers a real bucket's CORS configuration would: that lets the browser
upload large files straight to "the bucket" as it does on Google Cloud. URLs are
signed with a throwaway service-account key (the emulator ignores signatures).
"""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

# The Firestore emulator is a JVM: ~2 s warm, much longer on a cold CI runner.
START_TIMEOUT = 90.0
_PROXY_CHUNK = 1024 * 1024
# What terraform/storage.tf configures on the real bucket for direct uploads.
CORS_HEADERS = {
    "Access-Control-Allow-Origin": "*",
    "Access-Control-Allow-Methods": "GET, PUT, OPTIONS",
    "Access-Control-Allow-Headers": "Content-Type, x-goog-content-length-range, "
    "x-goog-if-generation-match",
    "Access-Control-Max-Age": "3600",
}


class EmulatorError(RuntimeError):
    """An emulator could not be started; the message says why in one line."""


class Emulator:
    """One emulator subprocess and where it listens."""

    def __init__(self, name: str, argv: list[str], port: int, log: Path) -> None:
        self.name = name
        self.port = port
        self.log = log
        self._log_file = log.open("wb")
        try:
            self.process = subprocess.Popen(  # noqa: S603 - argv is ours, no shell
                argv,
                stdin=subprocess.DEVNULL,
                stdout=self._log_file,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # own process group: stop() kills children too
                env={**os.environ, "CLOUDSDK_CORE_DISABLE_PROMPTS": "1"},
            )
        except OSError as exc:
            self._log_file.close()
            raise EmulatorError(f"{name}: cannot run {argv[0]}: {exc}") from exc
        self.started = time.monotonic()
        self.ready_after: float | None = None

    @property
    def url(self) -> str:
        """Return the emulator's base URL."""
        return f"http://127.0.0.1:{self.port}"

    def wait_ready(self, expect: bytes) -> None:
        """Poll the root URL until it answers ``expect``; raise ``EmulatorError`` if not."""
        deadline = self.started + START_TIMEOUT
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise EmulatorError(
                    f"{self.name} exited with {self.process.returncode}: {self._tail()}"
                )
            try:
                with urllib.request.urlopen(self.url + "/", timeout=1) as response:  # noqa: S310
                    if expect in response.read():
                        self.ready_after = time.monotonic() - self.started
                        return
            except OSError:
                pass
            time.sleep(0.1)
        self.stop()
        raise EmulatorError(f"{self.name} not ready after {START_TIMEOUT:.0f}s: {self._tail()}")

    def stop(self) -> None:
        """Stop the whole process group: TERM, then KILL if it lingers."""
        if self.process.poll() is None:
            for sig, wait in ((signal.SIGTERM, 10), (signal.SIGKILL, 5)):
                try:
                    os.killpg(self.process.pid, sig)
                except ProcessLookupError:
                    break
                try:
                    self.process.wait(wait)
                    break
                except subprocess.TimeoutExpired:
                    continue
        # The group may outlive its leader (java under gcloud): make sure it is gone.
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.process.pid, signal.SIGKILL)
        self._log_file.close()

    def _tail(self) -> str:
        self._log_file.flush()
        lines = self.log.read_text(errors="replace").strip().splitlines()
        return lines[-1] if lines else "(no output)"


def free_port() -> int:
    """Return a TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def start_gcs(log_dir: Path) -> Emulator:
    """Start gcp-storage-emulator (in memory) and wait until it answers."""
    exe = Path(sys.executable).with_name("gcp-storage-emulator")
    if not exe.exists():
        found = shutil.which("gcp-storage-emulator")
        if found is None:
            raise EmulatorError("gcp-storage-emulator is not installed (requirements-dev.txt)")
        exe = Path(found)
    port = free_port()
    argv = [str(exe), "start", "--host=127.0.0.1", f"--port={port}", "--in-memory", "--quiet"]
    emulator = Emulator("gcp-storage-emulator", argv, port, log_dir / "gcs-emulator.log")
    emulator.wait_ready(b"OK")
    return emulator


def start_firestore(log_dir: Path) -> Emulator:
    """Start the official Firestore emulator and wait until it answers."""
    gcloud = shutil.which("gcloud")
    if gcloud is None:
        raise EmulatorError("gcloud is not installed (needed for the Firestore emulator)")
    if shutil.which("java") is None:
        raise EmulatorError("java is not installed (the Firestore emulator needs a JRE)")
    port = free_port()
    argv = [gcloud, "emulators", "firestore", "start", f"--host-port=127.0.0.1:{port}", "--quiet"]
    emulator = Emulator("firestore-emulator", argv, port, log_dir / "firestore-emulator.log")
    emulator.wait_ready(b"Ok")
    return emulator


def unique_name(prefix: str) -> str:
    """Return a fresh lowercase name valid as a bucket name and a project id."""
    return f"{prefix}-{uuid.uuid4().hex[:16]}"


def create_bucket(project: str) -> str:
    """Create an empty bucket in the storage emulator (STORAGE_EMULATOR_HOST) and name it."""
    from google.auth.credentials import AnonymousCredentials
    from google.cloud import storage

    name = unique_name("pb")
    client = storage.Client(project=project, credentials=AnonymousCredentials())  # type: ignore[no-untyped-call]
    client.create_bucket(name)
    return name


def write_throwaway_key(path: Path) -> Path:
    """Write a service-account JSON key with a fresh RSA key (signs URLs; grants nothing)."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    info = {
        "type": "service_account",
        "project_id": "picbucket-emulated",
        "private_key_id": uuid.uuid4().hex,
        "private_key": pem,
        "client_email": "emulated@picbucket-emulated.iam.gserviceaccount.com",
        "client_id": "1",
        "token_uri": "https://oauth2.googleapis.com/token",
    }
    path.write_text(json.dumps(info))
    path.chmod(0o600)
    return path


class _CorsProxyHandler(BaseHTTPRequestHandler):
    """Forward every request to the emulator, adding the bucket's CORS headers."""

    upstream_port: int = 0
    protocol_version = "HTTP/1.1"

    def do_OPTIONS(self) -> None:
        self.send_response(204)
        for name, value in CORS_HEADERS.items():
            self.send_header(name, value)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def _forward(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        upstream = http.client.HTTPConnection("127.0.0.1", self.upstream_port, timeout=120)
        headers = {k: v for k, v in self.headers.items() if k.lower() not in ("host", "origin")}
        upstream.putrequest(self.command, self.path, skip_host=True, skip_accept_encoding=True)
        upstream.putheader("Host", f"127.0.0.1:{self.upstream_port}")
        for name, value in headers.items():
            upstream.putheader(name, value)
        upstream.endheaders()
        remaining = length
        while remaining > 0:
            chunk = self.rfile.read(min(_PROXY_CHUNK, remaining))
            if not chunk:
                break
            upstream.send(chunk)
            remaining -= len(chunk)
        reply = upstream.getresponse()
        body = reply.read()
        self.send_response(reply.status)
        for name, value in reply.getheaders():
            if name.lower() not in ("transfer-encoding", "content-length", "connection"):
                self.send_header(name, value)
        self.send_header("Access-Control-Allow-Origin", "*")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
        upstream.close()

    do_GET = do_PUT = do_POST = do_DELETE = do_PATCH = _forward  # noqa: N815

    def log_message(self, format: str, *args: Any) -> None:
        """Stay quiet: the emulator logs requests itself."""


@contextlib.contextmanager
def cors_proxy(upstream_port: int) -> Iterator[str]:
    """Serve a CORS-adding proxy in front of the storage emulator; yield its URL."""
    handler = type("Handler", (_CorsProxyHandler,), {"upstream_port": upstream_port})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.1})
    thread.daemon = True
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        server.server_close()


@contextlib.contextmanager
def running_emulators(work_dir: Path) -> Iterator[dict[str, Any]]:
    """Start both emulators (and the CORS proxy); yield Settings overrides that use them.

    Sets STORAGE_EMULATOR_HOST and FIRESTORE_EMULATOR_HOST for this process while
    running, as the Google client libraries expect.
    """
    work_dir.mkdir(parents=True, exist_ok=True)
    saved = {
        name: os.environ.get(name) for name in ("STORAGE_EMULATOR_HOST", "FIRESTORE_EMULATOR_HOST")
    }
    with contextlib.ExitStack() as stack:
        gcs = start_gcs(work_dir)
        stack.callback(gcs.stop)
        firestore = start_firestore(work_dir)
        stack.callback(firestore.stop)
        proxy = stack.enter_context(cors_proxy(gcs.port))
        os.environ["STORAGE_EMULATOR_HOST"] = proxy
        os.environ["FIRESTORE_EMULATOR_HOST"] = f"127.0.0.1:{firestore.port}"
        try:
            project = unique_name("pb")
            yield {
                "blob_store": "gcs",
                "record_store": "firestore",
                "gcs_bucket": create_bucket(project),
                "gcp_project": project,
                "signing_key_file": str(write_throwaway_key(work_dir / "signing-key.json")),
            }
        finally:
            for name, value in saved.items():
                if value is None:
                    os.environ.pop(name, None)
                else:
                    os.environ[name] = value
