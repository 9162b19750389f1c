"""Albums: create, describe, order, fill and empty; a photo may be in many.

Every call is scoped by owner: another person's album id is ``NotFound``, like a
made-up one. Album pages show only ``ready`` photos, so trashed ones drop out at once
and come back on restore, in their old place.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

from picbucket.cursors import ORDER_TAKEN, sort_key
from picbucket.domain import (
    Album,
    AlbumOrder,
    Image,
    ImageStatus,
    InvalidInput,
    NotFound,
    is_id,
    new_id,
)
from picbucket.ports import Backends
from picbucket.services.trash import checked_ids
from picbucket.services.uploads import clean_title

NOT_FOUND = "No such album."
MAX_DESCRIPTION = 2000


@dataclass(frozen=True)
class AlbumSummary:
    """An album as the albums list shows it: its cover and how many photos."""

    album: Album
    count: int
    cover: Image | None


def get_album(backends: Backends, owner_id: str, album_id: str) -> Album:
    """Return the owner's album, or ``NotFound`` (also for anyone else's)."""
    album = backends.albums.get(owner_id, album_id) if is_id(album_id) else None
    if album is None:
        raise NotFound(NOT_FOUND)
    return album


def _title(raw: str) -> str:
    title = clean_title(raw)
    if not title:
        raise InvalidInput("An album needs a title with at least one visible character.")
    return title


def _description(raw: str) -> str:
    text = raw.replace("\r\n", "\n").strip()
    if len(text) > MAX_DESCRIPTION:
        raise InvalidInput(f"Keep the description under {MAX_DESCRIPTION} characters.")
    return text


def create_album(backends: Backends, owner_id: str, title: str, description: str = "") -> Album:
    """Create an empty album."""
    album = Album(
        id=new_id(),
        owner_id=owner_id,
        title=_title(title),
        description=_description(description),
        created=backends.clock(),
    )
    backends.albums.add(album)
    return album


def update_album(
    backends: Backends,
    owner_id: str,
    album_id: str,
    *,
    title: str | None = None,
    description: str | None = None,
    order: str | None = None,
    cover_id: str | None = None,
) -> Album:
    """Change what is given: title, description, order mode, cover (a photo in the album)."""
    album = get_album(backends, owner_id, album_id)
    if title is not None:
        album = replace(album, title=_title(title))
    if description is not None:
        album = replace(album, description=_description(description))
    if order is not None:
        if order not in {mode.value for mode in AlbumOrder}:
            raise InvalidInput("order must be manual or taken.")
        album = replace(album, order=AlbumOrder(order))
    if cover_id is not None:
        if cover_id not in backends.albums.item_ids(owner_id, album_id):
            raise InvalidInput("The cover must be a photo in the album.")
        album = replace(album, cover_id=cover_id)
    if not backends.albums.update(album):
        raise NotFound(NOT_FOUND)
    return album


def delete_album(backends: Backends, owner_id: str, album_id: str) -> Album:
    """Delete an album and its links; its photos stay in the gallery."""
    album = get_album(backends, owner_id, album_id)
    # Links first: a crash in between leaves an album without links, never the reverse.
    backends.shares.remove_for_album(owner_id, album_id)
    backends.albums.remove(owner_id, album_id)
    return album


def list_albums(backends: Backends, owner_id: str) -> list[AlbumSummary]:
    """Return the owner's albums, newest first, with counts and covers."""
    albums = backends.albums.for_owner(owner_id)
    counts = backends.albums.counts(owner_id)
    covers: dict[str, str] = {}
    for album in albums:
        cover = album.cover_id
        if cover is None and counts.get(album.id):
            ids = backends.albums.item_ids(owner_id, album.id)
            cover = ids[0] if ids else None
        if cover:
            covers[album.id] = cover
    found = {
        image.id: image
        for image in backends.images.get_many(owner_id, list(set(covers.values())))
        if image.status is ImageStatus.READY
    }
    return [
        AlbumSummary(album, counts.get(album.id, 0), found.get(covers.get(album.id, "")))
        for album in albums
    ]


def album_images(backends: Backends, album: Album) -> list[Image]:
    """Return the album's visible (ready) photos in the album's order."""
    ids = backends.albums.item_ids(album.owner_id, album.id)
    images = {
        image.id: image
        for image in backends.images.get_many(album.owner_id, ids)
        if image.status is ImageStatus.READY
    }
    if album.order is AlbumOrder.TAKEN:
        return sorted(images.values(), key=lambda image: (sort_key(image, ORDER_TAKEN), image.id))
    return [images[image_id] for image_id in ids if image_id in images]


@dataclass(frozen=True)
class AlbumPage:
    """One page of an album's visible photos and where the next page starts."""

    images: list[Image]
    next_offset: int | None


def album_page(backends: Backends, album: Album, offset: int, limit: int) -> AlbumPage:
    """Return up to ``limit`` visible photos from position ``offset`` on.

    Manual order reads the id list (one query) and only this page's records, so a
    5,000-photo album pages as cheaply as the gallery. Date order sorts the whole
    album first (records of every photo), which costs more on a very large album.
    """
    if album.order is AlbumOrder.TAKEN:
        every = album_images(backends, album)
        end = offset + limit
        return AlbumPage(every[offset:end], end if end < len(every) else None)
    found: list[Image] = []
    position = max(offset, 0)
    while len(found) < limit:
        # Read a little more than needed: trashed photos in the window are skipped.
        want = limit - len(found) + 8
        window = backends.albums.item_ids(album.owner_id, album.id, position, want)
        ready = {
            image.id: image
            for image in backends.images.get_many(album.owner_id, window)
            if image.status is ImageStatus.READY
        }
        for image_id in window:
            position += 1
            if image_id in ready:
                found.append(ready[image_id])
                if len(found) == limit:
                    break
        if len(found) < limit and len(window) < want:
            return AlbumPage(found, None)  # the end of the album
    more = backends.albums.item_ids(album.owner_id, album.id, position, 1)
    return AlbumPage(found, position if more else None)


def cover_of(backends: Backends, album: Album, images: Sequence[Image]) -> Image | None:
    """Return the album's cover photo: the chosen one if visible, else the first."""
    chosen = next((image for image in images if image.id == album.cover_id), None)
    return chosen or (images[0] if images else None)


def add_to_album(backends: Backends, owner_id: str, album_id: str, image_ids: Sequence[str]) -> int:
    """Add the owner's ready photos to an album (others' or missing ids are skipped)."""
    album = get_album(backends, owner_id, album_id)
    ids = checked_ids(image_ids)
    mine = {
        image.id
        for image in backends.images.get_many(owner_id, ids)
        if image.status is ImageStatus.READY
    }
    return backends.albums.add_items(owner_id, album.id, [i for i in ids if i in mine])


def remove_from_album(
    backends: Backends, owner_id: str, album_id: str, image_ids: Sequence[str]
) -> int:
    """Take photos out of an album (they stay in the gallery)."""
    album = get_album(backends, owner_id, album_id)
    removed = backends.albums.remove_items(owner_id, album.id, checked_ids(image_ids))
    if album.cover_id in image_ids:
        backends.albums.update(replace(album, cover_id=None))
    return removed


def move_in_album(
    backends: Backends, owner_id: str, album_id: str, image_id: str, steps: int
) -> None:
    """Move one photo ``steps`` places (negative: earlier) in the manual order."""
    album = get_album(backends, owner_id, album_id)
    ids = backends.albums.item_ids(owner_id, album.id)
    if image_id not in ids:
        raise NotFound("That photo is not in this album.")
    # Move among the visible photos, so a trashed one in between is not a dead step.
    visible = [
        image.id for image in album_images(backends, replace(album, order=AlbumOrder.MANUAL))
    ]
    if image_id not in visible:
        raise NotFound("That photo is not in this album.")
    where = visible.index(image_id)
    target = min(max(where + steps, 0), len(visible) - 1)
    if target == where:
        return
    neighbour = visible[target]
    ids.remove(image_id)
    at = ids.index(neighbour)
    ids.insert(at + 1 if steps > 0 else at, image_id)
    backends.albums.set_order(owner_id, album.id, ids)
    if album.order is not AlbumOrder.MANUAL:
        backends.albums.update(replace(album, order=AlbumOrder.MANUAL))


def albums_of_image(backends: Backends, owner_id: str, image_id: str) -> list[Album]:
    """Return the owner's albums holding an image, by title."""
    wanted = set(backends.albums.albums_of(owner_id, image_id))
    albums = [album for album in backends.albums.for_owner(owner_id) if album.id in wanted]
    return sorted(albums, key=lambda album: album.title.casefold())
