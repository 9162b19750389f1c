"""ShareRepository on Firestore: ``shares/{share_id}``, top level.

Top level because a visitor's link is looked up by its token hash before anyone's id
is known; every owner operation checks ``owner_id`` on the document it reads.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING, Any

from picbucket.adapters.firestore_codec import _share, _share_doc
from picbucket.adapters.firestore_collections import SHARES, _delete_all, _first_with
from picbucket.adapters.firestore_errors import _translate
from picbucket.domain import BackendUnavailable, Share

if TYPE_CHECKING:
    from google.cloud.firestore import Client


class FirestoreShares:
    """``ShareRepository`` over ``shares/{share_id}``."""

    def __init__(self, client: Client) -> None:
        self._client = client

    def add(self, share: Share) -> None:
        """Insert a share link (create-only)."""
        with _translate(conflict="That share link already exists."):
            self._client.collection(SHARES).document(share.id).create(_share_doc(share))

    def by_token_hash(self, token_hash: str) -> Share | None:
        """Return the share with this token hash, live or not."""
        snap = _first_with(self._client, SHARES, "token_hash", token_hash)
        return _share(snap) if snap else None

    def for_owner(self, owner_id: str, image_id: str | None = None) -> list[Share]:
        """Return the owner's shares (optionally of one image), newest first."""
        from google.cloud import firestore
        from google.cloud.firestore_v1.base_query import FieldFilter

        query = self._client.collection(SHARES).where(
            filter=FieldFilter("owner_id", "==", owner_id)
        )
        if image_id is not None:
            query = query.where(filter=FieldFilter("image_id", "==", image_id))
        query = query.order_by("created", direction=firestore.Query.DESCENDING)
        with _translate():
            return [_share(snap) for snap in query.stream()]

    def get(self, owner_id: str, share_id: str) -> Share | None:
        """Return one of the owner's shares, or None."""
        with _translate():
            snap = self._client.collection(SHARES).document(share_id).get()
        if not snap.exists:
            return None
        share = _share(snap)
        return share if share.owner_id == owner_id else None

    def revoke(self, owner_id: str, share_id: str, when: datetime) -> bool:
        """Mark a share revoked; return False if the owner has no such share."""
        # Keep the first revocation time: revoking twice is not news.
        return self._update_owned(
            owner_id,
            share_id,
            lambda doc: {} if doc.get("revoked") is not None else {"revoked": when},
        )

    def remove_for_image(self, owner_id: str, image_id: str) -> None:
        """Delete every share of an image."""
        self._remove_where(owner_id, "image_id", image_id)

    def set_password(
        self, owner_id: str, share_id: str, password_hash: str | None, epoch: str
    ) -> bool:
        """Replace a share's password hash and epoch; False if the owner has no such share."""
        return self._update_owned(
            owner_id, share_id, lambda _doc: {"password_hash": password_hash, "epoch": epoch}
        )

    def remove_for_album(self, owner_id: str, album_id: str) -> None:
        """Delete every link to an album."""
        self._remove_where(owner_id, "album_id", album_id)

    def _update_owned(
        self,
        owner_id: str,
        share_id: str,
        changes: Callable[[dict[str, Any]], dict[str, Any]],
    ) -> bool:
        """Apply ``changes(current doc)`` to one of the owner's shares in a transaction.

        Return False (and change nothing) if the owner has no such share.
        """
        from google.cloud import firestore

        ref = self._client.collection(SHARES).document(share_id)

        @firestore.transactional
        def run(transaction: Any) -> bool:
            snap = ref.get(transaction=transaction)
            doc = (snap.to_dict() or {}) if snap.exists else {}
            if not snap.exists or doc.get("owner_id") != owner_id:
                return False
            update = changes(doc)
            if update:
                transaction.update(ref, update)
            return True

        with _translate():
            result: bool = run(self._client.transaction())
        return result

    def _remove_where(self, owner_id: str, field: str, value: str) -> None:
        """Delete the owner's shares whose ``field`` equals ``value``."""
        from google.cloud.firestore_v1.base_query import FieldFilter

        # Two equality filters: served by merging single-field indexes, no composite.
        query = (
            self._client.collection(SHARES)
            .where(filter=FieldFilter("owner_id", "==", owner_id))
            .where(filter=FieldFilter(field, "==", value))
        )
        with _translate():
            _delete_all(self._client, [snap.reference for snap in query.stream()])

    def count_view(self, share_id: str) -> bool:
        """Use one of a share's views; False if none is left (or no such share).

        Optimistic: the write carries the read's update time as a precondition, so of
        parallel opens of the last view one write lands and the others re-read and
        find none left. (A transaction does the same with locks, slower under load.)
        """
        from google.api_core import exceptions as gexc

        ref = self._client.collection(SHARES).document(share_id)
        with _translate():
            for _ in range(_COUNT_VIEW_ATTEMPTS):
                snap = ref.get()
                if not snap.exists:
                    return False  # revoked and deleted with its image since it was opened
                doc = snap.to_dict() or {}
                views, limit = int(doc.get("views", 0)), doc.get("max_views")
                if limit is not None and views >= limit:
                    return False
                precondition = self._client.write_option(last_update_time=snap.update_time)
                try:
                    ref.update({"views": views + 1}, option=precondition)
                except gexc.FailedPrecondition:
                    continue  # another open counted first: read again
                return True
        raise BackendUnavailable("Too many people are opening this link at once; try again.")


# Re-reads a view may take against parallel opens before the store is called busy.
_COUNT_VIEW_ATTEMPTS = 50
