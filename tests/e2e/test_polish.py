"""The details people expect: guidance, quota, endless gallery, copy buttons, kind errors."""

from __future__ import annotations

import re
import time
from collections.abc import Callable

from playwright.sync_api import BrowserContext, FilePayload, Locator, Page, expect

from e2e.browsing import LiveServer, Watch, alts_become, api_upload, picture, sign_in

ALICE = "alice@example.com"


def thumbnails(page: Page) -> list[str]:
    """Return the gallery's image titles, in page order."""
    titles: list[str] = page.locator("#gallery img").evaluate_all(
        "(imgs) => imgs.map((i) => i.alt)"
    )
    return titles


def server_with_photos(start_server: Callable[..., LiveServer], count: int) -> LiveServer:
    """Start an app with four images a page, where alice already has ``count`` photos."""
    server = start_server(page_size=4)
    http = server.sign_in_http(ALICE)
    for i in range(count):
        server.upload(http, picture(i, size=(160, 120)), f"photo {i}.png")
    return server


def test_empty_gallery_explains_what_to_do(
    page: Page, live_server: LiveServer, watch: Watch
) -> None:
    sign_in(page, live_server.url, ALICE)
    empty = page.locator("#gallery-empty")
    expect(empty).to_contain_text("No images yet")
    expect(empty).to_contain_text("Drag a picture onto this page")
    expect(empty).to_contain_text("Choose images…")
    expect(empty).to_contain_text("Only you can see your images until you create a share link.")
    expect(
        page.get_by_text("JPEG, PNG, GIF, WebP, AVIF or HEIC (iPhone), up to 25.0 MB each.")
    ).to_be_visible()
    watch.assert_clean()


def test_quota_shows_what_is_left_and_updates_after_upload(
    start_server: Callable[..., LiveServer],
    new_context: Callable[..., BrowserContext],
    watch: Watch,
) -> None:
    server = start_server(quota_mb=1)
    page = new_context(base_url=server.url).new_page()
    sign_in(page, server.url, ALICE)
    quota = page.locator("#quota")
    expect(quota).to_have_text("0 B of 1.0 MB used · 1.0 MB left · 0 images")

    data = picture(0, size=(640, 480))
    page.locator("#file-input").set_input_files(
        {"name": "one.png", "mimeType": "image/png", "buffer": data}
    )
    expect(page.get_by_role("img", name="one", exact=True)).to_be_visible()
    expect(page.locator("#quota-images")).to_have_text("1 image")
    expect(page.locator("#quota-used")).not_to_have_text("0 B")
    shown_left = page.locator("#quota-remaining").inner_text()
    assert shown_left != "1.0 MB"
    page.reload()  # the server agrees with what the page showed
    expect(page.locator("#quota-remaining")).to_have_text(shown_left)
    watch.assert_clean()


def test_scrolling_loads_every_page(
    start_server: Callable[..., LiveServer],
    new_context: Callable[..., BrowserContext],
    watch: Watch,
) -> None:
    """Ten images, four per page: scrolling down brings in all ten, once each, in order."""
    server = server_with_photos(start_server, 10)

    page = new_context(base_url=server.url, viewport={"width": 1280, "height": 500}).new_page()
    pages_fetched: list[str] = []
    page.on(
        "request",
        lambda r: pages_fetched.append(r.url) if "/api/v1/images?cursor=" in r.url else None,
    )
    sign_in(page, server.url, ALICE)
    assert thumbnails(page)[:4] == ["photo 9", "photo 8", "photo 7", "photo 6"]
    # Keep scrolling until all ten are in (by the clock, not a count of turns: on a busy
    # machine a page can arrive after the last turn, with "Load more" out of reach).
    deadline = time.monotonic() + 20
    while len(thumbnails(page)) < 10 and time.monotonic() < deadline:
        page.mouse.wheel(0, 2000)
        page.wait_for_timeout(150)
    expect(page.locator("#gallery img")).to_have_count(10)
    assert thumbnails(page) == [f"photo {i}" for i in range(9, -1, -1)]
    expect(page.get_by_role("link", name="Load more")).to_have_count(0)
    assert len(pages_fetched) == 2, pages_fetched
    watch.assert_clean()


def test_load_more_button_without_intersection_observer(
    start_server: Callable[..., LiveServer],
    new_context: Callable[..., BrowserContext],
    watch: Watch,
) -> None:
    """Where IntersectionObserver is missing, the plain "Load more" button does the job."""
    server = server_with_photos(start_server, 6)
    context = new_context(base_url=server.url)
    context.add_init_script("delete window.IntersectionObserver;")
    page = context.new_page()
    sign_in(page, server.url, ALICE)
    expect(page.locator("#gallery img")).to_have_count(4)
    page.get_by_role("link", name="Load more").click()
    expect(page.locator("#gallery img")).to_have_count(6)
    expect(page).to_have_url(server.url + "/")  # loaded in place, no navigation
    expect(page.get_by_role("link", name="Load more")).to_have_count(0)
    watch.assert_clean()


def test_works_without_javascript(
    start_server: Callable[..., LiveServer],
    new_context: Callable[..., BrowserContext],
    watch: Watch,
) -> None:
    """No script: a plain file field and Upload button, and "Load more" as a link."""
    server = server_with_photos(start_server, 5)
    page = new_context(base_url=server.url, java_script_enabled=False).new_page()
    sign_in(page, server.url, ALICE)
    expect(page.get_by_role("button", name="Choose images…")).to_be_hidden()
    page.get_by_label("Images to upload").set_input_files(
        {"name": "plain form.png", "mimeType": "image/png", "buffer": picture(5)}
    )
    page.get_by_role("button", name="Upload", exact=True).click()
    expect(page.get_by_role("status").filter(has_text="Uploaded plain form.")).to_be_visible()
    alts_become(page.locator("#gallery img"), ["plain form", "photo 4", "photo 3", "photo 2"])
    page.get_by_role("link", name="Load more").click()
    expect(page).to_have_url(re.compile(r"\?cursor="))
    alts_become(page.locator("#gallery img"), ["photo 1", "photo 0"])
    watch.assert_clean()


def test_copy_buttons_confirm_and_fill_the_clipboard(
    page: Page, live_server: LiveServer, watch: Watch
) -> None:
    """Page link, image link, share link, direct image, Markdown and HTML: each copies."""
    page.context.grant_permissions(["clipboard-read", "clipboard-write"], origin=live_server.url)
    sign_in(page, live_server.url, ALICE)
    made = api_upload(page, live_server.url, picture(2), "copy me.png")
    page.goto(made["page_url"])

    def copies(button: Locator, expected: str) -> None:
        label = button.inner_text()
        button.click()
        expect(button).to_have_text("Copied!")
        assert page.evaluate("navigator.clipboard.readText()") == expected, label
        expect(page.locator("#announcer")).to_have_text("Copied to the clipboard.")

    # Located by what they copy: their names change to "Copied!" for a moment.
    page_link = page.locator(f'button[data-copy="{made["page_url"]}"]')
    expect(page_link).to_have_text("Copy page link (private)")
    copies(page_link, made["page_url"])
    copies(page.locator(f'button[data-copy="{made["image_url"]}"]'), made["image_url"])
    expect(page_link).to_have_text("Copy page link (private)")  # the confirmation goes away

    page.get_by_role("button", name="Create link").click()
    created = page.get_by_role("status").filter(has_text="Link created")
    for label in ("Share link", "Direct image", "Markdown", "HTML"):
        field = created.get_by_label(label)
        copies(field.locator("xpath=..").get_by_role("button"), field.input_value())
    markdown = created.get_by_label("Markdown").input_value()
    html = created.get_by_label("HTML").input_value()
    direct = created.get_by_label("Direct image").input_value()
    assert markdown == f"![copy me]({direct})"
    assert html.startswith(f'<img src="{direct}"')
    watch.assert_clean()


def test_error_pages_are_written_for_people(
    page: Page, live_server: LiveServer, watch: Watch
) -> None:
    """404 and a stale form: a page that looks like the app, says what to do, no traceback."""
    watch.allow(404, r"/images/nope$")
    page.goto("/images/nope")  # signed out: sign in first, then the 404
    page.locator("input[name=sub]").fill(ALICE)
    page.get_by_role("button", name="Authorize").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Not found")
    expect(page.get_by_role("main")).to_contain_text("No such image.")
    expect(page.get_by_role("main")).to_contain_text("Check the address.")
    expect(page.get_by_role("link", name="Go to the gallery")).to_be_visible()
    expect(page.get_by_role("navigation", name="Main")).to_be_visible()

    made = api_upload(page, live_server.url, picture(3), "stale.png")
    page.goto(made["page_url"])
    # A form whose CSRF token went stale (say, after signing out in another tab).
    page.locator("form:has(#title) input[name=csrf_token]").evaluate("(i) => i.value = 'stale'")
    watch.allow(400, r"/title$")
    page.get_by_role("button", name="Rename").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Bad request")
    expect(page.get_by_role("main")).to_contain_text(
        "Your form expired or came from another site. Reload the page and try again."
    )
    body = page.locator("body").inner_text()
    assert "Traceback" not in body and "Werkzeug" not in body
    watch.assert_clean()


def test_many_files_upload_a_few_at_a_time(
    page: Page, live_server: LiveServer, watch: Watch
) -> None:
    """Eight files at once: at most three requests are in flight, and all eight arrive."""
    page.add_init_script(
        """
        window.uploadPeak = 0;
        let inFlight = 0;
        const open = XMLHttpRequest.prototype.open;
        const send = XMLHttpRequest.prototype.send;
        // Listeners added in open() run before the page's own, so a finished
        // request is counted out before the page starts the next one.
        XMLHttpRequest.prototype.open = function (...args) {
          for (const done of ["load", "error", "abort"]) {
            this.addEventListener(done, () => { inFlight -= 1; });
          }
          return open.apply(this, args);
        };
        XMLHttpRequest.prototype.send = function (body) {
          inFlight += 1;
          window.uploadPeak = Math.max(window.uploadPeak, inFlight);
          return send.call(this, body);
        };
        """
    )
    sign_in(page, live_server.url, ALICE)
    files: list[FilePayload] = [
        {"name": f"batch {i}.png", "mimeType": "image/png", "buffer": picture(i, size=(120, 90))}
        for i in range(8)
    ]
    page.locator("#file-input").set_input_files(files)
    expect(page.locator("#gallery img")).to_have_count(8)
    expect(page.locator(".upload-row .upload-status", has_text="Uploaded")).to_have_count(8)
    assert page.evaluate("window.uploadPeak") == 3
    watch.assert_clean()
