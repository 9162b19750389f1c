"""Opaque keyset cursors: the sort order, sort key and id of the last item on a page.

Every listing pages by (sort key desc, id desc), so one cursor format serves SQLite
(``WHERE key < ? OR (key = ? AND id < ?)``) and Firestore (``start_after``). A cursor
names its order, so a cursor of one order given to another is refused rather than
silently skipping or repeating items. Cursors are not secret: they only name a
position in a listing the caller may already read, and every query stays owner-scoped.
"""

from __future__ import annotations

import base64
import binascii
from datetime import UTC, datetime

from picbucket.domain import Image, InvalidCursor, InvalidInput, is_id

# Date taken (falling back to upload date) first: what a photo viewer shows by default.
ORDER_TAKEN = "taken"
ORDER_UPLOADED = "uploaded"
ORDERS = (ORDER_TAKEN, ORDER_UPLOADED)

_INVALID = "That page link is not valid; start from the first page."


def check_order(order: str) -> str:
    """Return ``order`` if it is a known sort order; raise ``InvalidInput`` if not."""
    if order not in ORDERS:
        raise InvalidInput(f"Unknown sort order {order!r}; use one of: {', '.join(ORDERS)}.")
    return order


def sort_key(image: Image, order: str) -> datetime:
    """Return what ``order`` sorts ``image`` by: date taken (else upload date), or upload date."""
    if check_order(order) == ORDER_TAKEN and image.taken_at is not None:
        return image.taken_at
    return image.created


def encode_cursor(order: str, key: datetime, item_id: str) -> str:
    """Encode a listing position in ``order`` as a URL-safe string."""
    raw = f"{check_order(order)}|{key.astimezone(UTC).isoformat()}|{item_id}".encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def decode_cursor(cursor: str, order: str) -> tuple[datetime, str]:
    """Decode a cursor of ``order`` to (sort key, id); raise ``InvalidCursor`` if it is not one.

    The id is checked here, before any backend sees it: Firestore turns it into a
    document path, and a crafted one (``a/b``, ``..``) must be a 400, not a 500.
    """
    check_order(order)
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        cursor_order, key_text, item_id = raw.split("|", 2)
        key = datetime.fromisoformat(key_text)
        if cursor_order != order or key.tzinfo is None or not is_id(item_id):
            raise ValueError("another order, a naive time or not an id")
        # Normalising here also rejects offsets that overflow (year 1, +23:59).
        key = key.astimezone(UTC)
    except (binascii.Error, UnicodeDecodeError, ValueError, OverflowError) as exc:
        raise InvalidCursor(_INVALID) from exc
    return key, item_id
