"""Opaque keyset cursors for the admin listings: people by email, audit records by time.

Same idea as ``picbucket.cursors`` (the last item's sort key and id), with a kind
tag so a cursor of one listing given to the other is refused.
"""

from __future__ import annotations

import base64
import binascii
import json
from datetime import UTC, datetime

from picbucket.domain import InvalidCursor, is_id

_INVALID = "That page link is not valid; start from the first page."


def encode_people_cursor(email: str, user_id: str) -> str:
    """Encode a position in the people listing (email, then id)."""
    return _encode(["people", email, user_id])


def decode_people_cursor(cursor: str) -> tuple[str, str]:
    """Decode a people cursor to (email, id); ``InvalidCursor`` if it is not one."""
    kind, email, user_id = _decode(cursor)
    if kind != "people" or not is_id(user_id):
        raise InvalidCursor(_INVALID)
    return email, user_id


def encode_audit_cursor(when: datetime, entry_id: str) -> str:
    """Encode a position in the audit log (newest first)."""
    return _encode(["audit", when.astimezone(UTC).isoformat(), entry_id])


def decode_audit_cursor(cursor: str) -> tuple[datetime, str]:
    """Decode an audit cursor to (time, id); ``InvalidCursor`` if it is not one."""
    kind, when_text, entry_id = _decode(cursor)
    try:
        when = datetime.fromisoformat(when_text)
    except ValueError:
        raise InvalidCursor(_INVALID) from None
    if kind != "audit" or when.tzinfo is None or not is_id(entry_id):
        raise InvalidCursor(_INVALID)
    return when.astimezone(UTC), entry_id


def _encode(parts: list[str]) -> str:
    raw = json.dumps(parts, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _decode(cursor: str) -> tuple[str, str, str]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        parts = json.loads(raw)
    except (binascii.Error, ValueError):
        raise InvalidCursor(_INVALID) from None
    if not (isinstance(parts, list) and len(parts) == 3 and all(isinstance(p, str) for p in parts)):
        raise InvalidCursor(_INVALID)
    return parts[0], parts[1], parts[2]
