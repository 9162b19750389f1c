"""Journey 9: a file above the in-app limit goes from the browser straight to the bucket.

Runs on the emulated Google Cloud backends (gcp-storage-emulator + the Firestore
emulator). gcp-storage-emulator answers no CORS preflight and sends no CORS headers,
so the browser could never PUT to it from the page's origin. As a real bucket's CORS
configuration would, ``picbucket.dev.emulators.cors_proxy`` (a small same-process
proxy) sits in front of it and adds those headers; the app is pointed at the proxy
through STORAGE_EMULATOR_HOST, so the signed upload URL, the page's CSP connect-src
and the app's own storage client all go through it. URLs are signed with a throwaway
service-account key (``signing_key_file``); the emulator ignores signatures.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import BrowserContext, Request, expect

import imagefiles
from e2e.browsing import LiveServer, Watch, sign_in

pytestmark = pytest.mark.gcp


def test_9_large_file_goes_straight_to_the_bucket(
    gcs_emulator: Any,
    gcp_settings: dict[str, Any],
    start_server: Callable[..., LiveServer],
    new_context: Callable[..., BrowserContext],
    watch: Watch,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    """A ~2.3 MB image with a 1 MB in-app limit: signed PUT to the bucket, then it appears."""
    try:
        from picbucket.dev.emulators import cors_proxy, write_throwaway_key
    except ImportError as exc:
        pytest.fail(
            "journey 9 needs picbucket.dev.emulators.cors_proxy and write_throwaway_key "
            f"(CORS in front of gcp-storage-emulator, a signing key): {exc}",
            pytrace=False,
        )
    with cors_proxy(gcs_emulator.port) as bucket_host:
        # Read by the storage client, the signed-URL endpoint and the page CSP at app start.
        monkeypatch.setenv("STORAGE_EMULATOR_HOST", bucket_host)
        try:
            server = start_server(
                **gcp_settings,
                signing_key_file=str(write_throwaway_key(tmp_path / "signing-key.json")),
                max_upload_mb=1,
                max_direct_upload_mb=5,
            )
        except TypeError as exc:
            pytest.fail(f"Settings lacks signing_key_file (needed to sign URLs): {exc}")

        page = new_context(base_url=server.url).new_page()
        sent: list[Request] = []
        page.on("request", lambda request: sent.append(request))
        sign_in(page, server.url, "alice@example.com")
        expect(page.get_by_text("No images yet")).to_be_visible()

        big = imagefiles.noise_png((900, 850))
        assert len(big) > 2 * 1024 * 1024
        page.locator("#file-input").set_input_files(
            {"name": "big scan.png", "mimeType": "image/png", "buffer": big}
        )
        row = page.get_by_role("list", name="Uploads").get_by_role("listitem")
        expect(row.get_by_role("alert")).to_have_count(0)
        expect(row).to_contain_text("Uploaded", timeout=30_000)
        expect(row.get_by_role("progressbar", name="Upload of big scan.png")).to_have_attribute(
            "aria-valuenow", "100"
        )
        expect(page.get_by_role("img", name="big scan", exact=True)).to_be_visible()
        expect(page.locator("#quota-images")).to_have_text("1 image")

        # The bytes went to the bucket (through its CORS front), never through the app.
        puts = [r for r in sent if r.method == "PUT"]
        assert len(puts) == 1, [f"{r.method} {r.url}" for r in sent]
        assert puts[0].url.startswith(bucket_host + "/"), puts[0].url
        assert re.search(r"X-Goog-Signature=", puts[0].url)
        app_posts = [r.url for r in sent if r.method == "POST" and r.url.startswith(server.url)]
        assert len(app_posts) == 2, app_posts
        assert app_posts[0] == f"{server.url}/api/v1/uploads"
        assert re.fullmatch(
            re.escape(server.url) + r"/api/v1/uploads/[\w-]{22}/complete", app_posts[1]
        )

        page.reload()
        expect(page.get_by_role("img", name="big scan", exact=True)).to_be_visible()
        page.get_by_role("link", name="big scan").click()
        expect(page.get_by_text("900 × 850 px")).to_be_visible()
        watch.assert_clean()
