"""Shared presentation helpers: how an image or share is shown and linked."""

from __future__ import annotations

from typing import Any

from flask import url_for
from markupsafe import escape

from picbucket.domain import Image, Quota, Share, Usage
from picbucket.filenames import extension_of
from picbucket.services.shares import share_record
from picbucket.services.uploads import quota_for
from picbucket.web.context import backends, settings

# Re-exported under the name the web modules use.
extension = extension_of


def variant_url(image: Image, name: str, *, external: bool = False) -> str:
    """Return the owner's URL of one stored file: "original", "display" or "thumb"."""
    variant = {"original": image.original, "display": image.shown, "thumb": image.thumbnail}[name]
    if name == "display" and image.display is None:
        name = "original"
    return url_for(
        "gallery.image_bytes",
        image_id=image.id,
        variant=name,
        ext=extension(variant),
        _external=external,
    )


def image_urls(image: Image) -> dict[str, str]:
    """Return the absolute page, bytes, display and thumbnail URLs of an owner's image."""
    return {
        "page_url": url_for("gallery.image_page", image_id=image.id, _external=True),
        "image_url": variant_url(image, "original", external=True),
        "display_url": variant_url(image, "display", external=True),
        "thumbnail_url": variant_url(image, "thumb", external=True),
    }


def image_json(image: Image, urls: dict[str, str] | None = None) -> dict[str, Any]:
    """Return the API representation of an image (``urls``: its ``image_urls``, if known)."""
    width, height = thumb_size(image)
    return {
        "id": image.id,
        "title": image.title,
        "width": image.width,
        "height": image.height,
        "bytes": image.original.size,
        "content_type": image.original.content_type,
        "created": image.created.isoformat(),
        "taken_at": image.taken_at.isoformat() if image.taken_at else None,
        "thumbnail_width": width,
        "thumbnail_height": height,
        **(urls if urls is not None else image_urls(image)),
    }


def share_urls(image: Image, token: str) -> dict[str, str]:
    """Return the public page, direct image (original) and display URLs of a share link."""
    return {
        "share_url": url_for("share.page", token=token, _external=True),
        "share_image_url": url_for(
            "share.image", token=token, ext=extension(image.original), _external=True
        ),
        "share_display_url": url_for(
            "share.display", token=token, ext=extension(image.shown), _external=True
        ),
    }


def share_links(image: Image, token: str) -> dict[str, str]:
    """Return every way to hand out a share link, labelled for the page's copy boxes."""
    urls = share_urls(image, token)
    image_url = urls["share_image_url"]
    alt = str(escape(image.title))
    title = image.title.replace("\\", "\\\\").replace("[", "\\[").replace("]", "\\]")
    return {
        "Share link": urls["share_url"],
        "Direct image": image_url,
        "Markdown": f"![{title}]({image_url})",
        "HTML": f'<img src="{image_url}" alt="{alt}">',
    }


def share_json(share: Share) -> dict[str, Any]:
    """Return the API representation of a share link (its token is never stored)."""
    return share_record(share)


def owner_quota_json(owner_id: str) -> dict[str, Any]:
    """Return the person's usage against their own quota (one user record read)."""
    # An administrator's per-person quota lives on the user record, beside the usage.
    user = backends().users.get(owner_id)
    return quota_json(user.usage if user else Usage(), quota_for(settings(), user))


def quota_json(usage: Usage, quota: Quota) -> dict[str, Any]:
    """Return usage against ``quota``, for the upload page and the API."""
    return {
        "used_bytes": usage.bytes,
        "max_bytes": quota.max_bytes,
        "used_images": usage.images,
        "max_images": quota.max_images,
        "remaining_bytes": max(0, quota.max_bytes - usage.bytes),
        "max_upload_bytes": settings().max_upload_bytes,
    }


def thumb_size(image: Image) -> tuple[int, int]:
    """Return the thumbnail's pixel size, so the page reserves space before it loads."""
    if image.thumbnail.width:
        return image.thumbnail.width, image.thumbnail.height
    # Records from before pipeline v2 do not say; their thumbnails fit a 400 px box.
    scale = min(1.0, 400 / max(image.width, image.height, 1))
    return max(1, round(image.width * scale)), max(1, round(image.height * scale))
