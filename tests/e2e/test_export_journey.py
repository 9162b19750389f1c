"""Settings → "Take your photos with you" when the zip is prepared in the background.

The app runs in job mode with a 0 MB streaming limit, so any account prepares its
export; without ``export_job`` its own thread builds the zip for real. The second
part plays the Cloud Run job from outside the app, as ``picbucket exports build``
does in its own process: it writes progress into the same SQLite file, then runs
the same ``build_export``. Nothing is mocked.
"""

from __future__ import annotations

import hashlib
import json
import re
import zipfile
from collections.abc import Callable
from dataclasses import replace
from datetime import timedelta

from playwright.sync_api import BrowserContext, Locator, Page, expect

from e2e.browsing import LiveServer, Watch, api_upload, picture, screenshot, sign_in
from e2e.test_accessibility import axe_problems
from picbucket.domain import Export, ExportStatus, new_id, user_id_for
from picbucket.services.exports import ExportPolicy, build_export
from picbucket.wiring import build_backends

ALICE = "alice@example.com"
TITLES = ["Harbour at dawn", "Lisbon tram", "Night market"]
READY_LINK = re.compile(r"^Download \(3 photos, [\d.]+ [KM]B\)$")
# The thread builds three small photos in well under a second; the page polls every 2 s.
BUILD_TIMEOUT_MS = 30_000


def export_section(page: Page) -> Locator:
    """Return the settings page's export section (a labelled region)."""
    return page.get_by_role("region", name="Take your photos with you")


def shoot_section(page: Page, name: str) -> None:
    """Screenshot the export section with a little of the page around it."""
    section = export_section(page)
    section.scroll_into_view_if_needed()
    box = section.bounding_box()
    assert box is not None
    scrolled = page.evaluate("window.scrollY")
    pad = 16
    screenshot(
        page,
        name,
        full_page=True,
        clip={
            "x": max(box["x"] - pad, 0),
            "y": max(box["y"] + scrolled - pad, 0),
            "width": box["width"] + 2 * pad,
            "height": box["height"] + 2 * pad,
        },
    )


def test_prepare_follow_and_download_an_export(
    start_server: Callable[..., LiveServer],
    new_context: Callable[..., BrowserContext],
    watch: Watch,
) -> None:
    server = start_server(export_mode="job", export_stream_max_mb=0)
    page = new_context(base_url=server.url, reduced_motion="reduce").new_page()
    sign_in(page, server.url, ALICE)
    uploaded = {
        title: api_upload(page, server.url, picture(i), f"{title}.png")
        for i, title in enumerate(TITLES)
    }

    page.get_by_role("link", name="Settings").click()
    section = export_section(page)
    expect(section.get_by_role("link", name="Download everything (.zip)")).to_have_count(0)
    section.get_by_role("button", name="Prepare export").click()
    expect(page.get_by_role("status").filter(has_text="Preparing your export.")).to_be_visible()

    # In progress or, for three small photos, perhaps done already: the page follows
    # the export by itself until its download link shows.
    download_link = section.get_by_role("link", name=READY_LINK)
    expect(download_link).to_be_visible(timeout=BUILD_TIMEOUT_MS)
    expect(section).to_contain_text("Ready: your export is waiting for you.")
    expect(section).to_contain_text("Available until")
    assert axe_problems(page, "settings, export ready") == []
    shoot_section(page, "settings-export-ready.png")

    with page.expect_download() as waiting:
        download_link.click()
    download = waiting.value
    assert re.fullmatch(r"picbucket-export-\d{4}-\d{2}-\d{2}\.zip", download.suggested_filename)
    with zipfile.ZipFile(download.path()) as archive:
        assert archive.testzip() is None
        manifest = json.loads(archive.read("manifest.json"))
        assert sorted(photo["title"] for photo in manifest["photos"]) == sorted(TITLES)
        for photo in manifest["photos"]:
            data = archive.read(photo["file"])
            assert photo["id"] == uploaded[photo["title"]]["id"]
            assert hashlib.sha256(data).hexdigest() == photo["sha256"]
            assert data == picture(TITLES.index(photo["title"])), "the original, as uploaded"


def test_progress_updates_by_itself_until_the_job_is_done(
    start_server: Callable[..., LiveServer],
    new_context: Callable[..., BrowserContext],
    watch: Watch,
) -> None:
    server = start_server(export_mode="job", export_stream_max_mb=0)
    page = new_context(base_url=server.url, reduced_motion="reduce").new_page()
    sign_in(page, server.url, ALICE)
    # Dark, so axe checks the progress bar's colours in the other theme too.
    page.emulate_media(color_scheme="dark")
    for i, title in enumerate(TITLES):
        api_upload(page, server.url, picture(i), f"{title}.png")

    job_side = build_backends(server.settings)
    try:
        owner = user_id_for(server.issuer, ALICE)
        assert job_side.users.get(owner) is not None
        now = job_side.clock()
        # What the job has saved after its first photo (progress is saved as it goes).
        running = Export(
            id=new_id(),
            owner_id=owner,
            status=ExportStatus.RUNNING,
            created=now,
            updated=now,
            expires=now + timedelta(days=1),
            photos_total=3,
            photos_done=1,
            bytes_written=400_000,
        )
        job_side.exports.add(running)

        page.goto("/settings#export")
        expect(page.locator("html")).to_have_attribute("data-bs-theme", "dark")
        section = export_section(page)
        progress = section.get_by_role("progressbar", name=re.compile("^Preparing your export"))
        expect(progress).to_have_attribute("value", "1")
        expect(section).to_contain_text("Preparing your export: 1 of 3 photos, 391 KB so far")
        # With JavaScript the page updates itself: no "Refresh" link to press.
        expect(section.get_by_role("link", name="Refresh")).to_be_hidden()
        assert axe_problems(page, "settings, export in progress") == []
        shoot_section(page, "settings-export-progress-dark.png")

        page.evaluate("window.notReloaded = true")
        job_side.exports.save(
            replace(running, photos_done=2, bytes_written=800_000, updated=job_side.clock())
        )
        expect(section).to_contain_text("Preparing your export: 2 of 3 photos, 781 KB so far")
        expect(progress).to_have_attribute("value", "2")
        assert page.evaluate("window.notReloaded === true"), "updated in place, not reloaded"

        # The job finishes: exactly what `picbucket exports build OWNER EXPORT_ID` runs.
        finished = build_export(
            job_side, ExportPolicy.from_settings(server.settings), owner, running.id
        )
        assert finished.status is ExportStatus.READY
        download_link = section.get_by_role("link", name=READY_LINK)
        expect(download_link).to_have_attribute(
            "href", f"/settings/exports/{running.id}/download", timeout=BUILD_TIMEOUT_MS
        )
        # Screen readers hear that it is done (the page reloaded to show it).
        expect(page.locator("#announcer")).to_have_text("Ready: your export is waiting for you.")
    finally:
        job_side.close()
