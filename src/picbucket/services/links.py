"""Share links with options: album links, passwords, view limits, originals switch.

An album link shows the album's ready photos read-only; every byte it serves is
checked against the link (live, unlocked) and the album (the photo is in it and
ready) on each request, so revoking, trashing or removing stops it at once.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from picbucket.domain import (
    Album,
    Image,
    ImageStatus,
    InvalidInput,
    NotFound,
    Share,
    hash_secret,
    is_id,
    new_id,
)
from picbucket.ports import Backends
from picbucket.services.accounts import refusal
from picbucket.services.albums import get_album
from picbucket.services.images import get_image
from picbucket.services.passwords import MAX_LENGTH, MIN_LENGTH, hash_password
from picbucket.services.shares import derive_token, parse_expiry
from picbucket.settings import Settings

# A new link lives this long unless the owner picks another choice ("never" included).
DEFAULT_EXPIRY = "7d"
MAX_VIEWS = 1_000_000
GONE = "This link does not exist, has expired, or was revoked by its owner."


@dataclass(frozen=True)
class LinkOptions:
    """What the owner chose for a new link."""

    expiry: str = DEFAULT_EXPIRY
    password: str | None = None
    max_views: int | None = None
    # Album links: serve originals too (else display renditions only).
    allow_originals: bool = False


@dataclass(frozen=True)
class OpenedLink:
    """A live link a visitor opened, with what it points at (exactly one of the two)."""

    share: Share
    image: Image | None
    album: Album | None


@dataclass(frozen=True)
class NewLink:
    """A just-created link; the token exists only here and in the owner's hands."""

    share: Share
    token: str
    image: Image | None
    album: Album | None


def check_options(options: LinkOptions) -> timedelta | None:
    """Return the link's lifetime (None: never); ``InvalidInput`` for a bad expiry or limit.

    Callers that create things for a link (an album of a selection) check first, so
    a refused link leaves nothing behind.
    """
    expires_in = parse_expiry(options.expiry or DEFAULT_EXPIRY)
    if options.max_views is not None and not 1 <= options.max_views <= MAX_VIEWS:
        raise InvalidInput(f"A view limit is between 1 and {MAX_VIEWS:,}.")
    if options.password is not None and not MIN_LENGTH <= len(options.password) <= MAX_LENGTH:
        raise InvalidInput(f"A link password needs {MIN_LENGTH} to {MAX_LENGTH} characters.")
    return expires_in


def create_link(
    backends: Backends,
    owner_id: str,
    options: LinkOptions,
    *,
    image_id: str | None = None,
    album_id: str | None = None,
    token_key: str | None = None,
) -> NewLink:
    """Create a link to one of the owner's images or albums with ``options``."""
    expires_in = check_options(options)
    image = get_image(backends, owner_id, image_id) if image_id is not None else None
    album = get_album(backends, owner_id, album_id) if album_id is not None else None
    if (image is None) == (album is None):
        raise InvalidInput("A link points at one image or one album.")
    share_id = new_id()
    token = derive_token(token_key, share_id) if token_key else new_id()
    now = backends.clock()
    share = Share(
        id=share_id,
        owner_id=owner_id,
        image_id=image.id if image else "",
        album_id=album.id if album else None,
        token_hash=hash_secret(token),
        created=now,
        expires=None if expires_in is None else now + expires_in,
        password_hash=hash_password(options.password) if options.password else None,
        epoch=new_id(),
        max_views=options.max_views,
        # An image link's whole point is its original; album links opt in.
        allow_originals=True if image else options.allow_originals,
    )
    backends.shares.add(share)
    return NewLink(share, token, image, album)


def require_owner_allowed(backends: Backends, settings: Settings, share: Share) -> None:
    """Raise ``NotFound`` unless the link's owner may still use this Picbucket.

    A disabled owner, one being deleted or one no longer on the allow-lists shares
    nothing; the links come back if an administrator enables the owner again.
    """
    owner = backends.users.get(share.owner_id)
    if owner is None or refusal(settings, owner) is not None:
        # The same answer as an unknown link: a visitor learns nothing about the owner.
        raise NotFound(GONE)


def open_link(
    backends: Backends, settings: Settings, token: str, *, viewed: bool = False
) -> OpenedLink:
    """Return a live link and its ready image or its album, or raise ``NotFound``
    (revoked, expired, used up, unknown, or an owner who may no longer share).

    ``viewed``: the visitor holds a counted view, so the view limit is not checked.
    """
    share = backends.shares.by_token_hash(hash_secret(token)) if is_id(token) else None
    if share is None or not share.is_live(backends.clock(), viewed=viewed):
        raise NotFound(GONE)
    require_owner_allowed(backends, settings, share)
    if share.album_id:
        album = backends.albums.get(share.owner_id, share.album_id)
        if album is None:
            raise NotFound(GONE)
        return OpenedLink(share, None, album)
    image = backends.images.get(share.owner_id, share.image_id)
    if image is None or image.status is not ImageStatus.READY:
        raise NotFound(GONE)
    return OpenedLink(share, image, None)


def use_view(backends: Backends, share: Share) -> None:
    """Count one view of ``share``; ``NotFound`` if its view limit is used up."""
    if not backends.shares.count_view(share.id):
        raise NotFound(GONE)


def shared_album_image(backends: Backends, album: Album, image_id: str) -> Image:
    """Return a ready photo of the shared album, or ``NotFound``."""
    if not is_id(image_id) or image_id not in backends.albums.item_ids(album.owner_id, album.id):
        raise NotFound("No such photo in this album.")
    image = backends.images.get(album.owner_id, image_id)
    if image is None or image.status is not ImageStatus.READY:
        raise NotFound("No such photo in this album.")
    return image


def set_link_password(
    backends: Backends, owner_id: str, share_id: str, password: str | None
) -> Share:
    """Set, change or remove a link's password; everyone unlocked before is cut off."""
    password_hash = hash_password(password) if password else None
    if not is_id(share_id) or not backends.shares.set_password(
        owner_id, share_id, password_hash, new_id()
    ):
        raise NotFound("No such share link.")
    share = backends.shares.get(owner_id, share_id)
    assert share is not None
    return share


def album_links(backends: Backends, owner_id: str, album_id: str) -> list[Share]:
    """Return the owner's links to one album, newest first."""
    return [share for share in backends.shares.for_owner(owner_id) if share.album_id == album_id]
