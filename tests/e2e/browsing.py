"""What the browser tests share: a live app server, watched pages, a person's actions.

Kept out of conftest.py so test modules can import it (tests/conftest.py already
owns the module name ``conftest``).
"""

from __future__ import annotations

import contextlib
import io
import re
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import requests
from PIL import Image
from playwright.sync_api import (
    ConsoleMessage,
    Locator,
    Page,
    Request,
    Response,
    Route,
    ViewportSize,
)
from werkzeug.serving import make_server

from helpers import attribute
from picbucket import create_app
from picbucket.settings import Settings

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
SCREENSHOTS = ARTIFACTS / "screenshots"
DESKTOP: ViewportSize = {"width": 1280, "height": 800}
PHONE: ViewportSize = {"width": 360, "height": 740}


# -- the app --------------------------------------------------------------------------


@dataclass
class LiveServer:
    """A running Picbucket and the identity provider it trusts."""

    url: str
    issuer: str
    settings: Settings

    def sign_in_http(self, email: str) -> requests.Session:
        """Sign in without a browser (app → provider form → callback); set the CSRF header."""
        http = requests.Session()
        start = http.get(f"{self.url}/login", allow_redirects=False, timeout=10)
        assert start.status_code == 302, start.text
        answer = http.post(
            start.headers["Location"], data={"sub": email}, allow_redirects=False, timeout=10
        )
        assert answer.status_code == 302, answer.text
        done = http.get(answer.headers["Location"], allow_redirects=False, timeout=10)
        assert done.status_code == 302, done.text
        page = http.get(f"{self.url}/settings", timeout=10).text
        http.headers["X-CSRFToken"] = attribute(page, "meta", "content", name="csrf-token")
        return http

    def upload(self, http: requests.Session, data: bytes, filename: str) -> dict[str, Any]:
        """Upload one file through the JSON API; return the created image."""
        answer = http.post(
            f"{self.url}/api/v1/images", files={"file": (filename, data)}, timeout=30
        )
        assert answer.status_code == 201, answer.text
        created: dict[str, Any] = answer.json()
        return created


@contextlib.contextmanager
def serve(data_dir: Path, issuer: str, **overrides: Any) -> Iterator[LiveServer]:
    """Run a fresh app on a free port, trusting the provider at ``issuer``; stop it after."""
    values: dict[str, Any] = {
        "data_dir": data_dir,
        "oidc_issuer": issuer,
        "oidc_local": True,
        "secret_key": "e2e-secret-key-that-is-long-enough-for-tests",
        **overrides,
    }
    settings = Settings(**values)
    settings.validate()
    app = create_app(settings)
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.1})
    thread.daemon = True
    thread.start()
    try:
        yield LiveServer(f"http://127.0.0.1:{server.server_port}", issuer, settings)
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
        app.extensions["picbucket"].close()


# -- watched pages ---------------------------------------------------------------------


@dataclass
class Watch:
    """What went wrong in the watched pages: console and page errors, failed requests."""

    problems: list[str] = field(default_factory=list)
    allowed: list[tuple[int, re.Pattern[str]]] = field(default_factory=list)
    stopped: bool = False

    def allow(self, status: int, url: str) -> None:
        """Announce an answer the journey expects (a regex on the URL), e.g. a 404."""
        self.allowed.append((status, re.compile(url)))

    def _expected(self, status: int, url: str) -> bool:
        return any(s == status and p.search(url) for s, p in self.allowed)

    def stop(self) -> None:
        """Stop recording (the test is over; its pages are about to close)."""
        self.stopped = True

    def _record(self, problem: str) -> None:
        if not self.stopped:
            self.problems.append(problem)

    def attach(self, page: Page) -> None:
        """Start watching ``page``."""
        page.on("console", self._console)
        page.on("pageerror", self._page_error)
        page.on("requestfailed", self._request_failed)
        page.on("response", self._response)

    def offsite(self, route: Route) -> None:
        """Block and report any request that would leave the machine."""
        url = route.request.url
        self._record(f"request left the machine: {route.request.method} {url}")
        route.abort("blockedbyclient")

    def assert_clean(self) -> None:
        """Fail if anything went wrong in any watched page so far."""
        assert not self.problems, "problems in the browser:\n" + "\n".join(self.problems)

    def _console(self, message: ConsoleMessage) -> None:
        if message.type != "error":
            return
        # Chromium logs every >= 400 answer to the console too; _response judges
        # those (with the URL and the allow-list), so they are not counted twice.
        if message.text.startswith("Failed to load resource: the server responded"):
            return
        self._record(f"console error: {message.text} at {message.location}")

    def _page_error(self, error: Exception) -> None:
        self._record(f"uncaught page error: {error}")

    def _request_failed(self, request: Request) -> None:
        if request.failure == "net::ERR_ABORTED":
            return  # cancelled by the browser itself (a navigation or reload), not a failure
        self._record(f"request failed: {request.method} {request.url}: {request.failure}")

    def _response(self, response: Response) -> None:
        if response.status >= 400 and not self._expected(response.status, response.url):
            self._record(
                f"unexpected HTTP {response.status}: {response.request.method} {response.url}"
            )


# -- what a person does ----------------------------------------------------------------


def sign_in(page: Page, base_url: str, email: str) -> None:
    """Sign in through the provider's own page, as a person would; land back on the app.

    Usually the gallery; the page a signed-out person had asked for, when there was one.
    """
    page.goto(f"{base_url}/")
    page.get_by_role("link", name="Sign in").first.click()
    # oidc-provider-mock's form: type the email as the subject, press Authorize.
    page.locator("input[name=sub]").fill(email)
    page.get_by_role("button", name="Authorize").click()
    page.wait_for_url(
        re.compile("^" + re.escape(base_url) + r"/(\?.*)?$|^" + re.escape(base_url) + r"/settings$")
    )


def csrf_of(page: Page) -> str:
    """Return the CSRF token the page embeds."""
    token = page.locator('meta[name="csrf-token"]').get_attribute("content")
    assert token
    return token


def api_upload(page: Page, base_url: str, data: bytes, filename: str) -> dict[str, Any]:
    """Upload through the JSON API with the page's session and CSRF header (as app.js does)."""
    answer = page.request.post(
        f"{base_url}/api/v1/images",
        multipart={"file": {"name": filename, "mimeType": "image/png", "buffer": data}},
        headers={"X-CSRFToken": csrf_of(page)},
    )
    assert answer.status == 201, answer.text()
    created: dict[str, Any] = answer.json()
    return created


def alts_become(
    locator: Locator, expected: list[str], *, any_order: bool = False, timeout: float = 5.0
) -> list[str]:
    """Wait until the images of ``locator`` are named ``expected`` and return their alts.

    Playwright retries single-element expectations but not a list read with
    ``evaluate_all``: right after a click that navigates, the new document may not be
    parsed yet, so a one-shot read sees an empty grid. This polls like ``expect`` does,
    then asserts, so a real mismatch still fails with the full diff.
    """

    def shown() -> list[str]:
        alts: list[str] = locator.evaluate_all("(imgs) => imgs.map((i) => i.alt)")
        return sorted(alts) if any_order else alts

    want = sorted(expected) if any_order else expected
    deadline = time.monotonic() + timeout
    while (current := shown()) != want and time.monotonic() < deadline:
        time.sleep(0.05)
    assert current == want
    return current


def path_of(url: str) -> str:
    """Return the path (and query) of an absolute URL."""
    parts = urlsplit(url)
    return parts.path + (f"?{parts.query}" if parts.query else "")


def screenshot(page: Page, name: str, **options: Any) -> Path:
    """Save a screenshot under test-artifacts/screenshots/ and return its path."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    target = SCREENSHOTS / name
    page.screenshot(path=str(target), **options)
    return target


# -- pictures ----------------------------------------------------------------------------

PALETTE = [
    ((231, 111, 81), (244, 162, 97)),
    ((42, 157, 143), (233, 196, 106)),
    ((38, 70, 83), (42, 157, 143)),
    ((131, 56, 236), (255, 190, 11)),
    ((58, 134, 255), (255, 0, 110)),
    ((6, 214, 160), (17, 138, 178)),
]


def picture(index: int = 0, size: tuple[int, int] = (480, 360), fmt: str = "PNG") -> bytes:
    """Return a small, pleasant test picture: a two-colour gradient with a sun."""
    top, bottom = PALETTE[index % len(PALETTE)]
    width, height = size
    img = Image.new("RGB", size)
    for y in range(height):
        t = y / max(1, height - 1)
        row = tuple(round(a + (b - a) * t) for a, b in zip(top, bottom, strict=True))
        img.paste(row, (0, y, width, y + 1))
    r = min(size) // 6
    cx, cy = width * (0.3 + 0.1 * (index % 4)), height * 0.35
    from PIL import ImageDraw

    ImageDraw.Draw(img).ellipse((cx - r, cy - r, cx + r, cy + r), fill=(255, 244, 214))
    out = io.BytesIO()
    img.save(out, fmt)
    return out.getvalue()
