"""UserRepository on Firestore: ``users/{user_id}``, and the admin queries through it.

The people search and the audit log are in ``firestore_people``.
"""

from __future__ import annotations

import contextlib
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from picbucket.adapters import firestore_people
from picbucket.adapters.firestore_codec import _user, _user_doc
from picbucket.adapters.firestore_collections import USERS
from picbucket.adapters.firestore_errors import _translate
from picbucket.domain import AccountChange, AuditEntry, Page, Usage, User

if TYPE_CHECKING:
    from google.cloud.firestore import Client


class FirestoreUsers:
    """``UserRepository`` over ``users/{user_id}``."""

    def __init__(self, client: Client) -> None:
        self._client = client

    def get(self, user_id: str) -> User | None:
        """Return the user, or None."""
        with _translate():
            snap = self._client.collection(USERS).document(user_id).get()
        return _user(snap) if snap.exists else None

    def upsert(self, user: User) -> User:
        """Create the user, or refresh what sign-in says (epoch and account state kept).

        An account being deleted is not refreshed: the caller sees ``deleting``.
        """
        from google.cloud import firestore

        ref = self._client.collection(USERS).document(user.id)
        signed_in = {
            "email": user.email,
            "name": user.name,
            "role": user.role,
            "last_sign_in": user.last_sign_in,
            "hosted_domain": user.hosted_domain,
        }

        @firestore.transactional
        def run(transaction: Any) -> User:
            snap = ref.get(transaction=transaction)
            if snap.exists:
                stored = _user(snap)
                if stored.deleting:
                    return stored
                transaction.update(ref, signed_in)
                return replace(
                    stored,
                    email=user.email,
                    name=user.name,
                    role=user.role,
                    last_sign_in=user.last_sign_in,
                    hosted_domain=user.hosted_domain,
                )
            transaction.create(ref, _user_doc(user))
            return replace(user, usage=Usage())

        with _translate():
            result: User = run(self._client.transaction())
        return result

    def set_session_epoch(self, user_id: str, epoch: str) -> None:
        """Replace the session epoch; a missing user is left alone."""
        from google.api_core import exceptions as gexc

        with contextlib.suppress(gexc.NotFound), _translate(passthrough=gexc.NotFound):
            self._client.collection(USERS).document(user_id).update({"session_epoch": epoch})

    def change_account(
        self, user_id: str, change: AccountChange, audit: AuditEntry | None = None
    ) -> User | None:
        """Apply ``change`` and write ``audit`` in one transaction; None if no such user."""
        from google.cloud import firestore

        ref = self._client.collection(USERS).document(user_id)
        sets: dict[str, Any] = {}
        if change.disabled is not None:
            sets["disabled"] = change.disabled
        if change.quota is not None:
            sets["quota_bytes"] = change.quota.max_bytes
            sets["quota_images"] = change.quota.max_images
        if change.default_quota:
            sets["quota_bytes"] = sets["quota_images"] = None
        if change.deleting:
            sets["deleting"] = True

        @firestore.transactional
        def run(transaction: Any) -> User | None:
            snap = ref.get(transaction=transaction)
            if not snap.exists:
                return None
            stored = _user(snap)
            if sets and not stored.deleting:
                transaction.update(ref, sets)
            if audit is not None:
                entry = firestore_people.audit_ref(self._client, audit)
                transaction.create(entry, firestore_people.audit_doc(audit))
            return stored

        with _translate():
            found = run(self._client.transaction())
        return None if found is None else self.get(user_id)

    def remove(self, user_id: str) -> None:
        """Delete the user document."""
        with _translate():
            self._client.collection(USERS).document(user_id).delete()

    def marked_deleting(self) -> list[User]:
        """Return every user whose account deletion has not finished."""
        from google.cloud.firestore_v1.base_query import FieldFilter

        query = self._client.collection(USERS).where(filter=FieldFilter("deleting", "==", True))
        with _translate():
            return [_user(snap) for snap in query.stream()]

    def search(self, prefix: str, cursor: str | None, limit: int) -> Page[User]:
        """Return users whose email starts with ``prefix``, by email then id."""
        query = firestore_people.search_query(self._client, prefix, cursor, limit)
        with _translate():
            users = [_user(snap) for snap in query.stream()]
        next_cursor = firestore_people.next_people_cursor([(u.email, u.id) for u in users], limit)
        return Page(users[:limit], next_cursor)

    def add_audit(self, entry: AuditEntry) -> None:
        """Append an audit record."""
        with _translate():
            firestore_people.audit_ref(self._client, entry).create(
                firestore_people.audit_doc(entry)
            )

    def audit_page(self, cursor: str | None, limit: int) -> Page[AuditEntry]:
        """Return audit records, newest first."""
        with _translate():
            return firestore_people.audit_page(self._client, cursor, limit)
