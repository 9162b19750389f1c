"""What the gallery grid and the viewer show: photos grouped by month, as JSON for viewer.js."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC
from typing import Any

from picbucket.cursors import ORDER_TAKEN, ORDERS, encode_cursor, sort_key
from picbucket.domain import Image
from picbucket.services import images as image_service
from picbucket.web.context import backends, owner_id
from picbucket.web.views import extension, image_json, image_urls

SORT_LABELS = {"taken": "Date taken", "uploaded": "Date uploaded"}


@dataclass
class Month:
    """One month heading and the photos under it."""

    key: str  # "2024-03": viewer.js continues a month when the next page starts in it
    label: str  # "March 2024" (UTC: the no-JavaScript text; the page relabels nothing)
    photos: list[tuple[Image, dict[str, Any]]] = field(default_factory=list)


def sort_order(raw: str | None) -> str:
    """Return the gallery's sort order from ``?sort=``: unknown values mean the default."""
    return raw if raw in ORDERS else ORDER_TAKEN


class Links:
    """Owner URLs of a page of photos from one ``url_for`` per kind of photo.

    ``url_for`` was most of a gallery page's time (six calls a tile); photos whose
    files have the same extensions differ only in their id, so the first one's URLs
    are reused with the id swapped (ids are URL-safe and never part of anything else).
    """

    def __init__(self) -> None:
        """Start with nothing built."""
        self._models: dict[tuple[str, str, str, bool], tuple[str, dict[str, str]]] = {}

    def urls(self, image: Image) -> dict[str, str]:
        """Return ``image_urls(image)``."""
        kind = (
            extension(image.original),
            extension(image.shown),
            extension(image.thumbnail),
            image.display is None,
        )
        if kind not in self._models:
            self._models[kind] = (image.id, image_urls(image))
        model_id, model = self._models[kind]
        return {name: url.replace(model_id, image.id) for name, url in model.items()}


def photo_json(image: Image, links: Links | None = None) -> dict[str, Any]:
    """Return what viewer.js needs about one photo: the API's image, URLs from ``links``."""
    return image_json(image, (links or Links()).urls(image))


def by_month(images: list[Image], order: str) -> list[Month]:
    """Group images (already in ``order``) under month headings, newest month first."""
    months: list[Month] = []
    links = Links()
    for image in images:
        when = sort_key(image, order).astimezone(UTC)
        key = f"{when.year:04d}-{when.month:02d}"
        if not months or months[-1].key != key:
            months.append(Month(key, when.strftime("%B %Y")))
        months[-1].photos.append((image, photo_json(image, links)))
    return months


def opened(photo_id: str | None, order: str) -> dict[str, Any] | None:
    """Return the photo ``?photo=`` opens in the viewer, and the cursor of the photos after it.

    The cursor lets a deep-linked viewer page on to older photos without the grid
    having loaded them. ``NotFound`` (a 404 page) for an id that is not the owner's.
    """
    if not photo_id:
        return None
    image = image_service.get_image(backends(), owner_id(), photo_id)
    after = encode_cursor(order, sort_key(image, order), image.id)
    return {"photo": photo_json(image), "after": after}
