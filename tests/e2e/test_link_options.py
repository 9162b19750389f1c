"""An image link with a password and a view limit, made on the image page in a browser."""

from __future__ import annotations

from collections.abc import Callable

from playwright.sync_api import BrowserContext, Page, expect

from e2e.browsing import LiveServer, Watch, picture, screenshot, sign_in


def test_image_link_with_password_and_view_limit(
    page: Page,
    live_server: LiveServer,
    new_context: Callable[..., BrowserContext],
    watch: Watch,
) -> None:
    """Set both options on the image page; a visitor types the password, once."""
    http = live_server.sign_in_http("alice@example.com")
    made = live_server.upload(http, picture(1, size=(640, 480), fmt="JPEG"), "Harbour.jpg")
    sign_in(page, live_server.url, "alice@example.com")
    page.goto(f"{live_server.url}/images/{made['id']}")

    page.get_by_text("Password and view limit").click()
    page.get_by_label("Password (optional)").fill("harbour lights")
    page.get_by_label("View limit (optional)").fill("1")
    screenshot(page, "image_link_options.png")
    page.get_by_role("button", name="Create link").click()
    link = page.get_by_label("Share link", exact=True).input_value()
    rows = page.locator("#share-list")
    expect(rows).to_contain_text("0 views of 1")
    expect(rows).to_contain_text("Password")

    visitor = new_context().new_page()
    watch.allow(401, r"/s/")
    watch.allow(404, r"/s/")
    visitor.goto(link)
    expect(visitor.get_by_role("heading", name="This link is protected")).to_be_visible()
    visitor.get_by_label("Password").fill("harbour lights")
    visitor.get_by_role("button", name="Open").click()
    expect(visitor.get_by_role("img", name="Harbour")).to_be_visible()
    visitor.reload()  # the one view allowed is used
    expect(visitor.get_by_role("img", name="Harbour")).to_have_count(0)
    watch.stop()
