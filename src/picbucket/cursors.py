"""Opaque keyset cursors: (created, id) of the last item on a page.

Every record adapter pages newest-first by (created desc, id desc), so one cursor
format serves SQLite (``WHERE (created, id) < (?, ?)``) and Firestore
(``start_after``). Cursors are not secret: they only name a position in a listing
the caller may already read, and every query stays owner-scoped.
"""

from __future__ import annotations

import base64
import binascii
from datetime import UTC, datetime

from picbucket.domain import InvalidCursor


def encode_cursor(created: datetime, item_id: str) -> str:
    """Encode a listing position as a URL-safe string."""
    raw = f"{created.astimezone(UTC).isoformat()}|{item_id}".encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def decode_cursor(cursor: str) -> tuple[datetime, str]:
    """Decode a cursor from ``encode_cursor``; raise ``InvalidCursor`` if malformed."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        created_text, item_id = raw.split("|", 1)
        created = datetime.fromisoformat(created_text)
        if created.tzinfo is None or not item_id:
            raise ValueError("naive time or empty id")
        # Normalising here also rejects offsets that overflow (year 1, +23:59).
        created = created.astimezone(UTC)
    except (binascii.Error, UnicodeDecodeError, ValueError, OverflowError) as exc:
        raise InvalidCursor("That page link is not valid; start from the first page.") from exc
    return created, item_id
