"""Firestore documents to records and back: users, images (and their variants), shares, tokens.

Readers are tolerant of documents written by earlier releases: a field that did not
exist yet reads as its default. ``_dt`` is shared by every Firestore adapter.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from picbucket import search
from picbucket.cursors import ORDER_TAKEN, sort_key
from picbucket.domain import ApiToken, Image, ImageStatus, Quota, Share, Usage, User, Variant


def _dt(value: Any) -> datetime:
    """Return a plain aware datetime (Firestore hands back a nanosecond subclass)."""
    if not isinstance(value, datetime):
        raise TypeError(f"expected a timestamp, got {type(value).__name__}")
    return (
        datetime(
            value.year,
            value.month,
            value.day,
            value.hour,
            value.minute,
            value.second,
            value.microsecond,
            tzinfo=UTC,
        )
        if value.tzinfo is not None
        else value.replace(tzinfo=UTC)
    )


def _opt_dt(value: Any) -> datetime | None:
    return None if value is None else _dt(value)


def _user_doc(user: User) -> dict[str, Any]:
    return {
        "issuer": user.issuer,
        "subject": user.subject,
        "email": user.email,
        "name": user.name,
        "created": user.created,
        "session_epoch": user.session_epoch,
        "usage_bytes": user.usage.bytes,
        "usage_images": user.usage.images,
        "role": user.role,
        "disabled": user.disabled,
        "deleting": user.deleting,
        "quota_bytes": user.quota.max_bytes if user.quota else None,
        "quota_images": user.quota.max_images if user.quota else None,
        "last_sign_in": user.last_sign_in,
        "hosted_domain": user.hosted_domain,
    }


def _usage(data: dict[str, Any]) -> Usage:
    return Usage(bytes=int(data.get("usage_bytes", 0)), images=int(data.get("usage_images", 0)))


def _user(snap: Any) -> User:
    data = snap.to_dict() or {}
    return User(
        id=snap.id,
        issuer=data["issuer"],
        subject=data["subject"],
        email=data["email"],
        name=data["name"],
        created=_dt(data["created"]),
        session_epoch=data["session_epoch"],
        usage=_usage(data),
        # Documents written before roles and account states existed read as defaults.
        role=data.get("role", "user"),
        disabled=bool(data.get("disabled", False)),
        deleting=bool(data.get("deleting", False)),
        quota=(
            Quota(max_bytes=int(data["quota_bytes"]), max_images=int(data["quota_images"]))
            if data.get("quota_bytes") is not None
            else None
        ),
        last_sign_in=_opt_dt(data.get("last_sign_in")),
        hosted_domain=data.get("hosted_domain", ""),
    )


def _variant_doc(variant: Variant) -> dict[str, Any]:
    return {
        "key": variant.key,
        "content_type": variant.content_type,
        "size": variant.size,
        "sha256": variant.sha256,
        "width": variant.width,
        "height": variant.height,
    }


def _variant(data: dict[str, Any]) -> Variant:
    # width/height are absent from documents written before pipeline v2: 0 = unknown.
    return Variant(
        key=data["key"],
        content_type=data["content_type"],
        size=int(data["size"]),
        sha256=data["sha256"],
        width=int(data.get("width", 0)),
        height=int(data.get("height", 0)),
    )


def _image_doc(image: Image) -> dict[str, Any]:
    return {
        "owner_id": image.owner_id,
        "title": image.title,
        "search_terms": search.prefix_terms(image.title),
        "width": image.width,
        "height": image.height,
        "original": _variant_doc(image.original),
        "thumbnail": _variant_doc(image.thumbnail),
        "display": _variant_doc(image.display) if image.display else None,
        "created": image.created,
        "taken_at": image.taken_at,
        # Stored, not computed: Firestore can only order by a field that is there.
        "sort_at": sort_key(image, ORDER_TAKEN),
        "status": image.status.value,
        "trashed_at": image.trashed_at,
        # Top level: the nested variant maps are not indexed (firestore.indexes.json).
        "sha256": image.original.sha256,
    }


def _image(snap: Any) -> Image:
    # Tolerant of documents from before display/taken_at existed: they read as None.
    data = snap.to_dict() or {}
    display = data.get("display")
    return Image(
        id=snap.id,
        owner_id=data["owner_id"],
        title=data["title"],
        width=int(data["width"]),
        height=int(data["height"]),
        original=_variant(data["original"]),
        thumbnail=_variant(data["thumbnail"]),
        display=_variant(display) if display else None,
        created=_dt(data["created"]),
        taken_at=_opt_dt(data.get("taken_at")),
        status=ImageStatus(data["status"]),
        trashed_at=_opt_dt(data.get("trashed_at")),
    )


def _share_doc(share: Share) -> dict[str, Any]:
    return {
        "owner_id": share.owner_id,
        "image_id": share.image_id,
        "token_hash": share.token_hash,
        "created": share.created,
        "expires": share.expires,
        "revoked": share.revoked,
        "views": share.views,
        "album_id": share.album_id,
        "password_hash": share.password_hash,
        "epoch": share.epoch,
        "max_views": share.max_views,
        "allow_originals": share.allow_originals,
    }


def _share(snap: Any) -> Share:
    data = snap.to_dict() or {}
    return Share(
        id=snap.id,
        owner_id=data["owner_id"],
        image_id=data["image_id"],
        token_hash=data["token_hash"],
        created=_dt(data["created"]),
        expires=_opt_dt(data.get("expires")),
        revoked=_opt_dt(data.get("revoked")),
        # Documents written before view counting have no field: none counted yet.
        views=int(data.get("views") or 0),
        # Documents from before album links, passwords and view limits: the defaults.
        album_id=data.get("album_id"),
        password_hash=data.get("password_hash"),
        epoch=str(data.get("epoch") or ""),
        max_views=data.get("max_views"),
        allow_originals=bool(data.get("allow_originals", True)),
    )


def _token_doc(token: ApiToken) -> dict[str, Any]:
    return {
        "owner_id": token.owner_id,
        "name": token.name,
        "token_hash": token.token_hash,
        "created": token.created,
        "last_used": token.last_used,
    }


def _token(snap: Any) -> ApiToken:
    data = snap.to_dict() or {}
    return ApiToken(
        id=snap.id,
        owner_id=data["owner_id"],
        name=data["name"],
        token_hash=data["token_hash"],
        created=_dt(data["created"]),
        last_used=_opt_dt(data.get("last_used")),
    )
