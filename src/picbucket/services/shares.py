"""Public share links: create, open, list, revoke."""

from __future__ import annotations

import base64
import hashlib
import hmac
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

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
from picbucket.services.images import get_image
from picbucket.settings import Settings

# The choices the owner is offered; None means the link lives until revoked.
EXPIRY_CHOICES: dict[str, timedelta | None] = {
    "1h": timedelta(hours=1),
    "1d": timedelta(days=1),
    "7d": timedelta(days=7),
    "30d": timedelta(days=30),
    "never": None,
}
EXPIRY_LABELS = {"1h": "1 hour", "1d": "1 day", "7d": "7 days", "30d": "30 days", "never": "Never"}


@dataclass(frozen=True)
class NewShare:
    """A just-created link: the token exists only here and in the owner's hands."""

    share: Share
    token: str
    image: Image


def parse_expiry(choice: str) -> timedelta | None:
    """Return the lifetime an expiry choice means (None: never); ``InvalidInput`` if unknown."""
    if choice not in EXPIRY_CHOICES:
        raise InvalidInput(f"Choose how long the link works: one of {', '.join(EXPIRY_CHOICES)}.")
    return EXPIRY_CHOICES[choice]


@dataclass(frozen=True)
class SharedLink:
    """One of the owner's links as the "Shared links" page lists it.

    ``token`` is None for links made before tokens were derived (or under another
    secret key): they still open, but cannot be shown again.
    """

    share: Share
    # The linked image, or an album link's cover (None: an album without one).
    image: Image | None
    token: str | None
    album: Album | None = None


def derive_token(key: str, share_id: str) -> str:
    """Return a share's token: HMAC-SHA256(app secret key, share id), 128 bits, id-shaped.

    Derived, not stored: the record keeps only the token's hash (a stolen database
    opens no link), yet the owner can copy the link again at any time.
    """
    mac = hmac.new(key.encode(), b"picbucket-share-token:" + share_id.encode(), hashlib.sha256)
    return base64.urlsafe_b64encode(mac.digest()[:16]).decode().rstrip("=")


def recover_token(key: str, share: Share) -> str | None:
    """Return a share's token if it was derived with ``key``, else None (re-create to copy)."""
    token = derive_token(key, share.id)
    return token if hmac.compare_digest(hash_secret(token), share.token_hash) else None


def create_share(
    backends: Backends, owner_id: str, image_id: str, expiry: str, token_key: str | None = None
) -> NewShare:
    """Create a link to the owner's image that lives for ``expiry`` (see EXPIRY_CHOICES).

    With ``token_key`` (the app's secret key) the token is derived from the share id
    so the link can be copied again; without it the token is random and shown once.
    """
    expires_in = parse_expiry(expiry)
    image = get_image(backends, owner_id, image_id)
    share_id = new_id()
    # 128 bits either way; only the token's hash is stored.
    token = derive_token(token_key, share_id) if token_key else new_id()
    now = backends.clock()
    share = Share(
        id=share_id,
        owner_id=owner_id,
        image_id=image_id,
        token_hash=hash_secret(token),
        created=now,
        expires=None if expires_in is None else now + expires_in,
    )
    backends.shares.add(share)
    return NewShare(share, token, image)


GONE = "This link does not exist, has expired, or was revoked by its owner."


def require_owner_allowed(backends: Backends, settings: Settings, share: Share) -> None:
    """Raise ``NotFound`` unless the link's owner may still use this Picbucket.

    A disabled owner, one being deleted or one no longer on the allow-lists shares
    nothing; the links come back if an administrator enables the owner again.
    """
    owner = backends.users.get(share.owner_id)
    if owner is None or refusal(settings, owner) is not None:
        # The same answer as an unknown link: a visitor learns nothing about the owner.
        raise NotFound(GONE)


def open_share(
    backends: Backends, settings: Settings, token: str, *, page_opened: bool = False
) -> tuple[Share, Image]:
    """Return a live share and its image, or raise ``NotFound`` (revoked, expired, unknown,
    or an owner who is disabled, being deleted or no longer allowed).

    ``page_opened``: for the bytes of a page already opened (``Share.is_live``).
    """
    share = backends.shares.by_token_hash(hash_secret(token)) if is_id(token) else None
    now = backends.clock()
    # An album link (services.links) has no image of its own: not one of these.
    if share is None or share.album_id or not share.is_live(now, page_opened=page_opened):
        raise NotFound(GONE)
    require_owner_allowed(backends, settings, share)
    image = backends.images.get(share.owner_id, share.image_id)
    if image is None or image.status is not ImageStatus.READY:
        raise NotFound(GONE)
    return share, image


def share_record(share: Share) -> dict[str, Any]:
    """Return a link as plain JSON data, for the API and the export (never its token)."""
    return {
        "id": share.id,
        "image_id": share.image_id,
        "album_id": share.album_id,
        "has_password": share.password_hash is not None,
        "max_views": share.max_views,
        "views": share.views,
        "created": share.created.isoformat(),
        "expires": share.expires.isoformat() if share.expires else None,
        "revoked": share.revoked.isoformat() if share.revoked else None,
    }


def list_shares(backends: Backends, owner_id: str, image_id: str | None = None) -> list[Share]:
    """Return the owner's share links, newest first."""
    return backends.shares.for_owner(owner_id, image_id)


def active_links(backends: Backends, owner_id: str, token_key: str) -> list[SharedLink]:
    """Return the owner's live image and album links with their tokens, newest first."""
    now = backends.clock()
    links: list[SharedLink] = []
    images: dict[str, Image | None] = {}

    def ready_image(image_id: str) -> Image | None:
        if image_id not in images:
            found = backends.images.get(owner_id, image_id)
            ready = found is not None and found.status is ImageStatus.READY
            images[image_id] = found if ready else None
        return images[image_id]

    for share in backends.shares.for_owner(owner_id):
        if not share.is_live(now):
            continue
        token = recover_token(token_key, share)
        if share.album_id:
            album = backends.albums.get(owner_id, share.album_id)
            if album is not None:
                cover = ready_image(album.cover_id) if album.cover_id else None
                links.append(SharedLink(share, cover, token, album))
        elif (image := ready_image(share.image_id)) is not None:
            links.append(SharedLink(share, image, token))
    return links


def count_view(backends: Backends, share: Share) -> None:
    """Count one opening of a share page for its owner's list."""
    backends.shares.count_view(share.id)


def revoke_share(backends: Backends, owner_id: str, share_id: str) -> Share:
    """Revoke one of the owner's links; ``NotFound`` for anyone else's."""
    if not is_id(share_id) or not backends.shares.revoke(owner_id, share_id, backends.clock()):
        raise NotFound("No such share link.")
    share = backends.shares.get(owner_id, share_id)
    assert share is not None
    return share
