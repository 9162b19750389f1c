"""Accessibility: axe-core on every page in both themes; keyboard-only use; visible focus.

axe-core comes bundled with axe-playwright-python (``axe.min.js`` inside the
package) and is injected into the page by Playwright: nothing is fetched from the
network, and the page's CSP does not apply to the injection.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import pytest
from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import BrowserContext, FilePayload, Page, expect

from e2e.browsing import LiveServer, Watch, api_upload, picture, sign_in

ALICE = "alice@example.com"
BLOCKING = ("serious", "critical")
_axe = Axe()


def axe_problems(page: Page, what: str) -> list[str]:
    """Run axe-core on the page; return its serious and critical violations, readably.

    After a click that navigates, the new document has committed but may still be
    parsing (or waiting for its stylesheets): axe waits for it to load first.
    """
    page.wait_for_load_state()
    results = _axe.run(page)
    found = []
    for violation in results.response["violations"]:
        if violation["impact"] in BLOCKING:
            targets = "; ".join(
                f"{', '.join(map(str, node['target']))}: {node.get('failureSummary', '')}"
                for node in violation["nodes"][:5]
            )
            found.append(
                f"[{what}] {violation['id']} ({violation['impact']}): {violation['help']} → {targets}"
            )
    return found


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_every_page_passes_axe(
    scheme: str,
    start_server: Callable[..., LiveServer],
    new_context: Callable[..., BrowserContext],
    watch: Watch,
) -> None:
    """Landing, gallery (empty, full, uploading), image, share, settings, 404, refusal."""
    server = start_server(allowed_emails=(ALICE,))
    problems: list[str] = []
    # Reduced motion: axe must see colours at rest, not halfway through a transition.
    options = {"base_url": server.url, "color_scheme": scheme, "reduced_motion": "reduce"}
    visitor = new_context(**options).new_page()
    page = new_context(**options).new_page()

    def check(target: Page, what: str) -> None:
        expect(target.locator("html")).to_have_attribute("data-bs-theme", scheme)
        problems.extend(axe_problems(target, f"{what}, {scheme}"))

    visitor.goto("/")
    check(visitor, "landing")
    watch.allow(404, r"/no-such-page$")
    visitor.goto("/no-such-page")
    expect(visitor.get_by_role("heading", level=1)).to_have_text("Not found")
    check(visitor, "404 page")
    # An address the allow-list does not know: the refusal page.
    watch.allow(403, r"/auth/callback")
    visitor.goto("/login")
    visitor.locator("input[name=sub]").fill("mallory@example.net")
    visitor.get_by_role("button", name="Authorize").click()
    expect(visitor.get_by_role("heading", level=1)).to_have_text("Sign-in not completed")
    check(visitor, "sign-in refused")

    sign_in(page, server.url, ALICE)
    expect(page.get_by_text("No images yet")).to_be_visible()
    check(page, "empty gallery")

    for i in range(5):
        api_upload(page, server.url, picture(i), f"holiday {i}.png")
    page.reload()
    # One browser upload that worked and one that was refused, so their rows are checked too.
    page.locator("#file-input").set_input_files(
        list[FilePayload](
            [
                {"name": "new.png", "mimeType": "image/png", "buffer": picture(5)},
                {"name": "drawing.svg", "mimeType": "image/svg+xml", "buffer": b"<svg/>"},
            ]
        )
    )
    expect(page.get_by_role("list", name="Uploads")).to_contain_text("Uploaded")
    check(page, "full gallery with uploads")

    page.get_by_role("link", name="holiday 2").click()
    check(page, "viewer")
    page.get_by_role("dialog").get_by_role("link", name="Details").click()  # the viewer opens first
    check(page, "image page")
    page.get_by_role("button", name="Create link").click()
    share_url = page.get_by_label("Share link").input_value()
    page.get_by_role("button", name="Copy").first.click()
    check(page, "image page with a new link")

    visitor.goto(share_url)
    expect(visitor.get_by_role("img", name="holiday 2")).to_be_visible()
    check(visitor, "share page")

    page.get_by_role("link", name="Settings").click()
    check(page, "settings")
    page.get_by_label("Token name").fill("laptop")
    page.get_by_role("button", name="Create token").click()
    check(page, "settings with a new token")

    assert not problems, "axe-core found serious or critical problems:\n" + "\n".join(problems)
    watch.assert_clean()


def focused(page: Page) -> dict[str, Any]:
    """Describe the focused element: its accessible-ish name and its focus outline."""
    return dict(
        page.evaluate(
            """() => {
        const el = document.activeElement;
        const style = getComputedStyle(el);
        const box = el.getBoundingClientRect();
        return {
          name: (el.getAttribute('aria-label') || el.labels?.[0]?.innerText || el.innerText
                 || el.querySelector('img')?.alt || '').trim(),
          tag: el.tagName.toLowerCase(),
          focusVisible: el.matches(':focus-visible'),
          outlineStyle: style.outlineStyle,
          outlineWidth: parseFloat(style.outlineWidth),
          visible: box.width > 0 && box.height > 0,
        };
    }"""
        )
    )


def tab_to(page: Page, name: str, limit: int = 40) -> list[str]:
    """Press Tab until the element named ``name`` has focus; return the names passed."""
    seen = []
    for _ in range(limit):
        page.keyboard.press("Tab")
        now = focused(page)
        seen.append(now["name"])
        assert now["visible"], f"focus went to something invisible: {now}"
        assert now["focusVisible"] and now["outlineStyle"] != "none", f"no focus ring: {now}"
        assert now["outlineWidth"] >= 2, f"focus ring too thin: {now}"
        if now["name"] == name:
            return seen
    raise AssertionError(f"Tab never reached {name!r}; focus went through {seen}")


def test_keyboard_only_upload_and_navigation(
    page: Page, live_server: LiveServer, watch: Watch
) -> None:
    """Tab to "Choose images…", open the picker with the keyboard, Tab through the gallery."""
    sign_in(page, live_server.url, ALICE)
    api_upload(page, live_server.url, picture(0), "first.png")
    page.reload()

    # The skip link is the first stop and becomes visible when focused.
    page.keyboard.press("Tab")
    skip = page.get_by_role("link", name="Skip to content")
    expect(skip).to_be_focused()
    expect(skip).to_be_visible()
    order = tab_to(page, "Choose images…")
    assert order == [
        "Picbucket",
        "Gallery",
        "Albums",
        "Shared links",
        "Settings",
        "Sign out",
        "Trash",
        "Choose images…",
    ]

    # Space activates the focused button, which opens the system file picker. (Enter
    # does too for people, but headless Chromium opens no chooser for an Enter press,
    # not even on a native <input type=file>, so the test uses Space.)
    with page.expect_file_chooser() as chooser_info:
        page.keyboard.press(" ")
    chooser = chooser_info.value
    assert chooser.is_multiple()
    chooser.set_files(
        list[FilePayload]([{"name": "keyed.png", "mimeType": "image/png", "buffer": picture(1)}])
    )
    expect(page.get_by_role("img", name="keyed", exact=True)).to_be_visible()
    expect(page.get_by_role("button", name="Choose images…")).to_be_focused()

    # On through the gallery, newest first, every stop with a visible focus ring.
    assert tab_to(page, "keyed")[-1] == "keyed"
    # Each tile has its own select check before the link that opens the viewer.
    assert tab_to(page, "first") == ["Select keyed", "first"]
    page.keyboard.press("Enter")
    # The viewer opens, focus on its Close button; its Details link is the image page.
    viewer = page.get_by_role("dialog", name="first")
    expect(viewer.get_by_role("button", name="Close (Esc)")).to_be_focused()
    tab_to(page, "Details")
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", level=1)).to_have_text("first")
    expect(page).to_have_url(re.compile(r"/images/"))
    page.wait_for_load_state()  # Tab only walks what has been parsed

    # On the image page: rename with the keyboard alone.
    tab_to(page, "Title")
    page.keyboard.press("Control+A")
    page.keyboard.type("keyboard only")
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", level=1)).to_have_text("keyboard only")
    watch.assert_clean()


def test_images_have_alt_text_from_their_titles(
    page: Page, live_server: LiveServer, watch: Watch
) -> None:
    """Every image a person sees is named by its title (decorative ones are empty)."""
    sign_in(page, live_server.url, ALICE)
    for i, name in enumerate(["Harbour at dawn.png", "Grandma's 90th.png"]):
        api_upload(page, live_server.url, picture(i), name)
    page.reload()
    alts = page.locator("#gallery img").evaluate_all("(imgs) => imgs.map((i) => i.alt)")
    assert alts == ["Grandma's 90th", "Harbour at dawn"]
    # The tile's link is named once, by the image, not "title title".
    expect(page.get_by_role("link", name="Harbour at dawn", exact=True)).to_be_visible()
    missing = page.locator("img:not([alt])")
    expect(missing).to_have_count(0)
    page.get_by_role("link", name="Harbour at dawn").click()
    expect(page.get_by_role("dialog").get_by_role("img", name="Harbour at dawn")).to_be_visible()
    expect(page.locator("img:not([alt])")).to_have_count(0)
    watch.assert_clean()
