"""The container's start command, run for real without Docker.

Starts ``gunicorn --config gunicorn.conf.py "picbucket:create_app()"`` the way the
image's CMD does, with the local backends on a temporary data directory, and checks
health, JSON logs and a clean exit on SIGTERM within the graceful timeout.
"""

from __future__ import annotations

import json
import os
import runpy
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
CONFIG = ROOT / "gunicorn.conf.py"
START_TIMEOUT = 60.0
CLOUD_RUN_SIGTERM_GRACE = 10


def load_config(monkeypatch: pytest.MonkeyPatch, **env: str) -> dict[str, Any]:
    """Execute gunicorn.conf.py as gunicorn does, under the given environment."""
    for name in list(os.environ):
        if name.startswith("PICBUCKET_") or name == "PORT":
            monkeypatch.delenv(name)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return runpy.run_path(str(CONFIG))


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Server:
    process: subprocess.Popen[str]
    port: int

    def get(self, path: str, headers: dict[str, str] | None = None) -> tuple[int, bytes]:
        request = urllib.request.Request(
            f"http://127.0.0.1:{self.port}{path}", headers=headers or {}
        )
        try:
            with urllib.request.urlopen(request, timeout=5) as response:
                return response.status, response.read()
        except urllib.error.HTTPError as error:
            return error.code, error.read()

    def stop(self) -> tuple[int, float, str, str]:
        """Send SIGTERM; return exit code, seconds to exit, stdout and stderr."""
        started = time.monotonic()
        self.process.send_signal(signal.SIGTERM)
        out, err = self.process.communicate(timeout=CLOUD_RUN_SIGTERM_GRACE + 5)
        return self.process.returncode, time.monotonic() - started, out, err


def start_server(tmp_path: Path, **extra_env: str) -> Server:
    port = _free_port()
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("PICBUCKET_") and k != "GOOGLE_CLOUD_PROJECT"
    }
    env.update(PORT=str(port), PICBUCKET_DATA_DIR=str(tmp_path / "data"), **extra_env)
    gunicorn = Path(sys.executable).parent / "gunicorn"
    process = subprocess.Popen(
        [str(gunicorn), "--config", "gunicorn.conf.py", "picbucket:create_app()"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    server = Server(process, port)
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            out, err = process.communicate()
            pytest.fail(f"gunicorn exited with {process.returncode}\n{out}\n{err}")
        try:
            status, _ = server.get("/healthz")
        except OSError:
            time.sleep(0.2)
            continue
        if status == 200:
            return server
        time.sleep(0.2)
    process.kill()
    out, err = process.communicate()
    pytest.fail(f"/healthz did not answer within {START_TIMEOUT} s\n{out}\n{err}")


@pytest.fixture
def running(tmp_path: Path) -> Iterator[list[Server]]:
    """Collect started servers and make sure none outlives its test."""
    servers: list[Server] = []
    yield servers
    for server in servers:
        if server.process.poll() is None:
            server.process.kill()
            server.process.communicate()


def _json_lines(text: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in text.splitlines() if line.startswith("{")]


# --- The real process ----------------------------------------------------------------


def test_serves_healthz_and_exits_cleanly_on_sigterm(
    tmp_path: Path, running: list[Server], monkeypatch: pytest.MonkeyPatch
) -> None:
    server = start_server(tmp_path)
    running.append(server)

    status, body = server.get("/healthz")
    assert status == 200, body
    assert server.get("/readyz")[0] == 200

    graceful = load_config(monkeypatch)["graceful_timeout"]
    code, seconds, out, err = server.stop()
    assert code == 0, err
    assert seconds < graceful
    # gunicorn's own lines are Cloud Logging JSON too.
    gunicorn_lines = [e for e in _json_lines(err) if e.get("logger") == "gunicorn.error"]
    messages = " ".join(e["message"] for e in gunicorn_lines)
    assert "Listening at: http://0.0.0.0:" in messages
    assert "Handling signal: term" in messages
    assert all(e["severity"] in ("INFO", "WARNING", "DEBUG") for e in gunicorn_lines), err
    # Access log off by default: the app logs each request itself.
    assert not [e for e in _json_lines(out + err) if e.get("logger") == "gunicorn.access"]
    assert (tmp_path / "data").is_dir(), "PICBUCKET_DATA_DIR was not used"


# --- The settings ----------------------------------------------------------------------


def test_defaults_suit_cloud_run(monkeypatch: pytest.MonkeyPatch) -> None:
    conf = load_config(monkeypatch)
    assert conf["bind"] == "0.0.0.0:8080"
    assert conf["workers"] == 1
    assert conf["threads"] == 8
    # gthread, reading whole requests before a thread takes them (slow clients).
    assert conf["worker_class"] == "picbucket.server.BufferingThreadWorker"
    assert conf["concurrency"]() == 8
    assert conf["timeout"] == 0
    assert 0 < conf["graceful_timeout"] < CLOUD_RUN_SIGTERM_GRACE
    assert conf["accesslog"] is None
    assert conf["errorlog"] == "-"
    assert not conf.get("preload_app", False), "cloud clients must be built after the fork"


def test_environment_drives_port_workers_threads(monkeypatch: pytest.MonkeyPatch) -> None:
    conf = load_config(
        monkeypatch,
        PORT="9000",
        PICBUCKET_WORKERS="2",
        PICBUCKET_THREADS="3",
        PICBUCKET_LOG_LEVEL="WARNING",
    )
    assert conf["bind"] == "0.0.0.0:9000"
    assert conf["concurrency"]() == 6
    assert conf["loglevel"] == "warning"


@pytest.mark.parametrize("bad", ["zero", "0", "-1"])
def test_bad_worker_count_is_refused(monkeypatch: pytest.MonkeyPatch, bad: str) -> None:
    with pytest.raises(SystemExit, match="PICBUCKET_THREADS"):
        load_config(monkeypatch, PICBUCKET_THREADS=bad)


def test_error_records_format_as_cloud_logging_json(monkeypatch: pytest.MonkeyPatch) -> None:
    import logging

    from picbucket.web.logs import CloudLoggingFormatter

    logger_class = load_config(monkeypatch)["logger_class"]
    assert logger_class.__name__ == "CloudLoggingLogger"
    formatter = CloudLoggingFormatter()  # what CloudLoggingLogger installs
    try:
        raise RuntimeError("boom")
    except RuntimeError:
        record = logging.getLogger("gunicorn.error").makeRecord(
            "gunicorn.error", logging.ERROR, __file__, 1, "worker %s failed", (7,), sys.exc_info()
        )
    entry = json.loads(formatter.format(record))
    assert entry["severity"] == "ERROR"
    assert entry["message"].startswith("worker 7 failed\nTraceback")
    assert "RuntimeError: boom" in entry["message"]
