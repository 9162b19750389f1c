"""TokenRepository on Firestore: ``tokens/{token_id}``, top level.

Top level because a bearer token is looked up by its hash before its owner is known.
"""

from __future__ import annotations

import contextlib
from datetime import datetime
from typing import TYPE_CHECKING, Any

from picbucket.adapters.firestore_codec import _token, _token_doc
from picbucket.adapters.firestore_collections import TOKENS, _delete_all, _first_with
from picbucket.adapters.firestore_errors import _translate
from picbucket.domain import ApiToken

if TYPE_CHECKING:
    from google.cloud.firestore import Client


class FirestoreTokens:
    """``TokenRepository`` over ``tokens/{token_id}``."""

    def __init__(self, client: Client) -> None:
        self._client = client

    def add(self, token: ApiToken) -> None:
        """Insert a token record (create-only)."""
        with _translate(conflict="That token already exists."):
            self._client.collection(TOKENS).document(token.id).create(_token_doc(token))

    def by_hash(self, token_hash: str) -> ApiToken | None:
        """Return the token with this hash, or None."""
        snap = _first_with(self._client, TOKENS, "token_hash", token_hash)
        return _token(snap) if snap else None

    def for_owner(self, owner_id: str) -> list[ApiToken]:
        """Return the owner's tokens, newest first."""
        from google.cloud import firestore
        from google.cloud.firestore_v1.base_query import FieldFilter

        query = (
            self._client.collection(TOKENS)
            .where(filter=FieldFilter("owner_id", "==", owner_id))
            .order_by("created", direction=firestore.Query.DESCENDING)
        )
        with _translate():
            return [_token(snap) for snap in query.stream()]

    def revoke(self, owner_id: str, token_id: str) -> bool:
        """Delete a token; return False if the owner has no such token."""
        from google.cloud import firestore

        ref = self._client.collection(TOKENS).document(token_id)

        @firestore.transactional
        def run(transaction: Any) -> bool:
            snap = ref.get(transaction=transaction)
            if not snap.exists or (snap.to_dict() or {}).get("owner_id") != owner_id:
                return False
            transaction.delete(ref)
            return True

        with _translate():
            result: bool = run(self._client.transaction())
        return result

    def remove_for_owner(self, owner_id: str) -> int:
        """Delete every token of the owner; return how many."""
        from google.cloud.firestore_v1.base_query import FieldFilter

        query = self._client.collection(TOKENS).where(
            filter=FieldFilter("owner_id", "==", owner_id)
        )
        with _translate():
            refs = [snap.reference for snap in query.stream()]
            _delete_all(self._client, refs)
        return len(refs)

    def touch(self, token_id: str, when: datetime) -> None:
        """Record that a token was just used; a revoked token is left alone."""
        from google.api_core import exceptions as gexc

        with contextlib.suppress(gexc.NotFound), _translate(passthrough=gexc.NotFound):
            self._client.collection(TOKENS).document(token_id).update({"last_used": when})
