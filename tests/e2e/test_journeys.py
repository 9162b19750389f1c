"""What a person does with Picbucket in a real browser, journey by journey.

Each test asserts what is on the screen (roles, labels, text), not the markup, and
ends with no console errors, no page errors and no unexpected failed requests.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Callable

import requests
from playwright.sync_api import BrowserContext, Dialog, FilePayload, JSHandle, Locator, Page, expect

from e2e.browsing import LiveServer, Watch, api_upload, path_of, picture, sign_in

ALICE = "alice@example.com"
BOB = "bob@example.org"

# A File in the page, built from bytes the test made: what drag and drop and the
# clipboard hand to the page's own handlers.
MAKE_TRANSFER = """([files]) => {
  const transfer = new DataTransfer();
  for (const [name, type, b64] of files) {
    const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
    transfer.items.add(new File([bytes], name, { type }));
  }
  return transfer;
}"""


def transfer(page: Page, *files: tuple[str, str, bytes]) -> JSHandle:
    """Return a page-side DataTransfer holding ``(name, type, bytes)`` files."""
    encoded = [[name, kind, base64.b64encode(data).decode()] for name, kind, data in files]
    return page.evaluate_handle(MAKE_TRANSFER, [encoded])


def gallery_cards(page: Page) -> Locator:
    """Return the gallery's tiles."""
    return page.locator("#gallery").get_by_role("listitem")


def upload_row(page: Page, name: str) -> Locator:
    """Return the upload list's entry for a file."""
    return page.get_by_role("list", name="Uploads").get_by_role("listitem").filter(has_text=name)


def mark_page(page: Page) -> None:
    """Leave a marker in the page: if it survives, the page was not reloaded."""
    page.evaluate("window.__stillTheSamePage = true")


def assert_not_reloaded(page: Page) -> None:
    assert page.evaluate("window.__stillTheSamePage === true"), "the page reloaded"


def test_1_sign_in_greets_by_name(page: Page, live_server: LiveServer, watch: Watch) -> None:
    """Sign in through the provider's page; the gallery greets alice by name."""
    page.goto("/")
    expect(page.get_by_role("heading", name="Your images, your links.")).to_be_visible()
    page.get_by_role("link", name="Sign in").first.click()
    expect(page).to_have_url(re.compile(re.escape(live_server.issuer)))
    page.locator("input[name=sub]").fill(ALICE)
    page.get_by_role("button", name="Authorize").click()

    expect(page).to_have_url(live_server.url + "/")
    expect(page.get_by_role("heading", level=1)).to_have_text("Hello, Alice")
    expect(page.get_by_role("status").filter(has_text="Welcome, Alice!")).to_be_visible()
    expect(page.get_by_text("No images yet")).to_be_visible()
    watch.assert_clean()


def test_2_upload_with_picker_and_drag_and_drop(
    page: Page, live_server: LiveServer, watch: Watch
) -> None:
    """Three files through the picker and one dropped: progress, then thumbnails, no reload."""
    sign_in(page, live_server.url, ALICE)
    mark_page(page)
    expect(page.locator("#quota-images")).to_have_text("0 images")

    page.locator("#file-input").set_input_files(
        list[FilePayload](
            [
                {"name": "beach.png", "mimeType": "image/png", "buffer": picture(0)},
                {"name": "forest.jpg", "mimeType": "image/jpeg", "buffer": picture(1, fmt="JPEG")},
                {"name": "night.webp", "mimeType": "image/webp", "buffer": picture(2, fmt="WEBP")},
            ]
        )
    )
    for name in ("beach.png", "forest.jpg", "night.webp"):
        row = upload_row(page, name)
        expect(row.get_by_role("progressbar", name=f"Upload of {name}")).to_have_attribute(
            "aria-valuenow", "100"
        )
        expect(row).to_contain_text("Uploaded")
    for title in ("beach", "forest", "night"):
        expect(page.get_by_role("link", name=title, exact=True)).to_be_visible()
        expect(page.get_by_role("img", name=title, exact=True)).to_have_js_property(
            "complete", True
        )
    expect(page.get_by_text("No images yet")).to_be_hidden()

    # Drag and drop: the zone lights up while a file is over the page, then uploads it.
    dropped = transfer(page, ("dropped.gif", "image/gif", picture(3, fmt="GIF")))
    zone = page.locator("#upload-form")
    zone.dispatch_event("dragenter", {"dataTransfer": dropped})
    expect(zone).to_have_class(re.compile(r"\bdropzone-active\b"))
    zone.dispatch_event("drop", {"dataTransfer": dropped})
    expect(zone).not_to_have_class(re.compile(r"\bdropzone-active\b"))
    expect(upload_row(page, "dropped.gif").get_by_role("progressbar")).to_have_attribute(
        "aria-valuenow", "100"
    )
    expect(page.get_by_role("link", name="dropped", exact=True)).to_be_visible()

    expect(gallery_cards(page)).to_have_count(4)
    expect(page.locator("#quota-images")).to_have_text("4 images")
    assert_not_reloaded(page)
    # And they are really stored: a reload shows the same four, newest first.
    page.reload()
    expect(gallery_cards(page)).to_have_count(4)
    expect(gallery_cards(page).first).to_contain_text("dropped")
    watch.assert_clean()


def test_3_paste_an_image(page: Page, live_server: LiveServer, watch: Watch) -> None:
    """Paste an image: it uploads.

    Headless Chromium's clipboard permissions are unreliable, so the test does what the
    operating system does on Ctrl+V: it dispatches a ``paste`` ClipboardEvent whose
    clipboardData holds an image File. That exercises the page's own paste handler.
    """
    sign_in(page, live_server.url, ALICE)
    mark_page(page)
    clipboard = transfer(page, ("image.png", "image/png", picture(4)))
    page.evaluate(
        """(data) => document.dispatchEvent(
            new ClipboardEvent('paste', {clipboardData: data, bubbles: true, cancelable: true}))""",
        clipboard,
    )
    expect(upload_row(page, "image.png")).to_contain_text("Uploaded")
    expect(page.get_by_role("img", name="image", exact=True)).to_be_visible()
    expect(gallery_cards(page)).to_have_count(1)
    assert_not_reloaded(page)
    watch.assert_clean()


def test_4_refused_files_say_why(
    start_server: Callable[..., LiveServer],
    new_context: Callable[..., BrowserContext],
    watch: Watch,
) -> None:
    """An SVG, text named .jpg and a too-big file: each gets a specific message; nothing changes."""
    server = start_server(max_upload_mb=1)
    page = new_context(base_url=server.url).new_page()
    sign_in(page, server.url, ALICE)
    api_upload(page, server.url, picture(0), "kept.png")
    page.reload()
    expect(gallery_cards(page)).to_have_count(1)
    quota_before = page.locator("#quota").inner_text()

    svg = b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>'
    # Its name says JPEG, so the browser calls it image/jpeg; the page reads its first
    # bytes instead and refuses it before sending (the server would refuse it too).
    watch.allow(415, r"/api/v1/images$")
    big = b"\xff\xd8\xff\xe0" + bytes(1024 * 1024 + 512 * 1024)
    page.locator("#file-input").set_input_files(
        list[FilePayload](
            [
                {"name": "drawing.svg", "mimeType": "image/svg+xml", "buffer": svg},
                {"name": "notes.jpg", "mimeType": "image/jpeg", "buffer": b"just some text\n" * 40},
                {"name": "huge.jpg", "mimeType": "image/jpeg", "buffer": big},
            ]
        )
    )
    expect(upload_row(page, "drawing.svg").get_by_role("alert")).to_have_text(
        re.compile(r"^SVG drawings, HTML and other text files can’t be uploaded.*AVIF and HEIC")
    )
    expect(upload_row(page, "notes.jpg").get_by_role("alert")).to_have_text(
        "This isn’t an image Picbucket can read. "
        "Picbucket takes JPEG, PNG, GIF, WebP, AVIF and HEIC images."
    )
    expect(upload_row(page, "huge.jpg").get_by_role("alert")).to_have_text(
        re.compile(r"^This file is 1\.5 MB, over the 1\.0 MB limit per image\.")
    )
    for name in ("drawing.svg", "notes.jpg", "huge.jpg"):
        expect(upload_row(page, name)).to_contain_text("Not uploaded")

    expect(gallery_cards(page)).to_have_count(1)
    expect(page.locator("#quota")).to_have_text(quota_before)
    page.reload()
    expect(gallery_cards(page)).to_have_count(1)
    expect(page.get_by_role("img", name="kept", exact=True)).to_be_visible()
    watch.assert_clean()


def test_5_rename_share_copy_open_revoke(
    page: Page,
    live_server: LiveServer,
    new_context: Callable[..., BrowserContext],
    watch: Watch,
) -> None:
    """Rename, share with an expiry, copy the link, open it signed out, revoke it: 404."""
    page.context.grant_permissions(["clipboard-read", "clipboard-write"], origin=live_server.url)
    sign_in(page, live_server.url, ALICE)
    api_upload(page, live_server.url, picture(1), "IMG_2041.png")
    page.reload()
    page.get_by_role("link", name="IMG_2041").click()
    page.get_by_role("dialog").get_by_role("link", name="Details").click()  # the viewer opens first
    expect(page.get_by_role("heading", level=1)).to_have_text("IMG_2041")

    page.get_by_label("Title", exact=True).fill("Sunset <b>over</b> the bay")
    page.get_by_role("button", name="Rename").click()
    expect(page.get_by_role("status").filter(has_text="Title saved.")).to_be_visible()
    expect(page.get_by_role("heading", level=1)).to_have_text("Sunset <b>over</b> the bay")
    expect(page.get_by_role("img", name="Sunset <b>over</b> the bay")).to_be_visible()
    image_page = page.url

    page.get_by_label("Link works for").select_option(label="1 day")
    page.get_by_role("button", name="Create link").click()
    created = page.get_by_role("status").filter(has_text="Link created")
    expect(created).to_be_visible()
    link = created.get_by_label("Share link")
    share_url = link.input_value()
    assert re.fullmatch(re.escape(live_server.url) + r"/s/[A-Za-z0-9_-]{22}", share_url)
    expect(page.locator("#share-list")).to_contain_text("expires")

    copy = created.get_by_role("button", name="Copy").first
    copy.click()
    expect(created.get_by_role("button", name="Copied!")).to_be_visible()
    assert page.evaluate("navigator.clipboard.readText()") == share_url
    expect(created.get_by_role("button", name="Copied!")).to_have_count(0)  # after 2 s
    markdown = created.get_by_label("Markdown").input_value()
    assert markdown.startswith("![Sunset <b>over</b> the bay](") and markdown.endswith(")")

    # Someone else, signed out, opens the link.
    stranger = new_context(base_url=live_server.url).new_page()
    stranger.goto(share_url)
    expect(stranger.get_by_role("heading", level=1)).to_have_text("Sunset <b>over</b> the bay")
    shared_img = stranger.get_by_role("img", name="Sunset <b>over</b> the bay")
    expect(shared_img).to_be_visible()
    expect(shared_img).to_have_js_property("naturalWidth", 480)  # 0 until it has loaded
    og_image = stranger.locator('meta[property="og:image"]').get_attribute("content")
    # Link previews get the screen-sized rendition, never the original.
    assert og_image and og_image.startswith(share_url + "/display.")
    og_title = stranger.locator('meta[property="og:title"]').get_attribute("content")
    assert og_title == "Sunset <b>over</b> the bay"
    assert stranger.locator('meta[name="twitter:card"]').get_attribute("content")
    assert stranger.request.get(og_image).headers["content-type"] == "image/png"
    expect(stranger.get_by_role("button", name="Sign out")).to_have_count(0)

    # Alice revokes it; the link is now a 404 page written for a person.
    page.goto(image_page)
    page.locator("#share-list").get_by_role("button", name="Revoke").click()
    expect(page.get_by_role("status").filter(has_text="The link is revoked")).to_be_visible()
    expect(page.locator("#share-list")).to_contain_text("revoked")

    watch.allow(404, re.escape(share_url))
    answer = stranger.goto(share_url)
    assert answer is not None and answer.status == 404
    expect(stranger.get_by_role("heading", level=1)).to_have_text("Not found")
    expect(
        stranger.get_by_text("This link does not exist, has expired, or was revoked")
    ).to_be_visible()
    expect(stranger.get_by_role("img", name="Sunset <b>over</b> the bay")).to_have_count(0)
    watch.assert_clean()


def test_6_delete_from_the_image_page(page: Page, live_server: LiveServer, watch: Watch) -> None:
    """Delete from the image page after confirming; it is gone from the gallery."""
    sign_in(page, live_server.url, ALICE)
    api_upload(page, live_server.url, picture(2), "keep me.png")
    api_upload(page, live_server.url, picture(3), "delete me.png")
    page.reload()
    page.get_by_role("link", name="delete me").click()
    page.get_by_role("dialog").get_by_role("link", name="Details").click()  # the viewer opens first

    # Saying no to the question keeps the image.
    page.once("dialog", lambda dialog: dialog.dismiss())
    page.get_by_role("button", name="Delete image").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("delete me")

    questions: list[str] = []

    def accept(dialog: Dialog) -> None:
        questions.append(dialog.message)
        dialog.accept()

    page.once("dialog", accept)
    page.get_by_role("button", name="Delete image").click()
    expect(page).to_have_url(live_server.url + "/")
    moved = page.get_by_role("status").filter(has_text="Moved delete me to the trash.")
    expect(moved).to_be_visible()
    expect(moved.get_by_role("link", name="Open the trash")).to_have_attribute("href", "/trash")
    assert questions == [
        "Move “delete me” to the trash? Its share links stop working. You can restore it "
        "from the trash for 30 days; then it is deleted for good."
    ]
    expect(page.get_by_role("img", name="delete me")).to_have_count(0)
    expect(gallery_cards(page)).to_have_count(1)
    expect(page.get_by_role("img", name="keep me")).to_be_visible()
    watch.assert_clean()


def test_7_bob_sees_nothing_of_alice(
    page: Page,
    live_server: LiveServer,
    new_context: Callable[..., BrowserContext],
    watch: Watch,
) -> None:
    """Bob sees none of alice's images, and her image URLs are 404 for him."""
    sign_in(page, live_server.url, ALICE)
    mine = api_upload(page, live_server.url, picture(4), "private.png")
    page.reload()
    expect(page.get_by_role("img", name="private")).to_be_visible()

    bob = new_context(base_url=live_server.url).new_page()
    sign_in(bob, live_server.url, BOB)
    expect(bob.get_by_role("heading", level=1)).to_have_text("Hello, Bob")
    expect(bob.get_by_text("No images yet")).to_be_visible()
    expect(gallery_cards(bob)).to_have_count(0)

    for url in (mine["page_url"], mine["image_url"], mine["thumbnail_url"]):
        watch.allow(404, re.escape(path_of(url)) + "$")
        answer = bob.goto(url)
        assert answer is not None and answer.status == 404, url
        expect(bob.get_by_role("heading", level=1)).to_have_text("Not found")
        expect(bob.get_by_role("img", name="private")).to_have_count(0)
    watch.assert_clean()


def test_8_api_token_upload_shows_in_gallery(
    page: Page, live_server: LiveServer, watch: Watch
) -> None:
    """Create a token on the settings page, upload with it over HTTP, see the image."""
    sign_in(page, live_server.url, ALICE)
    page.get_by_role("link", name="Settings").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Settings")
    expect(page.get_by_text("You have no tokens.")).to_be_visible()
    page.get_by_label("Token name").fill("test script")
    page.get_by_role("button", name="Create token").click()
    secret = page.get_by_label("Your new token (shown only once)").input_value()
    assert secret
    expect(page.locator("#token-list")).to_contain_text("test script")
    expect(page.get_by_text(f'Bearer {secret}"')).to_be_visible()

    answer = requests.post(
        f"{live_server.url}/api/v1/images",
        headers={"Authorization": f"Bearer {secret}"},
        files={"file": ("from-script.png", picture(5))},
        timeout=30,
    )
    assert answer.status_code == 201, answer.text

    page.get_by_role("link", name="Gallery").click()
    expect(page.get_by_role("img", name="from-script", exact=True)).to_be_visible()
    expect(page.locator("#quota-images")).to_have_text("1 image")
    page.get_by_role("link", name="Settings").click()
    expect(page.locator("#token-list")).to_contain_text("last used")
    watch.assert_clean()
