"""Phone photos from the page: an iPhone HEIC and a chat app's WebP without an extension.

Browsers give ``IMG_5001.HEIC`` an empty type and ``photo-from-chat`` none either; the
page decides by the file's first bytes and the server stays the judge. The image page
then shows the display rendition, not the original.
"""

from __future__ import annotations

import io
from urllib.parse import urlsplit

import pillow_heif
from PIL import Image
from playwright.sync_api import FilePayload, Page, expect

from e2e.browsing import LiveServer, Watch, path_of, picture, screenshot, sign_in

ALICE = "alice@example.com"
# Big enough that a display rendition is made (the long side is over 2560 px).
HEIC_SIZE = (3200, 2400)


def heic(size: tuple[int, int]) -> bytes:
    """Return an iPhone-like HEIC (made with pillow-heif, as libheif writes it)."""
    img = Image.open(io.BytesIO(picture(1, size=(size[0] // 8, size[1] // 8), fmt="PNG")))
    out = io.BytesIO()
    pillow_heif.from_pillow(img.resize(size, Image.Resampling.BICUBIC)).save(out, quality=80)
    return out.getvalue()


def test_heic_and_a_webp_without_extension_upload_and_show_the_display_rendition(
    page: Page, live_server: LiveServer, watch: Watch
) -> None:
    sign_in(page, live_server.url, ALICE)
    photo = heic(HEIC_SIZE)
    assert photo[4:12] == b"ftypheic"
    page.locator("#file-input").set_input_files(
        list[FilePayload](
            [
                # What Chromium hands the page for these: no type it knows.
                {"name": "IMG_5001.HEIC", "mimeType": "", "buffer": photo},
                {"name": "photo-from-chat", "mimeType": "", "buffer": picture(2, fmt="WEBP")},
            ]
        )
    )

    for title in ("IMG_5001", "photo-from-chat"):
        expect(page.get_by_role("img", name=title, exact=True)).to_have_js_property(
            "complete", True
        )
    expect(page.locator("#quota-images")).to_have_text("2 images")

    listed = page.request.get(f"{live_server.url}/api/v1/images")
    assert listed.ok, listed.text()
    by_title = {item["title"]: item for item in listed.json()["items"]}
    assert set(by_title) == {"IMG_5001", "photo-from-chat"}
    iphone = by_title["IMG_5001"]
    assert iphone["content_type"] == "image/jpeg"  # converted once: browsers cannot show HEIC
    assert path_of(iphone["display_url"]) != path_of(iphone["image_url"])

    page.goto(path_of(iphone["page_url"]))
    shown = page.get_by_role("main").get_by_role("img", name="IMG_5001", exact=True)
    expect(shown).to_have_js_property("complete", True)
    src = urlsplit(shown.evaluate("img => img.currentSrc"))
    assert src.path == path_of(iphone["display_url"])
    natural = shown.evaluate("img => [img.naturalWidth, img.naturalHeight]")
    assert 0 < natural[0] <= 2048 and natural[0] / natural[1] == HEIC_SIZE[0] / HEIC_SIZE[1]
    screenshot(page, "phone-formats-heic-image-page.png")
    watch.assert_clean()
