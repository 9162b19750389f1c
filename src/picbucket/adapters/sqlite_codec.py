"""SQLite rows to records and back: timestamps, users, images (and their variants), shares, tokens.

Timestamps are stored as one fixed-width UTC text, so text order is time order;
``_ts``, ``_dt`` and ``_req_dt`` are shared by the SQLite repositories, albums and
idempotency keys included.
"""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime
from typing import Any

from picbucket import search
from picbucket.cursors import ORDER_TAKEN, sort_key
from picbucket.domain import ApiToken, Image, ImageStatus, Quota, Share, Usage, User, Variant


def _ts(value: datetime | None) -> str | None:
    # One fixed-width UTC format, so text order is time order in every query.
    return None if value is None else value.astimezone(UTC).isoformat(timespec="microseconds")


def _dt(value: str | None) -> datetime | None:
    return None if value is None else datetime.fromisoformat(value)


def _req_dt(value: str) -> datetime:
    return datetime.fromisoformat(value)


def _user(row: sqlite3.Row) -> User:
    quota = (
        Quota(max_bytes=row["quota_bytes"], max_images=row["quota_images"])
        if row["quota_bytes"] is not None
        else None
    )
    return User(
        id=row["id"],
        issuer=row["issuer"],
        subject=row["subject"],
        email=row["email"],
        name=row["name"],
        created=_req_dt(row["created"]),
        session_epoch=row["session_epoch"],
        usage=Usage(bytes=row["used_bytes"], images=row["image_count"]),
        role=row["role"],
        disabled=bool(row["disabled"]),
        deleting=bool(row["deleting"]),
        quota=quota,
        last_sign_in=_dt(row["last_sign_in"]),
        hosted_domain=row["hosted_domain"],
    )


# (column suffix, Variant attribute): image columns are <variant>_<suffix>.
_VARIANT_COLUMNS = (
    ("key", "key"),
    ("type", "content_type"),
    ("size", "size"),
    ("sha256", "sha256"),
    ("width", "width"),
    ("height", "height"),
)


def _image_columns(image: Image) -> dict[str, Any]:
    """Return the images row for ``image``, by column name."""
    display = image.display
    return {
        "owner_id": image.owner_id,
        "id": image.id,
        "title": image.title,
        "search_words": search.word_column(image.title),
        "width": image.width,
        "height": image.height,
        "original_key": image.original.key,
        "original_type": image.original.content_type,
        "original_size": image.original.size,
        "original_sha256": image.original.sha256,
        "original_width": image.original.width,
        "original_height": image.original.height,
        "thumb_key": image.thumbnail.key,
        "thumb_type": image.thumbnail.content_type,
        "thumb_size": image.thumbnail.size,
        "thumb_sha256": image.thumbnail.sha256,
        "thumb_width": image.thumbnail.width,
        "thumb_height": image.thumbnail.height,
        "display_key": display.key if display else None,
        "display_type": display.content_type if display else None,
        "display_size": display.size if display else None,
        "display_sha256": display.sha256 if display else None,
        "display_width": display.width if display else None,
        "display_height": display.height if display else None,
        "created": _ts(image.created),
        "taken_at": _ts(image.taken_at),
        "sort_at": _ts(sort_key(image, ORDER_TAKEN)),
        "status": image.status.value,
        "trashed_at": _ts(image.trashed_at),
    }


def _variant(row: sqlite3.Row, prefix: str) -> Variant:
    return Variant(
        key=row[f"{prefix}_key"],
        content_type=row[f"{prefix}_type"],
        size=row[f"{prefix}_size"],
        sha256=row[f"{prefix}_sha256"],
        width=row[f"{prefix}_width"],
        height=row[f"{prefix}_height"],
    )


def _image(row: sqlite3.Row) -> Image:
    return Image(
        id=row["id"],
        owner_id=row["owner_id"],
        title=row["title"],
        width=row["width"],
        height=row["height"],
        original=_variant(row, "original"),
        thumbnail=_variant(row, "thumb"),
        display=_variant(row, "display") if row["display_key"] is not None else None,
        created=_req_dt(row["created"]),
        taken_at=_dt(row["taken_at"]),
        status=ImageStatus(row["status"]),
        trashed_at=_dt(row["trashed_at"]),
    )


def _share(row: sqlite3.Row) -> Share:
    return Share(
        id=row["id"],
        owner_id=row["owner_id"],
        image_id=row["image_id"],
        token_hash=row["token_hash"],
        created=_req_dt(row["created"]),
        expires=_dt(row["expires"]),
        revoked=_dt(row["revoked"]),
        views=row["views"],
        album_id=row["album_id"],
        password_hash=row["password_hash"],
        epoch=row["epoch"],
        max_views=row["max_views"],
        allow_originals=bool(row["allow_originals"]),
    )


def _token(row: sqlite3.Row) -> ApiToken:
    return ApiToken(
        id=row["id"],
        owner_id=row["owner_id"],
        name=row["name"],
        token_hash=row["token_hash"],
        created=_req_dt(row["created"]),
        last_used=_dt(row["last_used"]),
    )
