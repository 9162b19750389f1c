"""Layout: phones to wide screens, touch targets, and dark mode that follows the system."""

from __future__ import annotations

import re
from collections.abc import Callable

from playwright.sync_api import BrowserContext, Locator, Page, expect

from e2e.browsing import DESKTOP, PHONE, LiveServer, Watch, api_upload, picture, sign_in

ALICE = "alice@example.com"
TOUCH = 44  # CSS px: WCAG 2.5.5 and Apple's and Google's guidance for touch targets


def columns(page: Page) -> int:
    """Return how many columns the gallery grid lays out right now."""
    tracks: str = page.locator("#gallery ul.gallery").first.evaluate(
        "(el) => getComputedStyle(el).gridTemplateColumns"
    )
    return len(tracks.split())


def tops(page: Page) -> list[float]:
    """Return the distinct row positions of the gallery tiles."""
    ys = page.locator("#gallery li").evaluate_all(
        "(items) => items.map((i) => Math.round(i.getBoundingClientRect().top))"
    )
    return sorted(set(ys))


def no_sideways_scroll(page: Page) -> None:
    width = page.evaluate("document.documentElement.scrollWidth")
    viewport = page.viewport_size
    assert viewport is not None
    assert width <= viewport["width"], f"{page.url} scrolls sideways: {width}px wide"


def big_enough(target: Locator, what: str) -> None:
    box = target.bounding_box()
    assert box is not None, f"{what} is not on screen"
    assert box["width"] >= TOUCH and box["height"] >= TOUCH, f"{what} is only {box}"


def test_gallery_reflows_from_phone_to_wide(
    page: Page, live_server: LiveServer, watch: Watch
) -> None:
    """Three columns on a 360 px phone, six at 1280 px, more on a wide screen; no sideways scroll."""
    sign_in(page, live_server.url, ALICE)
    for i in range(6):
        api_upload(page, live_server.url, picture(i), f"tile {i}.png")
    page.reload()

    seen = {}
    for width, height in ((360, 740), (768, 1024), (1280, 800), (1920, 1080)):
        page.set_viewport_size({"width": width, "height": height})
        seen[width] = columns(page)
        no_sideways_scroll(page)
    assert seen[360] == 3, seen
    assert seen[1280] == 6, seen
    assert seen[360] < seen[768] < seen[1280] <= seen[1920], seen

    page.set_viewport_size(PHONE)
    assert len(tops(page)) == 2  # six tiles, three per row
    page.set_viewport_size(DESKTOP)
    assert len(tops(page)) == 1  # six in one row
    watch.assert_clean()


def test_touch_targets_on_a_phone(
    new_context: Callable[..., BrowserContext], live_server: LiveServer, watch: Watch
) -> None:
    """Upload button, navigation, tiles, Load more and image actions are >= 44x44 px."""
    context = new_context(base_url=live_server.url, viewport=PHONE, has_touch=True, is_mobile=True)
    page = context.new_page()
    sign_in(page, live_server.url, ALICE)
    api_upload(page, live_server.url, picture(0), "tap me.png")
    page.reload()

    big_enough(page.get_by_role("button", name="Choose images…"), "Choose images…")
    nav = page.get_by_role("navigation", name="Main")
    for name in ("Gallery", "Settings"):
        big_enough(nav.get_by_role("link", name=name), f"nav link {name}")
    big_enough(nav.get_by_role("button", name="Sign out"), "Sign out")
    big_enough(page.get_by_role("link", name="tap me"), "gallery tile")
    no_sideways_scroll(page)

    page.get_by_role("link", name="tap me").tap()
    viewer = page.get_by_role("dialog", name="tap me")
    for name in ("Close (Esc)", "100 %", "Delete"):
        big_enough(viewer.get_by_role("button", name=name), f"viewer {name}")
    for name in ("Download", "Share…", "Details"):
        big_enough(viewer.get_by_role("link", name=name), f"viewer {name}")
    viewer.get_by_role("link", name="Details").tap()
    expect(page.get_by_role("heading", level=1)).to_have_text("tap me")
    page.wait_for_load_state()  # sizes with the stylesheets applied, not mid-load
    for name in ("Rename", "Copy page link", "Copy image link", "Create link", "Delete image"):
        big_enough(page.get_by_role("button", name=name), name)
    big_enough(page.get_by_label("Title", exact=True), "Title field")
    big_enough(page.get_by_label("Link works for"), "expiry choice")
    no_sideways_scroll(page)

    page.get_by_role("link", name="Settings").tap()  # a tap does not wait for the page
    expect(page).to_have_url(re.compile(r"/settings$"))
    page.wait_for_load_state()
    for name in ("Create token", "Download picbucket.sxcu"):
        big_enough(page.get_by_role("button", name=name), name)
    no_sideways_scroll(page)
    watch.assert_clean()


def test_dark_mode_follows_the_system(page: Page, live_server: LiveServer, watch: Watch) -> None:
    """The theme is the system's, at load and when the system setting changes."""

    def background_luminance() -> float:
        # Relative luminance (0 black … 1 white) of the page's computed background.
        return float(
            page.evaluate(
                """() => {
            const [r, g, b] = getComputedStyle(document.body).backgroundColor
              .match(/\\d+/g).slice(0, 3).map((v) => {
                const c = Number(v) / 255;
                return c <= 0.03928 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4;
              });
            return 0.2126 * r + 0.7152 * g + 0.0722 * b;
        }"""
            )
        )

    html = page.locator("html")
    page.emulate_media(color_scheme="dark")
    page.goto("/")
    expect(html).to_have_attribute("data-bs-theme", "dark")
    assert background_luminance() < 0.05

    page.emulate_media(color_scheme="light")
    expect(html).to_have_attribute("data-bs-theme", "light")
    assert background_luminance() > 0.9

    sign_in(page, live_server.url, ALICE)
    page.emulate_media(color_scheme="dark")
    expect(html).to_have_attribute("data-bs-theme", "dark")
    assert background_luminance() < 0.05
    # Text stays readable: the body text colour is light on the dark page.
    text = page.evaluate("getComputedStyle(document.body).color")
    assert text != "rgb(33, 37, 41)", text
    watch.assert_clean()
