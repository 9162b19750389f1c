"""The gallery as a photo viewer: the viewer's keys, swipe, zoom, address and paging;
sort orders, search, scroll restore and the phone layout; axe on the new views."""

from __future__ import annotations

import io
import re
import time
from collections.abc import Callable, Sequence
from typing import Any

import pytest
from PIL import Image
from playwright.sync_api import BrowserContext, FilePayload, Page, expect

from e2e.browsing import DESKTOP, PHONE, LiveServer, Watch, alts_become, picture
from e2e.test_accessibility import axe_problems

ALICE = "alice@example.com"


def taken_jpeg(index: int, taken: str | None, size: tuple[int, int] = (480, 360)) -> bytes:
    """Return a test picture as a JPEG whose EXIF says when it was taken ("2024:03:05 10:00:00")."""
    img = Image.open(io.BytesIO(picture(index, size=size)))
    exif = Image.Exif()
    if taken:
        exif.get_ifd(0x8769)[0x9003] = taken
    out = io.BytesIO()
    img.convert("RGB").save(out, "JPEG", exif=exif.tobytes(), quality=85)
    return out.getvalue()


def gallery_of(
    start_server: Callable[..., LiveServer],
    photos: Sequence[tuple[str, str | None]],
    **settings: Any,
) -> tuple[LiveServer, list[dict[str, Any]]]:
    """Start an app and upload (title, date taken) photos in order through the API."""
    server = start_server(**settings)
    http = server.sign_in_http(ALICE)
    made = [
        # Each a different size: identical files would be one photo.
        server.upload(http, taken_jpeg(i, taken, size=(480 + i, 360)), f"{title}.jpg")
        for i, (title, taken) in enumerate(photos)
    ]
    return server, made


def browser_page(
    new_context: Callable[..., BrowserContext], server: LiveServer, **options: Any
) -> Page:
    """Open the gallery signed in as Alice (the provider's own form is test_journeys' job)."""
    context = new_context(base_url=server.url, **options)
    http = server.sign_in_http(ALICE)
    context.add_cookies(
        [{"name": c.name, "value": c.value or "", "url": server.url} for c in http.cookies]
    )
    page = context.new_page()
    page.goto("/")
    return page


def tiles_become(page: Page, titles: list[str]) -> None:
    """Wait until the grid shows exactly ``titles``, in this order (fails with a diff)."""
    alts_become(page.locator("#gallery img"), titles)


def viewer(page: Page) -> Any:
    return page.get_by_role("dialog")


def scrolling_settled(page: Page, timeout: float = 10.0) -> float:
    """Wait until the page stops scrolling (wheel and smooth scrolls animate); return scrollY."""
    deadline = time.monotonic() + timeout
    last: float = page.evaluate("scrollY")
    while True:
        page.wait_for_timeout(250)
        now: float = page.evaluate("scrollY")
        if now == last or time.monotonic() > deadline:
            return now
        last = now


TEN = [(f"photo {i}", f"2024:0{1 + i % 9}:0{1 + i % 9} 10:00:00") for i in range(10)]


def test_viewer_opens_with_keys_back_and_returns_focus(
    start_server: Callable[..., LiveServer],
    new_context: Callable[..., BrowserContext],
    watch: Watch,
) -> None:
    """Click a photo: a full-screen dialog with its own address; ← → Esc; Back closes it."""
    server, made = gallery_of(start_server, [("Harbour", None), ("Tram", None), ("Market", None)])
    page = browser_page(new_context, server, viewport=DESKTOP)
    page.get_by_role("link", name="Tram").click()
    dialog = viewer(page)
    expect(dialog).to_be_visible()
    expect(dialog).to_have_attribute("aria-modal", "true")
    expect(dialog.get_by_role("heading", name="Tram")).to_be_visible()
    expect(page).to_have_url(re.compile(r"\?photo=" + made[1]["id"] + "$"))
    expect(page.get_by_role("button", name="Close (Esc)")).to_be_focused()
    # Fitted inside the window (a photo this small is its own display copy).
    shown = dialog.get_by_role("img", name="Tram")
    expect(shown).to_have_attribute("src", re.compile(r"/(display|original)\."))
    box = shown.bounding_box()
    assert box and box["height"] <= DESKTOP["height"] and box["width"] <= DESKTOP["width"]
    expect(dialog).to_contain_text("481 × 360")

    page.keyboard.press("ArrowRight")  # newest first: → is the older photo
    expect(dialog.get_by_role("heading", name="Harbour")).to_be_visible()
    expect(page).to_have_url(re.compile(r"\?photo=" + made[0]["id"] + "$"))
    expect(page.get_by_role("button", name="Next photo (→)")).to_be_disabled()
    page.keyboard.press("ArrowLeft")
    page.keyboard.press("ArrowLeft")
    expect(dialog.get_by_role("heading", name="Market")).to_be_visible()

    # Tab stays inside the dialog.
    for _ in range(12):
        page.keyboard.press("Tab")
        assert page.evaluate("document.getElementById('viewer').contains(document.activeElement)")

    page.keyboard.press("Escape")
    expect(dialog).to_be_hidden()
    expect(page).to_have_url(f"{server.url}/")
    # Focus returns to the photo last shown.
    expect(page.get_by_role("link", name="Market")).to_be_focused()

    # Back closes the viewer (one step, however many photos were seen).
    page.get_by_role("link", name="Harbour").click()
    expect(dialog).to_be_visible()
    page.keyboard.press("ArrowLeft")
    page.go_back()
    expect(dialog).to_be_hidden()
    expect(page).to_have_url(f"{server.url}/")


def test_deep_link_pages_on_past_the_first_page(
    start_server: Callable[..., LiveServer],
    new_context: Callable[..., BrowserContext],
    watch: Watch,
) -> None:
    """?photo= opens the viewer on a photo the grid has not loaded; → crosses cursor pages."""
    server, made = gallery_of(start_server, TEN, page_size=4)
    page = browser_page(new_context, server, viewport=DESKTOP)
    # Photo 5 is not on the first page (4 per page, newest taken first: 8, 7, 6, 5...).
    order = sorted(made, key=lambda m: (m["taken_at"], m["id"]), reverse=True)
    start = order[5]
    page.goto(f"/?photo={start['id']}")
    dialog = viewer(page)
    expect(dialog.get_by_role("heading", name=start["title"])).to_be_visible()
    for expected in order[6:]:
        page.get_by_role("button", name="Next photo (→)").click()
        expect(dialog.get_by_role("heading", name=expected["title"])).to_be_visible()
    expect(page.get_by_role("button", name="Next photo (→)")).to_be_disabled()
    # From the grid: the viewer walks all ten across three cursor pages.
    page.keyboard.press("Escape")
    page.get_by_role("link", name=order[0]["title"]).click()
    for expected in order[1:]:
        page.keyboard.press("ArrowRight")
        expect(dialog.get_by_role("heading", name=expected["title"])).to_be_visible()
    expect(page.locator("#gallery img")).to_have_count(10)


def test_zoom_loads_the_original_only_when_asked(
    start_server: Callable[..., LiveServer],
    new_context: Callable[..., BrowserContext],
    watch: Watch,
) -> None:
    """The viewer shows the display rendition; 100 % loads the original, pixel for pixel."""
    server = start_server()
    http = server.sign_in_http(ALICE)
    big = server.upload(http, taken_jpeg(1, None, size=(3200, 2400)), "Big.jpg")
    page = browser_page(new_context, server, viewport=DESKTOP)
    fetched: list[str] = []
    page.on("request", lambda request: fetched.append(request.url))
    page.get_by_role("link", name="Big").click()
    dialog = viewer(page)
    img = dialog.get_by_role("img", name="Big")
    expect(img).to_have_attribute("src", re.compile(r"/display\."))
    page.wait_for_function("() => document.querySelector('.viewer-img').complete")
    box = img.bounding_box()
    assert box and box["width"] <= DESKTOP["width"] and box["height"] <= DESKTOP["height"]
    assert not any("/original." in url for url in fetched), "the original loaded before zooming"

    page.get_by_role("button", name="100 %").click()
    expect(page.get_by_role("button", name="100 %")).to_have_attribute("aria-pressed", "true")
    expect(img).to_have_attribute("src", re.compile(r"/original\."))
    page.wait_for_function(
        "() => document.querySelector('.viewer-img').getBoundingClientRect().width === 3200"
    )
    # The original's load handler centres it: the width can change before it runs.
    expect(dialog.get_by_text("Loading…")).to_be_hidden()
    # Centred on the middle of the photo, scrollable to its edges.
    stage = dialog.locator(".viewer-stage")
    assert stage.evaluate("(s) => s.scrollLeft") > 500
    page.keyboard.press("z")
    expect(img).to_have_attribute("src", re.compile(r"/display\."))
    # Download original: the title is the file name.
    with page.expect_download() as download:
        dialog.get_by_role("link", name="Download original").click()
    assert download.value.suggested_filename == "Big.jpg"
    assert big["title"] == "Big"


def test_swipe_moves_between_photos_on_a_phone(
    start_server: Callable[..., LiveServer],
    new_context: Callable[..., BrowserContext],
    watch: Watch,
) -> None:
    """Touch events: a left swipe shows the next photo, a right swipe the previous."""
    server, _ = gallery_of(start_server, [("Left", None), ("Middle", None), ("Right", None)])
    page = browser_page(new_context, server, viewport=PHONE, is_mobile=True, has_touch=True)
    page.get_by_role("link", name="Middle").click()
    dialog = viewer(page)
    expect(dialog.get_by_role("heading", name="Middle")).to_be_visible()

    def swipe(dx: int) -> None:
        page.evaluate(
            """(dx) => {
              const stage = document.querySelector('.viewer-stage');
              const at = (x) => [new Touch({identifier: 1, target: stage, clientX: x, clientY: 300})];
              stage.dispatchEvent(new TouchEvent('touchstart', {touches: at(180), changedTouches: at(180), bubbles: true}));
              stage.dispatchEvent(new TouchEvent('touchend', {touches: [], changedTouches: at(180 + dx), bubbles: true}));
            }""",
            dx,
        )

    swipe(-120)
    expect(dialog.get_by_role("heading", name="Left")).to_be_visible()
    swipe(120)
    swipe(120)
    expect(dialog.get_by_role("heading", name="Right")).to_be_visible()
    swipe(10)  # a tap is not a swipe
    expect(dialog.get_by_role("heading", name="Right")).to_be_visible()


def test_sort_orders_month_headings_and_search(
    start_server: Callable[..., LiveServer],
    new_context: Callable[..., BrowserContext],
    watch: Watch,
) -> None:
    """Date taken (default, with upload date as fallback) or upload date; search by title."""
    photos = [
        ("Old beach", "2021:07:14 09:00:00"),
        ("Scanned letter", None),  # no date taken: sorts by its upload date (now)
        ("New beach", "2023:12:24 18:00:00"),
        ("Mountain", "2022:02:02 12:00:00"),
    ]
    server, _ = gallery_of(start_server, photos)
    page = browser_page(new_context, server, viewport=DESKTOP)
    tiles_become(page, ["Scanned letter", "New beach", "Mountain", "Old beach"])
    headings = page.locator("#gallery h3").all_inner_texts()
    assert headings[1:] == ["December 2023", "February 2022", "July 2021"]

    page.get_by_role("link", name="Date uploaded").click()
    expect(page).to_have_url(re.compile(r"\?sort=uploaded$"))
    tiles_become(page, ["Mountain", "New beach", "Scanned letter", "Old beach"])
    expect(page.get_by_role("link", name="Date uploaded")).to_have_attribute("aria-current", "true")

    page.get_by_role("searchbox", name="Search titles").fill("BEA")
    page.keyboard.press("Enter")
    expect(page).to_have_url(re.compile(r"q=BEA"))
    tiles_become(page, ["New beach", "Old beach"])  # still upload order
    page.get_by_role("searchbox", name="Search titles").fill("volcano")
    page.keyboard.press("Enter")
    expect(page.get_by_text("No titles match “volcano”.")).to_be_visible()
    expect(page.get_by_text("No images yet")).to_be_hidden()


def test_back_from_an_image_page_restores_scroll_past_the_first_page(
    start_server: Callable[..., LiveServer],
    new_context: Callable[..., BrowserContext],
    watch: Watch,
) -> None:
    """Scroll three pages down, open the plain image page, go Back: same photos, same place."""
    server, _ = gallery_of(start_server, [(f"tile {i:02d}", None) for i in range(30)], page_size=8)
    page = browser_page(new_context, server, viewport={"width": 800, "height": 600})
    # Scroll down until every page is in (a page that arrives after the last turn of
    # the wheel pushes "Load more" out of reach, and nothing would load the rest)...
    deadline = time.monotonic() + 20
    turns = 0
    while turns < 6 or page.locator("#gallery img").count() < 30:
        if time.monotonic() > deadline:
            break
        page.mouse.wheel(0, 3000)
        page.wait_for_timeout(200)
        turns += 1
    expect(page.locator("#gallery img")).to_have_count(30)
    page.mouse.wheel(0, 3000)  # ...then on to the end of the whole grid
    target = page.get_by_role("link", name="tile 03")
    target.scroll_into_view_if_needed()
    before = scrolling_settled(page)  # wheel scrolling is animated: read where it ends
    assert before > 1000
    page.wait_for_timeout(300)  # the position is saved as scrolling settles
    page.goto(target.get_attribute("href") or "")
    expect(page.get_by_role("heading", level=1)).to_have_text("tile 03")
    page.go_back()
    expect(page.locator("#gallery img")).to_have_count(30)
    page.wait_for_function(f"() => Math.abs(scrollY - {before}) < 5")
    expect(page.get_by_role("link", name="tile 03")).to_be_in_viewport()


def test_phone_shows_more_than_a_row_of_photos_and_uploads_fold_into_a_line(
    start_server: Callable[..., LiveServer],
    new_context: Callable[..., BrowserContext],
    watch: Watch,
) -> None:
    """On a 360 px phone, photos start high; many uploads make one summary line, not a list."""
    server, _ = gallery_of(start_server, [(f"p{i}", None) for i in range(12)])
    page = browser_page(new_context, server, viewport=PHONE, is_mobile=True, has_touch=True)
    tops = page.locator("#gallery li").evaluate_all(
        "(items) => items.map((i) => i.getBoundingClientRect().bottom)"
    )
    rows = sorted({round(t) for t in tops if t <= PHONE["height"]})
    assert len(rows) >= 2, f"only {len(rows)} row(s) of photos above the fold"

    files: list[FilePayload] = [
        {"name": f"new {i}.png", "mimeType": "image/png", "buffer": picture(i, size=(64 + i, 48))}
        for i in range(6)
    ]
    files.append({"name": "notes.png", "mimeType": "image/png", "buffer": b"just text"})
    page.locator("#file-input").set_input_files(files)
    summary = page.locator("#upload-summary")
    expect(summary).to_contain_text("6 uploaded · 1 refused")
    box = summary.bounding_box()
    assert box and box["height"] < 100
    # The last three successes and the refused file's reason stay in view; the rest fold.
    uploads = page.get_by_role("list", name="Uploads").get_by_role("listitem")
    expect(uploads).to_have_count(4)
    expect(uploads.filter(has_text="notes.png")).to_contain_text("isn’t an image")
    page.get_by_role("button", name="Show all").click()
    expect(uploads).to_have_count(7)
    page.get_by_role("button", name="Clear").click()
    expect(summary).to_be_hidden()
    expect(page.get_by_role("list", name="Uploads").get_by_role("listitem")).to_have_count(0)


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_new_views_pass_axe(
    scheme: str,
    start_server: Callable[..., LiveServer],
    new_context: Callable[..., BrowserContext],
    watch: Watch,
) -> None:
    """The grid with months, sorted, searched, empty search, and the open viewer."""
    server, made = gallery_of(start_server, TEN[:5])
    page = browser_page(
        new_context, server, viewport=DESKTOP, color_scheme=scheme, reduced_motion="reduce"
    )
    problems: list[str] = []
    for path, what in (
        ("/", "grid"),
        ("/?sort=uploaded", "grid by upload date"),
        ("/?q=photo", "search"),
        ("/?q=nothing", "empty search"),
        (f"/?photo={made[2]['id']}", "viewer"),
    ):
        page.goto(path)
        if what == "viewer":
            expect(viewer(page)).to_be_visible()
            page.wait_for_function("() => document.querySelector('.viewer-img').complete")
        problems += axe_problems(page, f"{what}, {scheme}")
    assert not problems, "\n".join(problems)


def photo_like_jpeg(width: int, height: int) -> bytes:
    """Return a camera-like JPEG: broad colour fields, fine sensor grain, quality 95."""
    import random

    rng = random.Random(7)
    small = Image.frombytes(
        "RGB", (width // 40, height // 40), rng.randbytes((width // 40) * (height // 40) * 3)
    )
    smooth = small.resize((width, height), Image.Resampling.BICUBIC)
    grain = Image.effect_noise((width, height), 6).convert("RGB")
    photo = Image.blend(smooth, grain, 0.08)
    out = io.BytesIO()
    photo.save(out, "JPEG", quality=95)
    return out.getvalue()


def test_opening_a_12_mp_photo_fetches_a_fifth_of_its_bytes_or_less(
    start_server: Callable[..., LiveServer],
    new_context: Callable[..., BrowserContext],
    watch: Watch,
) -> None:
    """What the viewer downloads to show a 12 MP photo (and preload its neighbour)."""
    server = start_server()
    http = server.sign_in_http(ALICE)
    server.upload(http, taken_jpeg(2, None), "Neighbour.jpg")
    big = server.upload(http, photo_like_jpeg(4000, 3000), "Twelve megapixels.jpg")
    page = browser_page(new_context, server, viewport=DESKTOP)
    page.wait_for_load_state("networkidle")
    fetched: dict[str, int] = {}

    def count(response: Any) -> None:
        if "/i/" in response.url:
            fetched[response.url] = int(response.headers.get("content-length", "0"))

    page.on("response", count)
    # The display copy's response event can reach this process after the image is
    # complete in the page: wait for it, so the sums below see it.
    with page.expect_response(lambda r: big["id"] in r.url and "/display." in r.url):
        page.get_by_role("link", name="Twelve megapixels").click()
    page.wait_for_function(
        "() => document.querySelector('.viewer-img').complete"
        " && document.querySelector('.viewer-img').naturalWidth > 0"
    )
    page.wait_for_load_state("networkidle")
    total = sum(fetched.values())
    assert f"/i/{big['id']}/original." not in " ".join(fetched), fetched
    assert any("/display." in url for url in fetched), fetched
    assert total * 5 <= big["bytes"], f"{total} of {big['bytes']} bytes: {fetched}"


def test_share_and_delete_are_reachable_from_the_viewer(
    start_server: Callable[..., LiveServer],
    new_context: Callable[..., BrowserContext],
    watch: Watch,
) -> None:
    """Share… leads to the link form; Delete asks, then the photo is gone from the grid."""
    server, _ = gallery_of(start_server, [("Keep", None), ("Remove", None)])
    page = browser_page(new_context, server, viewport=DESKTOP)
    page.get_by_role("link", name="Keep").click()
    viewer(page).get_by_role("link", name="Share…").click()
    expect(page.get_by_label("Link works for")).to_be_in_viewport()
    page.go_back()  # back where the person was: the viewer, on the same photo
    expect(viewer(page).get_by_role("heading", name="Keep")).to_be_visible()
    page.keyboard.press("Escape")
    expect(viewer(page)).to_be_hidden()
    page.get_by_role("link", name="Remove").click()
    page.once("dialog", lambda dialog: dialog.accept())
    viewer(page).get_by_role("button", name="Delete").click()
    expect(page.get_by_role("status").filter(has_text="Moved Remove to the trash.")).to_be_visible()
    tiles_become(page, ["Keep"])


def test_viewer_shows_times_in_the_viewers_time_zone(
    start_server: Callable[..., LiveServer],
    new_context: Callable[..., BrowserContext],
    watch: Watch,
) -> None:
    """The upload time is the browser's local time (New York here), not the server's UTC."""
    from datetime import datetime
    from zoneinfo import ZoneInfo

    server, made = gallery_of(start_server, [("Scan", None)])
    page = browser_page(
        new_context, server, viewport=DESKTOP, timezone_id="America/New_York", locale="en-US"
    )
    page.get_by_role("link", name="Scan").click()
    local = datetime.fromisoformat(made[0]["created"]).astimezone(ZoneInfo("America/New_York"))
    expect(viewer(page)).to_contain_text(f"Uploaded {local:%B} {local.day}, {local.year}")
    expect(viewer(page)).to_contain_text(local.strftime("%I:%M %p"))
    # Moving on is announced inside the dialog (a live region the modal does not hide).
    page.keyboard.press("ArrowRight")
    expect(viewer(page).locator("[aria-live]")).to_have_text("This is the last photo.")
