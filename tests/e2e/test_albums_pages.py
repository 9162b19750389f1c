"""Albums, an album link with a password, and the trash in a real browser (screenshots)."""

from __future__ import annotations

from collections.abc import Callable

from playwright.sync_api import BrowserContext, expect

from e2e.browsing import DESKTOP, LiveServer, Watch, picture, screenshot, sign_in
from e2e.test_screenshots import wait_for_images

TITLES = ["Harbour at dawn", "Lisbon tram", "Night market", "Lavender field", "Blue hour", "Kayaks"]


def test_albums_link_and_trash(
    start_server: Callable[..., LiveServer],
    new_context: Callable[..., BrowserContext],
    watch: Watch,
) -> None:
    """Make an album, arrange it, share it with a password, open it as a visitor; trash."""
    server = start_server()
    http = server.sign_in_http("alice@example.com")
    made = [
        server.upload(http, picture(i, size=(480, 360), fmt="JPEG"), f"{title}.jpg")
        for i, title in enumerate(TITLES)
    ]
    ids = [image["id"] for image in made]
    api = f"{server.url}/api/v1"
    album = http.post(
        f"{api}/albums", json={"title": "Lisbon, May", "description": "Trams and tiles."}
    ).json()
    http.post(
        f"{api}/images/bulk",
        json={"action": "add_to_album", "album_id": album["id"], "image_ids": ids[:5]},
    )

    page = new_context(base_url=server.url, viewport=DESKTOP).new_page()
    sign_in(page, server.url, "alice@example.com")
    page.get_by_role("link", name="Albums").first.click()
    expect(page.get_by_role("heading", name="Lisbon, May")).to_be_visible()
    expect(page.get_by_text("5 photos")).to_be_visible()
    wait_for_images(page)
    screenshot(page, "albums.png")

    page.get_by_role("link", name="Lisbon, May").click()
    expect(page.locator(".album-grid .gallery-item")).to_have_count(5)
    # Keyboard-friendly reorder: move the second photo earlier.
    page.get_by_role("button", name=f"Move {TITLES[1]} earlier").click()
    expect(page.locator(".album-grid img").first).to_have_attribute("alt", TITLES[1])
    page.get_by_role("button", name=f"Make {TITLES[2]} the cover").click()
    wait_for_images(page)
    screenshot(page, "album.png")

    page.get_by_role("link", name="Share…").click()
    page.get_by_label("Password (optional)").fill("tiles and trams")
    page.get_by_role("button", name="Create link").click()
    link = page.locator("input[id^=album-link-]").first.input_value()
    screenshot(page, "album_share_admin.png")

    visitor = new_context(viewport=DESKTOP).new_page()
    watch.allow(401, r"/a/")
    visitor.goto(link)
    expect(visitor.get_by_role("heading", name="This link is protected")).to_be_visible()
    assert "tiles" not in visitor.url
    screenshot(visitor, "album_password.png")
    visitor.get_by_label("Password").fill("tiles and trams")
    visitor.get_by_role("button", name="Open").click()
    expect(visitor.locator("#gallery img")).to_have_count(5)
    assert "tiles" not in visitor.url
    wait_for_images(visitor)
    screenshot(visitor, "album_shared.png")

    # Trash one photo of the album from its image page: the visitor's grid loses it.
    page.goto(f"{server.url}/images/{ids[0]}")
    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name="Delete image").click()
    page.wait_for_url(f"{server.url}/")
    page.goto(f"{server.url}/trash")
    expect(page.get_by_text("still count against your storage")).to_be_visible()
    expect(page.locator(".gallery-item")).to_have_count(1)
    wait_for_images(page)
    screenshot(page, "trash.png")
    visitor.reload()
    expect(visitor.locator("#gallery img")).to_have_count(4)
    page.get_by_role("button", name=f"Restore {TITLES[0]}").click()
    expect(page.locator(".gallery-item")).to_have_count(0)
    watch.stop()
