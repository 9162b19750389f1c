"""Issue 11 defects in Chromium: copy buttons that copy what they say, links that can be
copied again, reload-safe forms, and signing out one device or all of them."""

from __future__ import annotations

import re
import time
from collections.abc import Callable

from playwright.sync_api import BrowserContext, Locator, Page, expect

from e2e.browsing import PHONE, LiveServer, Watch, api_upload, picture, screenshot, sign_in
from e2e.test_accessibility import axe_problems
from e2e.test_layout import big_enough, no_sideways_scroll

ALICE = "alice@example.com"


def _clipboard(page: Page) -> str:
    text: str = page.evaluate("navigator.clipboard.readText()")
    return text


def _copies(page: Page, button: Locator, expected: str, timeout: float = 10.0) -> None:
    """Click a copy button; wait until the clipboard holds ``expected`` (fails with both).

    The page writes the clipboard asynchronously, after the click has returned; the
    clipboard is emptied first, so the text read is this copy's, not an earlier one's.
    """
    page.evaluate("navigator.clipboard.writeText('')")
    button.click()
    deadline = time.monotonic() + timeout
    while (copied := _clipboard(page)) != expected and time.monotonic() < deadline:
        time.sleep(0.05)
    assert copied == expected


def test_share_links_are_copied_from_the_image_page_and_the_shared_links_page(
    new_context: Callable[..., BrowserContext], live_server: LiveServer, watch: Watch
) -> None:
    context = new_context(base_url=live_server.url)
    context.grant_permissions(["clipboard-read", "clipboard-write"], origin=live_server.url)
    page = context.new_page()
    # The stand-in provider's box says "Email" (it used to say "sub").
    page.goto("/")
    page.get_by_role("link", name="Sign in").first.click()
    page.get_by_label("Email").fill(ALICE)
    page.get_by_role("button", name="Authorize").click()
    page.wait_for_url(f"{live_server.url}/")
    made = api_upload(page, live_server.url, picture(1), "lighthouse.png")
    page.goto(made["page_url"])

    # Before any share link: only private links, and they say so.
    private = page.get_by_role("button", name="Copy page link (private)")
    expect(private).to_be_visible()
    expect(page.locator("#private-note")).to_contain_text("only for you, signed in")
    expect(page.get_by_role("button", name="Copy share link")).to_have_count(0)

    # Create link: the browser lands on a GET of the image page (reload-safe).
    page.get_by_role("button", name="Create link").click()
    page.wait_for_url(f"{made['page_url']}#new-share")
    expect(page.get_by_role("status").filter(has_text="Link created")).to_be_visible()
    share_url = page.get_by_label("Share link").input_value()
    page.reload()
    expect(page.locator("#new-share")).to_have_count(0)
    expect(page.locator("#share-list li")).to_have_count(1)  # the reload made no second link

    screenshot(page, "defects-image-links.png", full_page=True)
    _copies(page, page.get_by_role("button", name="Copy share link"), share_url)
    _copies(page, page.locator("#share-list").get_by_role("button", name="Copy"), share_url)

    # A visitor opens it twice; the owner's "Shared links" page counts both.
    visitor = new_context(timezone_id="America/New_York").new_page()
    for _ in range(2):
        visitor.goto(share_url)
    expiry = visitor.locator("#share-expiry time")
    expect(expiry).to_be_visible()
    # Local time (New York), with the server's UTC text kept as the tooltip.
    expect(expiry).not_to_contain_text("UTC")
    expect(expiry).to_have_attribute("title", re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d UTC$"))

    page.get_by_role("navigation", name="Main").get_by_role("link", name="Shared links").click()
    row = page.locator(".shared-link").filter(has_text="lighthouse")
    expect(row).to_contain_text("2 views")
    assert not axe_problems(page, "shared links")
    screenshot(page, "defects-shared-links.png")
    _copies(page, row.get_by_role("button", name="Copy link"), share_url)

    # On a phone the list and its buttons fit, with 44 px targets.
    signed_in = context.storage_state()
    phone = new_context(
        viewport=PHONE, has_touch=True, is_mobile=True, storage_state=signed_in
    ).new_page()
    phone.goto(f"{live_server.url}/shares")
    no_sideways_scroll(phone)
    for name in ("Copy link", "Revoke"):
        big_enough(phone.locator(".shared-link").get_by_role("button", name=name), name)
    screenshot(phone, "defects-shared-links-phone.png")

    # Revoke from the list: confirmed, gone from the list, dead for the visitor.
    page.once("dialog", lambda dialog: dialog.accept())
    row.get_by_role("button", name="Revoke").click()
    page.wait_for_url(f"{live_server.url}/shares")
    expect(page.locator("#no-shared-links")).to_be_visible()
    watch.allow(404, r"/s/")
    assert visitor.goto(share_url).status == 404  # type: ignore[union-attr]


def test_whitespace_title_is_shown_beside_the_field(
    page: Page, live_server: LiveServer, watch: Watch
) -> None:
    watch.allow(400, r"/title$")  # the page with the message is answered 400, as it should
    sign_in(page, live_server.url, ALICE)
    made = api_upload(page, live_server.url, picture(2), "cliffs.png")
    page.goto(made["page_url"])
    page.get_by_label("Title", exact=True).fill("   ")
    page.get_by_role("button", name="Rename").click()
    expect(page.locator("#title-error")).to_have_text(
        "A title needs at least one visible character."
    )
    expect(page.get_by_label("Title", exact=True)).to_have_attribute("aria-invalid", "true")
    expect(page.get_by_role("heading", level=1)).to_have_text("cliffs")  # still the image page
    assert not axe_problems(page, "title error")
    screenshot(page, "defects-title-error.png")


def test_sign_out_here_or_everywhere(
    new_context: Callable[..., BrowserContext], live_server: LiveServer
) -> None:
    laptop = new_context(base_url=live_server.url).new_page()
    phone = new_context(base_url=live_server.url).new_page()
    tablet = new_context(base_url=live_server.url).new_page()
    for device in (laptop, phone, tablet):
        sign_in(device, live_server.url, ALICE)

    # "Sign out" ends the tablet's session only.
    tablet.get_by_role("button", name="Sign out").click()
    expect(
        tablet.get_by_role("status").filter(has_text="signed out on this device")
    ).to_be_visible()
    phone.reload()
    expect(phone.get_by_role("button", name="Sign out", exact=True)).to_be_visible()

    # "Sign out everywhere" (in Settings) ends the phone's too, and the phone is told why.
    laptop.get_by_role("link", name="Settings").click()
    screenshot(laptop, "defects-settings.png", full_page=True)
    laptop.once("dialog", lambda dialog: dialog.accept())
    laptop.get_by_role("button", name="Sign out everywhere").click()
    expect(laptop.get_by_role("status").filter(has_text="every device")).to_be_visible()
    phone.get_by_role("link", name="Settings").click()
    phone.wait_for_url(f"{live_server.url}/")
    expect(phone.locator(".alert")).to_have_text(
        "You were signed out because “Sign out everywhere” was chosen on another device. "
        "Sign in again to continue."
    )
    screenshot(phone, "defects-signed-out-elsewhere.png")
    # Signing in again works at once, and ends on the page the phone asked for.
    phone.get_by_role("link", name="Sign in").first.click()
    phone.get_by_label("Email").fill(ALICE)
    phone.get_by_role("button", name="Authorize").click()
    phone.wait_for_url(f"{live_server.url}/settings")
    expect(phone.get_by_role("button", name="Sign out", exact=True)).to_be_visible()
