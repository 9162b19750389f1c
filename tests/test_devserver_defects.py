"""`make run` as a newcomer meets it: ports from the environment, a one-line refusal
when one is busy, an "Email" box, and no deprecation warnings on the console."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from picbucket.dev.emulators import free_port


def _devserver(env: dict[str, str]) -> subprocess.Popen[str]:
    # -W default: show every DeprecationWarning, as a newcomer's Python would not hide it.
    return subprocess.Popen(
        [sys.executable, "-W", "default", "-m", "picbucket.devserver"],
        env={**os.environ, **env},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_make_run_takes_ports_and_data_dir_from_the_environment(tmp_path: Path) -> None:
    port, idp_port = free_port(), free_port()
    data = tmp_path / "pictures"
    env = {"PORT": str(port), "IDP_PORT": str(idp_port), "PICBUCKET_DATA_DIR": str(data)}
    process = _devserver(env)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60  # a busy CI machine starts Python slowly
        while time.monotonic() < deadline:
            if process.poll() is not None:
                out, err = process.communicate()
                pytest.fail(f"devserver exited with {process.returncode}:\n{out}\n{err}")
            try:
                if requests.get(f"{base}/healthz", timeout=5).ok:
                    break
            except requests.RequestException:  # not listening yet, or slow to answer
                pass
            time.sleep(0.1)
        else:
            pytest.fail("devserver did not start on PORT within 60 s")
        browser = requests.Session()
        form = browser.get(f"{base}/login", timeout=10)
        assert form.url.startswith(f"http://127.0.0.1:{idp_port}/")
        # The box is labelled "Email", not the protocol's "sub".
        assert '<label for="email">Email</label>' in form.text
        assert 'placeholder="sub"' not in form.text
        signed_in = browser.post(form.url, data={"sub": "fox.mulder@example.com"}, timeout=10)
        assert "Hello, Fox Mulder" in signed_in.text
        assert data.is_dir() and any(data.iterdir())  # the data went where we said
    finally:
        process.send_signal(signal.SIGINT)
        _, stderr = process.communicate(timeout=10)
    assert "Deprecat" not in stderr, stderr


def test_a_busy_port_gives_one_line(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        env = {"PORT": str(port), "IDP_PORT": str(free_port()), "PICBUCKET_DATA_DIR": str(tmp_path)}
        process = _devserver(env)
        _, stderr = process.communicate(timeout=30)
    assert process.returncode == 1
    assert stderr.strip().splitlines() == [
        f"Cannot use port {port}: another program is using it (on macOS, AirPlay Receiver "
        "takes 5000). Choose another: PORT=8080 make run"
    ]
