"""`make run` really starts the app and a working local identity provider."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

import pytest
import requests

from picbucket.dev.emulators import free_port


@pytest.fixture(params=["local", "emulated"])
def devserver(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """Run `make run` (or `make run-emulated`) on free ports until the test ends."""
    with ExitStack() as stack:
        yield from _running_devserver(request, tmp_path, stack)


def _tail(path: Path, lines: int = 40) -> str:
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])


def _running_devserver(
    request: pytest.FixtureRequest, tmp_path: Path, stack: ExitStack
) -> Iterator[str]:
    port, idp_port = free_port(), free_port()
    extra = ["--emulated"] if request.param == "emulated" else []
    # Its console goes to a file, shown if it does not come up (a crash says why).
    log_path = tmp_path / "devserver.log"
    log = stack.enter_context(log_path.open("wb"))
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "picbucket.devserver",
            "--port",
            str(port),
            "--idp-port",
            str(idp_port),
            "--data-dir",
            str(tmp_path),
            *extra,
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90  # the Firestore emulator is a JVM
        while time.monotonic() < deadline:
            if process.poll() is not None:
                pytest.fail(f"devserver exited with {process.returncode}:\n{_tail(log_path)}")
            try:
                if requests.get(f"{base}/healthz", timeout=5).ok:
                    break
            except requests.RequestException:  # not listening yet, or slow to answer
                pass
            time.sleep(0.1)
        else:
            pytest.fail(f"devserver did not start within 90 s:\n{_tail(log_path)}")
        yield base
    finally:
        process.send_signal(signal.SIGINT)  # what Ctrl-C sends
        assert process.wait(timeout=30) is not None  # it stops the emulators too


def test_make_run_signs_in_with_any_email(devserver: str) -> None:
    browser = requests.Session()
    provider_form = browser.get(f"{devserver}/login", timeout=10)
    assert provider_form.ok
    assert 'name="sub"' in provider_form.text  # the provider's sign-in page
    signed_in = browser.post(provider_form.url, data={"sub": "dana.scully@example.com"}, timeout=10)
    assert signed_in.ok
    assert "Hello, Dana Scully" in signed_in.text
    assert signed_in.url == f"{devserver}/"
    assert browser.get(f"{devserver}/readyz", timeout=10).json() == {"status": "ok"}
