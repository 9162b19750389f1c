"""Public share links: expiry choices, tokens, the owner's list, revoke (see services.links)."""

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
)
from picbucket.ports import Backends

# The choices the owner is offered; None means the link lives until revoked.
EXPIRY_CHOICES: dict[str, timedelta | None] = {
    "1h": timedelta(hours=1),
    "1d": timedelta(days=1),
    "7d": timedelta(days=7),
    "30d": timedelta(days=30),
    "never": None,
}
EXPIRY_LABELS = {"1h": "1 hour", "1d": "1 day", "7d": "7 days", "30d": "30 days", "never": "Never"}


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


def revoke_share(backends: Backends, owner_id: str, share_id: str) -> Share:
    """Revoke one of the owner's links; ``NotFound`` for anyone else's."""
    if not is_id(share_id) or not backends.shares.revoke(owner_id, share_id, backends.clock()):
        raise NotFound("No such share link.")
    share = backends.shares.get(owner_id, share_id)
    assert share is not None
    return share
