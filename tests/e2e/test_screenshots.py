"""Screenshots of the real pages, written to test-artifacts/screenshots/.

The README embeds copies from docs/screenshots/; run with
``PICBUCKET_UPDATE_SCREENSHOTS=1`` to refresh those copies from this run.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from pathlib import Path

from playwright.sync_api import BrowserContext, FilePayload, Page, expect

import imagefiles
from e2e.browsing import DESKTOP, PHONE, LiveServer, Watch, picture, screenshot, sign_in

DOCS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"
MAX_BYTES = 300 * 1024
TITLES = [
    "Harbour at dawn",
    "Lisbon tram",
    "Night market",
    "Lavender field",
    "Blue hour",
    "Kayaks",
    "Sunday hike",
    "First snow",
    "Studio portrait",
    "Grandma's 90th",
]


def keep(shot: Path) -> None:
    """Check the screenshot's size; copy it into docs/ when asked to."""
    size = shot.stat().st_size
    assert size < MAX_BYTES, f"{shot.name} is {size} bytes; keep README images small"
    if os.environ.get("PICBUCKET_UPDATE_SCREENSHOTS") == "1":
        DOCS.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(shot, DOCS / shot.name)


def test_screenshots(
    start_server: Callable[..., LiveServer],
    new_context: Callable[..., BrowserContext],
    watch: Watch,
) -> None:
    """The gallery, the viewer, a share page, the gallery on a phone, an upload in progress."""
    server = start_server()
    http = server.sign_in_http("alice@example.com")
    made = [
        server.upload(http, picture(i, size=(400, 300), fmt="JPEG"), f"{title}.jpg")
        for i, title in enumerate(reversed(TITLES[1:]))
    ]
    # The newest, and the one shared: big enough to fill the share page.
    made.append(server.upload(http, picture(9, size=(1200, 800), fmt="JPEG"), f"{TITLES[0]}.jpg"))
    share = http.post(
        f"{server.url}/api/v1/images/{made[-1]['id']}/shares", json={"expires": "7d"}, timeout=10
    )
    assert share.status_code == 201, share.text

    page = new_context(base_url=server.url, viewport=DESKTOP).new_page()
    sign_in(page, server.url, "alice@example.com")
    page.reload()  # without the welcome message
    expect(page.locator("#gallery img")).to_have_count(len(TITLES))
    wait_for_images(page)
    keep(screenshot(page, "gallery.png"))

    # The viewer over the gallery, on the photo that fills it best.
    page.get_by_role("link", name=TITLES[0]).click()
    page.wait_for_function(
        "() => document.querySelector('.viewer-img').complete"
        " && document.querySelector('.viewer-img').naturalWidth > 0"
    )
    keep(screenshot(page, "viewer.png"))
    page.keyboard.press("Escape")

    visitor = new_context(base_url=server.url, viewport=DESKTOP).new_page()
    visitor.goto(share.json()["share_url"])
    wait_for_images(visitor)
    keep(screenshot(visitor, "share.png"))

    phone = new_context(base_url=server.url, viewport=PHONE, is_mobile=True).new_page()
    sign_in(phone, server.url, "alice@example.com")
    phone.reload()
    wait_for_images(phone)
    keep(screenshot(phone, "phone.png"))

    # An upload in progress: throttle the connection so its progress bar is caught
    # midway, next to one finished upload and one refused file.
    page.locator("#file-input").set_input_files(
        {"name": "Beach day.png", "mimeType": "image/png", "buffer": picture(3)}
    )
    expect(page.get_by_role("img", name="Beach day")).to_be_visible()
    cdp = page.context.new_cdp_session(page)
    cdp.send("Network.enable")
    cdp.send(
        "Network.emulateNetworkConditions",
        {"offline": False, "latency": 20, "downloadThroughput": -1, "uploadThroughput": 400_000},
    )
    page.locator("#file-input").set_input_files(
        list[FilePayload](
            [
                {"name": "drawing.svg", "mimeType": "image/svg+xml", "buffer": b"<svg/>"},
                {
                    "name": "Mountain panorama.png",
                    "mimeType": "image/png",
                    "buffer": imagefiles.noise_png((700, 600)),
                },
            ]
        )
    )
    bar = page.get_by_role("progressbar", name="Upload of Mountain panorama.png")
    page.wait_for_function(
        "(bar) => Number(bar.getAttribute('aria-valuenow')) >= 25", arg=bar.element_handle()
    )
    keep(screenshot(page, "upload.png", clip={"x": 0, "y": 0, "width": 1280, "height": 640}))
    cdp.send(
        "Network.emulateNetworkConditions",
        {"offline": False, "latency": 0, "downloadThroughput": -1, "uploadThroughput": -1},
    )
    expect(page.get_by_role("img", name="Mountain panorama")).to_be_visible(timeout=30_000)

    watch.assert_clean()


def wait_for_images(page: Page) -> None:
    """Wait until every image on screen has loaded (lazy ones below the fold may not)."""
    page.wait_for_function(
        """() => [...document.images]
            .filter((img) => img.getClientRects().length)  // not hidden (the closed viewer)
            .filter((img) => img.getBoundingClientRect().top < innerHeight)
            .every((img) => img.complete && img.naturalWidth > 0)"""
    )
