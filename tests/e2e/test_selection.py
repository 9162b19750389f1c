"""Selecting many photos in the gallery and acting on them at once, in a real browser.

Click and shift-click, the keyboard, "Select all loaded"; add to an album, share as an
album link, download a zip, move to the trash and undo; one bulk request for 200 photos;
the phone layout; axe in both themes; a duplicate upload said as such.
"""

from __future__ import annotations

import re
import time
import zipfile
from collections.abc import Callable

import pytest
from playwright.sync_api import BrowserContext, FilePayload, Locator, Page, Request, Route, expect

from e2e.browsing import DESKTOP, PHONE, LiveServer, Watch, alts_become, picture, screenshot
from e2e.test_accessibility import axe_problems
from e2e.test_screenshots import wait_for_images
from e2e.test_viewer import ALICE, browser_page, gallery_of

# Taken one day apart, newest first in the grid: the order below is the grid's order.
PHOTOS = [
    ("Harbour at dawn", "2024:05:06 08:00:00"),
    ("Lisbon tram", "2024:05:05 08:00:00"),
    ("Night market", "2024:05:04 08:00:00"),
    ("Lavender field", "2024:05:03 08:00:00"),
    ("Blue hour", "2024:05:02 08:00:00"),
    ("Kayaks", "2024:05:01 08:00:00"),
]
TITLES = [title for title, _ in PHOTOS]


def check(page: Page, title: str) -> Locator:
    """Return the check of the tile showing ``title`` (its label names the photo)."""
    return page.get_by_role("button", name=re.compile(rf"^(Select|Selected:) {title}$"))


def selected_become(page: Page, titles: list[str]) -> None:
    """Wait until exactly ``titles`` are the selected tiles, in grid order."""
    alts_become(page.locator("#gallery li.is-selected img"), titles)


def bar(page: Page) -> Locator:
    """Return the selection bar (a labelled region)."""
    return page.get_by_role("region", name="Selected photos")


def visible_tiles(page: Page) -> Locator:
    """Return the tiles the grid shows (trashed ones are hidden until Undo)."""
    return page.locator("#gallery li.gallery-item:visible")


def select_first_three(page: Page) -> None:
    """Click the first tile's check, shift-click the third: three selected."""
    check(page, TITLES[0]).click()
    check(page, TITLES[2]).click(modifiers=["Shift"])
    expect(bar(page).get_by_role("status")).to_have_text("3 selected")
    selected_become(page, TITLES[:3])


def test_select_then_album_share_download_trash(
    start_server: Callable[..., LiveServer],
    new_context: Callable[..., BrowserContext],
    watch: Watch,
) -> None:
    """Three photos by click and shift-click go to a new album, a link, a zip, the trash."""
    server, made = gallery_of(start_server, PHOTOS)
    page = browser_page(new_context, server, viewport=DESKTOP)
    wait_for_images(page)
    expect(bar(page)).to_be_hidden()
    bulk_requests: list[Request] = []
    page.on("request", lambda r: bulk_requests.append(r) if r.url.endswith("/bulk") else None)

    # Add to a new album: the album page shows the three.
    select_first_three(page)
    expect(check(page, TITLES[1])).to_have_attribute("aria-pressed", "true")
    wait_for_images(page)
    screenshot(page, "gallery_selection.png")
    bar(page).get_by_role("button", name="Add to album").click()
    picker = page.get_by_role("dialog", name="Add 3 photos to an album")
    expect(picker.get_by_text("You have no albums yet.")).to_be_visible()
    picker.get_by_label("Or a new album").fill("Picked three")
    picker.get_by_role("button", name="Create").click()
    expect(page.get_by_text("Added 3 photos to “Picked three”.")).to_be_visible()
    expect(bar(page)).to_be_hidden()
    page.get_by_role("link", name="Open the album").click()
    expect(page.get_by_role("heading", name="Picked three")).to_be_visible()
    alts_become(page.locator(".album-grid img"), TITLES[:3], any_order=True)

    # An existing album is offered in the picker, with its count.
    page.goto("/")
    check(page, TITLES[3]).click()
    bar(page).get_by_role("button", name="Add to album").click()
    existing = page.get_by_role("button", name=re.compile(r"Picked three\s*3 photos"))
    expect(existing).to_be_visible()
    screenshot(page, "gallery_selection_picker.png")
    existing.click()
    expect(page.get_by_text("Added 1 photo to “Picked three”.")).to_be_visible()

    # Share as a new album link: the public page shows them to a visitor.
    # While selecting, a click on the photo itself selects it (the viewer stays shut).
    check(page, TITLES[0]).click()
    page.locator("#gallery .gallery-link").nth(2).click(modifiers=["Shift"])
    expect(page.locator("#viewer")).to_be_hidden()
    selected_become(page, TITLES[:3])
    bar(page).get_by_role("button", name="Share link").click()
    sharer = page.get_by_role("dialog", name="Share 3 photos as an album link")
    sharer.get_by_label("Album title").fill("For grandma")
    sharer.get_by_role("button", name="Create link").click()
    link = sharer.get_by_label("Anyone with this link can see these photos")
    expect(link).to_have_value(re.compile(r"^http://127\.0\.0\.1:\d+/a/"))
    expect(sharer.get_by_text("“For grandma” holds 3 photos.")).to_be_visible()
    sharer.get_by_role("button", name="Copy").click()
    expect(sharer.get_by_role("button", name="Copied!")).to_be_visible()
    screenshot(page, "gallery_selection_shared.png")
    url = link.input_value()
    sharer.get_by_role("button", name="Done").click()
    visitor = new_context(viewport=DESKTOP).new_page()
    visitor.goto(url)
    expect(visitor.locator("#gallery img")).to_have_count(3)
    alts_become(visitor.locator("#gallery img"), TITLES[:3], any_order=True)

    # Download: one zip of the three originals.
    select_first_three(page)
    with page.expect_download() as waiting:
        bar(page).get_by_role("button", name="Download").click()
    saved = waiting.value.path()
    with zipfile.ZipFile(saved) as archive:
        assert archive.testzip() is None
        names = archive.namelist()
    assert len(names) == 3
    assert sorted(n.rsplit(".", 1)[0] for n in names) == sorted(TITLES[:3])

    # Move to the trash, then Undo puts them back.
    bar(page).get_by_role("button", name="Move to trash").click()
    expect(page.get_by_text("3 photos moved to the trash.")).to_be_visible()
    expect(visible_tiles(page)).to_have_count(3)
    trash = page.request.get(f"{server.url}/api/v1/trash").json()
    assert sorted(item["title"] for item in trash["items"]) == sorted(TITLES[:3])
    screenshot(page, "gallery_selection_trashed.png")
    page.get_by_role("button", name="Undo").click()
    expect(page.get_by_text("3 photos restored.")).to_be_visible()
    expect(visible_tiles(page)).to_have_count(6)
    assert page.request.get(f"{server.url}/api/v1/trash").json()["items"] == []
    # Four actions (two adds, share, trash) and Undo: one request each.
    assert len(bulk_requests) == 5

    # Not selecting: a click on a photo opens the viewer, as before.
    page.locator("#gallery .gallery-link").first.click()
    expect(page.locator("#viewer")).to_be_visible()
    expect(page.locator("#viewer-title")).to_have_text(TITLES[0])
    expect(page).to_have_url(re.compile(re.escape(made[0]["id"])))


def focused(page: Page) -> str:
    """Return a short description of the focused element (label, or text)."""
    described: str = page.evaluate(
        """() => { const el = document.activeElement;
                   return el.getAttribute('aria-label') || el.querySelector('img')?.alt
                          || el.innerText.trim(); }"""
    )
    return described


def tab_to(page: Page, wanted: str, limit: int = 60) -> None:
    """Press Tab until the focused element is ``wanted`` (keyboard only, no clicks)."""
    for _ in range(limit):
        page.keyboard.press("Tab")
        if focused(page) == wanted:
            return
    raise AssertionError(f"Tab never reached {wanted!r} (stuck at {focused(page)!r})")


def test_keyboard_only_selection(
    start_server: Callable[..., LiveServer], new_context: Callable[..., BrowserContext]
) -> None:
    """Space toggles, arrows move, Shift+arrows and Shift+Space extend, Esc clears."""
    server, _ = gallery_of(start_server, PHOTOS)
    page = browser_page(new_context, server, viewport=DESKTOP)
    tab_to(page, TITLES[0])
    page.keyboard.press("Space")
    expect(bar(page).get_by_role("status")).to_have_text("1 selected")
    assert page.evaluate("scrollY") == 0  # Space selected; it did not scroll the page
    page.keyboard.press("ArrowRight")
    assert focused(page) == TITLES[1]
    page.keyboard.press("Shift+ArrowRight")
    assert focused(page) == TITLES[2]
    selected_become(page, TITLES[:3])
    page.keyboard.press("Space")  # the focused one off again
    selected_become(page, TITLES[:2])
    page.keyboard.press("ArrowRight")
    page.keyboard.press("ArrowRight")
    page.keyboard.press("Shift+Space")  # from the anchor (the third) to the fifth
    selected_become(page, TITLES[:5])
    expect(bar(page).get_by_role("status")).to_have_text("5 selected")
    page.keyboard.press("Escape")
    expect(bar(page)).to_be_hidden()
    selected_become(page, [])

    # The tile's check is a Tab stop of its own, named after the photo.
    page.locator("#gallery .gallery-link").first.focus()
    page.keyboard.press("Tab")
    assert focused(page) == f"Select {TITLES[0]}"
    page.keyboard.press("Enter")
    assert focused(page) == f"Selected: {TITLES[0]}"
    tab_to(page, "Select all loaded")
    page.keyboard.press("Enter")
    expect(bar(page).get_by_role("status")).to_have_text("6 selected")
    tab_to(page, "Move to trash")
    page.keyboard.press("Enter")
    expect(page.get_by_text("6 photos moved to the trash.")).to_be_visible()
    # Focus lands on Undo, so the keyboard can take it back at once.
    assert focused(page) == "Undo"
    page.keyboard.press("Enter")
    expect(visible_tiles(page)).to_have_count(6)

    # Not selecting: Enter on a tile opens the viewer.
    page.locator("#gallery .gallery-link").nth(1).focus()
    page.keyboard.press("Enter")
    expect(page.locator("#viewer-title")).to_have_text(TITLES[1])


def test_two_hundred_trashed_with_one_request(
    start_server: Callable[..., LiveServer],
    new_context: Callable[..., BrowserContext],
    watch: Watch,
) -> None:
    """Select all 200 loaded photos and trash them: exactly one bulk request."""
    # Lazy thumbnails still loading when their photos go to the trash answer 404 (the
    # tiles are already hidden): expected, and nothing a person sees.
    watch.allow(404, r"/i/[^/]+/thumb\.")
    server = start_server(page_size=200, rate_limit_upload="1000 per minute")
    http = server.sign_in_http(ALICE)
    for i in range(200):
        # Each a different size: identical pictures would be one photo (duplicates).
        server.upload(http, picture(i, size=(40 + i, 30)), f"Photo {i:03}.png")
    page = browser_page(new_context, server, viewport=DESKTOP)
    expect(page.locator("#gallery li.gallery-item")).to_have_count(200)
    expect(page.locator("#load-more")).to_have_count(0)
    requests: list[Request] = []
    page.on("request", lambda r: requests.append(r) if "/api/" in r.url else None)
    page.locator("#gallery .select-check").first.click()
    bar(page).get_by_role("button", name="Select all loaded").click()
    expect(bar(page).get_by_role("status")).to_have_text("200 selected")
    select_all = bar(page).get_by_role("button", name="Select all loaded")
    expect(select_all).to_have_attribute("aria-disabled", "true")
    bar(page).get_by_role("button", name="Move to trash").click()
    expect(page.get_by_text("200 photos moved to the trash.")).to_be_visible()
    expect(visible_tiles(page)).to_have_count(0)
    assert [r.url.split("/api/v1", 1)[1] for r in requests] == ["/images/bulk"]
    sent = requests[0].post_data_json
    assert sent is not None and sent["action"] == "trash" and len(sent["image_ids"]) == 200
    assert http.get(f"{server.url}/api/v1/images").json()["items"] == []


def test_phone_layout(
    start_server: Callable[..., LiveServer], new_context: Callable[..., BrowserContext]
) -> None:
    """On a 360 px phone the checks show, a tap selects, the bar fits with 44 px targets."""
    server, _ = gallery_of(start_server, PHOTOS)
    page = browser_page(new_context, server, viewport=PHONE, has_touch=True, is_mobile=True)
    wait_for_images(page)
    check(page, TITLES[0]).tap()
    check(page, TITLES[3]).tap()
    expect(bar(page).get_by_role("status")).to_have_text("2 selected")
    buttons = bar(page).get_by_role("button")
    for i in range(buttons.count()):
        box = buttons.nth(i).bounding_box()
        assert box is not None
        assert box["height"] >= 44 and box["width"] >= 44, buttons.nth(i).text_content()
        assert box["x"] >= 0 and box["x"] + box["width"] <= PHONE["width"]
    first = check(page, TITLES[0]).bounding_box()
    assert first is not None and first["width"] >= 44 and first["height"] >= 44
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    # Scrolled to the end, the last row is above the bar, not under it. (Instantly:
    # Bootstrap makes scrolling smooth, and a box read mid-scroll is not where it ends.)
    page.evaluate("scrollTo({top: document.body.scrollHeight, behavior: 'instant'})")
    last = page.locator("#gallery li.gallery-item").last.bounding_box()
    bar_box = bar(page).bounding_box()
    assert last is not None and bar_box is not None
    assert last["y"] + last["height"] <= bar_box["y"]
    page.evaluate("scrollTo({top: 0, behavior: 'instant'})")
    screenshot(page, "gallery_selection_phone.png")


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_selection_passes_axe(
    scheme: str, start_server: Callable[..., LiveServer], new_context: Callable[..., BrowserContext]
) -> None:
    """The bar, the checks, the album picker and the trash message: no serious problems."""
    server, _ = gallery_of(start_server, PHOTOS[:4])
    page = browser_page(
        new_context, server, viewport=DESKTOP, color_scheme=scheme, reduced_motion="reduce"
    )
    expect(page.locator("html")).to_have_attribute("data-bs-theme", scheme)
    wait_for_images(page)
    select_first_three(page)
    problems = axe_problems(page, f"selection bar, {scheme}")
    bar(page).get_by_role("button", name="Add to album").click()
    expect(page.get_by_text("You have no albums yet.")).to_be_visible()
    problems += axe_problems(page, f"album picker, {scheme}")
    page.keyboard.press("Escape")
    bar(page).get_by_role("button", name="Move to trash").click()
    expect(page.get_by_role("button", name="Undo")).to_be_visible()
    problems += axe_problems(page, f"trash message, {scheme}")
    screenshot(page, f"gallery_selection_{scheme}.png")
    assert problems == []


def test_duplicate_upload_is_said_not_added(
    start_server: Callable[..., LiveServer], new_context: Callable[..., BrowserContext]
) -> None:
    """The same picture uploaded again: the list says so and links to it; no new tile."""
    server = start_server()
    page = browser_page(new_context, server, viewport=DESKTOP)
    data = picture(1, fmt="JPEG")
    chooser: FilePayload = {"name": "sunset.jpg", "mimeType": "image/jpeg", "buffer": data}
    page.locator("#file-input").set_input_files([chooser])
    expect(page.locator("#upload-counts")).to_have_text("1 uploaded")
    expect(page.locator("#gallery li.gallery-item")).to_have_count(1)
    again: FilePayload = {"name": "sunset copy.jpg", "mimeType": "image/jpeg", "buffer": data}
    page.locator("#file-input").set_input_files([again])
    expect(page.locator("#upload-counts")).to_have_text("1 uploaded · 1 already in your library")
    said = page.get_by_role("link", name="Already in your library — not uploaded again")
    expect(said).to_be_visible()
    expect(page.locator("#gallery li.gallery-item")).to_have_count(1)
    expect(page.locator("#quota-images")).to_have_text("1 image")
    said.click()
    expect(page.locator("#viewer-title")).to_have_text("sunset")


def test_select_all_takes_what_is_loaded(
    start_server: Callable[..., LiveServer], new_context: Callable[..., BrowserContext]
) -> None:
    """ "Select all loaded" takes the page's photos; the next page's can be added after."""
    server, _ = gallery_of(start_server, PHOTOS, page_size=4)
    # The next page is held back until the first four are selected (the grid would
    # otherwise fetch it at once: the Load more button is in view).
    held: list[Route] = []
    context = new_context(base_url=server.url, viewport=DESKTOP)
    context.route(re.compile(r"/api/v1/images\?cursor="), lambda route: held.append(route))
    http = server.sign_in_http(ALICE)
    context.add_cookies(
        [{"name": c.name, "value": c.value or "", "url": server.url} for c in http.cookies]
    )
    page = context.new_page()
    page.goto("/")
    expect(page.locator("#gallery li.gallery-item")).to_have_count(4)
    check(page, TITLES[0]).click()
    select_all = bar(page).get_by_role("button", name="Select all loaded")
    select_all.click()
    expect(bar(page).get_by_role("status")).to_have_text("4 selected")
    expect(select_all).to_have_attribute("aria-disabled", "true")
    deadline = time.monotonic() + 20  # the grid asked for the next page as soon as it showed
    while not held and time.monotonic() < deadline:
        page.wait_for_timeout(50)
    assert len(held) == 1
    held[0].continue_()
    expect(page.locator("#gallery li.gallery-item")).to_have_count(6)
    expect(select_all).to_have_attribute("aria-disabled", "false")
    select_all.click()
    expect(bar(page).get_by_role("status")).to_have_text("6 selected")
    selected_become(page, TITLES)
