"""Read, rename and delete a person's own images."""

from __future__ import annotations

import logging

from picbucket.cursors import ORDER_TAKEN, check_order
from picbucket.domain import Image, ImageStatus, InvalidInput, NotFound, Page, is_id
from picbucket.ports import Backends
from picbucket.services.uploads import clean_title

log = logging.getLogger(__name__)

NOT_FOUND = "No such image."


def get_image(backends: Backends, owner_id: str, image_id: str) -> Image:
    """Return the owner's ready image, or raise ``NotFound`` (also for other owners')."""
    image = backends.images.get(owner_id, image_id) if is_id(image_id) else None
    if image is None or image.status is not ImageStatus.READY:
        raise NotFound(NOT_FOUND)
    return image


def list_images(
    backends: Backends,
    owner_id: str,
    cursor: str | None,
    limit: int,
    order: str = ORDER_TAKEN,
    query: str = "",
) -> Page[Image]:
    """Return one page of the owner's gallery in ``order``, newest first, matching ``query``."""
    return backends.images.page(owner_id, cursor or None, limit, check_order(order), query)


def rename_image(backends: Backends, owner_id: str, image_id: str, title: str) -> Image:
    """Give the owner's image a new display title."""
    cleaned = clean_title(title)
    if not cleaned:
        raise InvalidInput("A title needs at least one visible character.")
    if not is_id(image_id) or not backends.images.rename(owner_id, image_id, cleaned):
        raise NotFound(NOT_FOUND)
    return get_image(backends, owner_id, image_id)


def delete_image(backends: Backends, owner_id: str, image_id: str) -> Image:
    """Move the owner's image to the trash (services.trash); its links stop at once.

    The bytes stay (and count against the quota) until the trash is emptied or
    reconcile purges it. A record left ``deleting`` by an earlier attempt is finished.
    """
    image = backends.images.get(owner_id, image_id) if is_id(image_id) else None
    if image is None or image.status in (ImageStatus.PENDING, ImageStatus.TRASHED):
        raise NotFound(NOT_FOUND)
    if image.status is ImageStatus.READY:
        # Compare-and-set: a trash racing a rename or another delete moves it once.
        now = backends.clock()
        if not backends.images.move_many(
            owner_id, [image_id], ImageStatus.READY, ImageStatus.TRASHED, now
        ):
            raise NotFound(NOT_FOUND)
        return image
    try:
        finish_delete(backends, image)
    except Exception:
        # The image is already invisible to everyone (owner and share links alike);
        # reconcile removes the rest, so the person's delete has taken effect.
        log.exception("finishing the delete of image %s failed; reconcile will", image.id)
    return image


def finish_delete(backends: Backends, image: Image) -> None:
    """Remove shares, album places, blobs, then the record of an image marked for deletion."""
    backends.shares.remove_for_image(image.owner_id, image.id)
    backends.albums.remove_image(image.owner_id, image.id)
    for variant in image.variants:
        backends.blobs.delete(variant.key)
    backends.images.remove(image.owner_id, image.id)
