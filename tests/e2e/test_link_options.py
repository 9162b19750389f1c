"""An image link with a password and a view limit, made on the image page in a browser."""

from __future__ import annotations

from collections.abc import Callable

from playwright.sync_api import BrowserContext, Page, expect

from e2e.browsing import PHONE, LiveServer, Watch, picture, screenshot, sign_in
from e2e.test_layout import no_sideways_scroll


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


def test_shared_links_page_adds_a_password_on_a_phone(
    live_server: LiveServer, new_context: Callable[..., BrowserContext], watch: Watch
) -> None:
    """Image and album links listed; a password added from the list, on a phone."""
    http = live_server.sign_in_http("alice@example.com")
    made = live_server.upload(http, picture(2, size=(640, 480), fmt="JPEG"), "Tram.jpg")
    api = f"{live_server.url}/api/v1"
    http.post(f"{api}/images/{made['id']}/shares", json={"expires": "7d"}, timeout=10)
    album = http.post(f"{api}/albums", json={"title": "Lisbon"}, timeout=10).json()
    http.post(f"{api}/albums/{album['id']}/shares", json={"max_views": 20}, timeout=10)

    phone = new_context(viewport=PHONE, has_touch=True, is_mobile=True).new_page()
    sign_in(phone, live_server.url, "alice@example.com")
    phone.goto(f"{live_server.url}/shares")
    rows = phone.locator(".shared-link")
    expect(rows).to_have_count(2)
    album_row = rows.filter(has_text="Lisbon")
    album_row.get_by_text("Add a password").tap()
    album_row.get_by_label("New password for the link to Lisbon").fill("pastel de nata")
    no_sideways_scroll(phone)
    screenshot(phone, "shared-links-password-phone.png")
    album_row.get_by_role("button", name="Set password").tap()
    expect(phone.get_by_role("status").filter(has_text="Password set")).to_be_visible()
    expect(rows.filter(has_text="Lisbon")).to_contain_text("Password")
    expect(rows.filter(has_text="Tram")).not_to_contain_text("Password")
    screenshot(phone, "shared-links-phone.png")
