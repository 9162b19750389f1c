"""Firestore queries behind the admin pages: people by email prefix, and the audit log.

Used by ``FirestoreUsers``. ``audit/{entry_id}`` is a top-level collection; both
listings are keyset pages (``start_after``) on single-field indexes, so any page of
10,000 people costs one query of ``limit + 1`` documents.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from picbucket.account_cursors import (
    decode_audit_cursor,
    decode_people_cursor,
    encode_audit_cursor,
    encode_people_cursor,
)
from picbucket.adapters.firestore_codec import _dt
from picbucket.domain import AuditEntry, Page

if TYPE_CHECKING:
    from google.cloud.firestore import Client

AUDIT = "audit"
# Above every character an email holds: "prefix" <= email < prefix + this.
_PREFIX_END = "\uf8ff"


def search_query(client: Client, prefix: str, cursor: str | None, limit: int) -> Any:
    """Return the query for ``limit + 1`` users whose email starts with ``prefix``."""
    from google.cloud.firestore_v1.base_query import FieldFilter

    query: Any = client.collection("users")
    if prefix:
        query = query.where(filter=FieldFilter("email", ">=", prefix)).where(
            filter=FieldFilter("email", "<", prefix + _PREFIX_END)
        )
    query = query.order_by("email").order_by("__name__")
    if cursor:
        email, user_id = decode_people_cursor(cursor)
        query = query.start_after({"email": email, "__name__": user_id})
    return query.limit(limit + 1)


def next_people_cursor(emails_ids: list[tuple[str, str]], limit: int) -> str | None:
    """Return the cursor after ``limit`` of ``limit + 1`` fetched people, or None."""
    if len(emails_ids) <= limit:
        return None
    email, user_id = emails_ids[limit - 1]
    return encode_people_cursor(email, user_id)


def audit_ref(client: Client, entry: AuditEntry) -> Any:
    """Return the document an audit entry is written to."""
    return client.collection(AUDIT).document(entry.id)


def audit_doc(entry: AuditEntry) -> dict[str, Any]:
    """Return the stored form of an audit entry."""
    return {
        "at": entry.when,
        "actor_id": entry.actor_id,
        "actor_email": entry.actor_email,
        "action": entry.action,
        "target_id": entry.target_id,
        "target_email": entry.target_email,
        "detail": entry.detail,
    }


def audit_page(client: Client, cursor: str | None, limit: int) -> Page[AuditEntry]:
    """Return audit records newest first, after ``cursor``."""
    from google.cloud import firestore

    query = (
        client.collection(AUDIT)
        .order_by("at", direction=firestore.Query.DESCENDING)
        .order_by("__name__", direction=firestore.Query.DESCENDING)
    )
    if cursor:
        when, entry_id = decode_audit_cursor(cursor)
        query = query.start_after({"at": when, "__name__": entry_id})
    entries = [_entry(snap) for snap in query.limit(limit + 1).stream()]
    if len(entries) <= limit:
        return Page(entries, None)
    last = entries[limit - 1]
    return Page(entries[:limit], encode_audit_cursor(last.when, last.id))


def _entry(snap: Any) -> AuditEntry:
    data = snap.to_dict() or {}
    return AuditEntry(
        id=snap.id,
        when=_dt(data["at"]),
        actor_id=data["actor_id"],
        actor_email=data["actor_email"],
        action=data["action"],
        target_id=data["target_id"],
        target_email=data["target_email"],
        detail=data.get("detail", ""),
    )
