"""Browser fixtures: Debian's Chromium, driven by Playwright, against a live app.

Each test gets fresh apps (own data directory, own local OpenID Connect provider,
werkzeug on free 127.0.0.1 ports) and fresh browser contexts; one Chromium process
serves the whole session. Every page is watched (see ``browsing.Watch``): console
errors, page errors, failed requests and unannounced HTTP errors fail the test.
"""

from __future__ import annotations

import contextlib
import os
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, expect, sync_playwright

from e2e.browsing import DESKTOP, LiveServer, Watch, serve

# Anything not served from this machine. Picbucket pages must never ask for it.
OFFSITE = re.compile(r"^https?://(?!127\.0\.0\.1[:/])")
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]

# Playwright's default 30 s only hides hangs: everything here is local and quick.
expect.set_options(timeout=10_000)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark every test in this folder as a browser test."""
    here = Path(__file__).parent
    for item in items:
        if here in Path(str(item.path)).parents:
            item.add_marker(pytest.mark.browser)


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    """Launch Debian's Chromium once per session (never a downloaded build)."""
    if not CHROMIUM.exists():
        reason = f"{CHROMIUM} is not installed (apt-get install chromium)"
        if os.environ.get("CI") == "true":
            pytest.fail(f"browser tests cannot run under CI=true: {reason}", pytrace=False)
        pytest.skip(reason)
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def start_server(tmp_path: Path, issuer: str) -> Iterator[Callable[..., LiveServer]]:
    """Return a function that starts an app with Settings overrides (stopped at teardown).

    Every app trusts the session's one local provider (``issuer`` from
    tests/conftest.py, itself a ``running_provider()``): the app registers its
    Authlib client in a module-level registry that keeps the first issuer it saw,
    so apps with different providers cannot share a process.
    """
    with contextlib.ExitStack() as stack:
        started = 0

        def start(**overrides: Any) -> LiveServer:
            nonlocal started
            started += 1
            return stack.enter_context(serve(tmp_path / f"data-{started}", issuer, **overrides))

        yield start


@pytest.fixture
def live_server(start_server: Callable[..., LiveServer]) -> LiveServer:
    """A fresh app with default settings."""
    return start_server()


@pytest.fixture
def watch() -> Iterator[Watch]:
    """Collect browser problems; anything the test did not assert fails it at teardown."""
    found = Watch()
    yield found
    found.assert_clean()


@pytest.fixture
def new_context(
    browser: Browser, watch: Watch, start_server: Callable[..., LiveServer]
) -> Iterator[Callable[..., BrowserContext]]:
    """Return a function that opens a fresh, watched browser context (closed at teardown).

    It depends on ``start_server`` so that contexts close before the servers stop.
    """
    contexts: list[BrowserContext] = []

    def make(**options: Any) -> BrowserContext:
        options.setdefault("viewport", DESKTOP)
        made = browser.new_context(**options)
        made.set_default_timeout(10_000)
        made.on("page", watch.attach)
        made.route(OFFSITE, watch.offsite)
        contexts.append(made)
        return made

    yield make
    watch.stop()  # what closing does to requests still in flight is not the app's fault
    for made in contexts:
        made.close()


@pytest.fixture
def page(new_context: Callable[..., BrowserContext], live_server: LiveServer) -> Page:
    """A watched page in a fresh context on the default app."""
    return new_context(base_url=live_server.url).new_page()
