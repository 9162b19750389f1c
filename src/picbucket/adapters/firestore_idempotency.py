"""IdempotencyKeys on Firestore: ``users/{owner}/idempotency/{sha256(key)}``.

The document id is a hash because a client's key may hold ``/`` or be long. Each
document carries ``expires_at`` (created + 24 h) for a Firestore TTL policy on the
``idempotency`` collection group, which deletes expired keys without a job; readers
treat an expired key as absent, since TTL deletion can lag by a day.
"""

from __future__ import annotations

import hashlib
from datetime import datetime
from typing import TYPE_CHECKING, Any

from picbucket.adapters.firestore_codec import _dt
from picbucket.adapters.firestore_collections import USERS
from picbucket.adapters.firestore_errors import _translate
from picbucket.ports import IdempotencyRecord

if TYPE_CHECKING:
    from google.cloud.firestore import Client, DocumentReference

IDEMPOTENCY = "idempotency"


class FirestoreIdempotency:
    """Claims are transactions on the key's own document: only same-key retries meet."""

    def __init__(self, client: Client, ttl_seconds: int = 24 * 3600) -> None:
        self._client = client
        self._ttl_seconds = ttl_seconds

    def _ref(self, owner_id: str, key: str) -> DocumentReference:
        doc_id = hashlib.sha256(key.encode()).hexdigest()
        ref: DocumentReference = (
            self._client.collection(USERS)
            .document(owner_id)
            .collection(IDEMPOTENCY)
            .document(doc_id)
        )
        return ref

    def claim(self, record: IdempotencyRecord, stale_before: datetime) -> IdempotencyRecord:
        """Bind the key unless bound since ``stale_before``; return the binding in force."""
        from google.cloud import firestore

        ref = self._ref(record.owner_id, record.key)

        @firestore.transactional
        def run(transaction: Any) -> IdempotencyRecord:
            snap = ref.get(transaction=transaction)
            if snap.exists:
                current = _record(record.owner_id, snap.to_dict() or {})
                if current.created >= stale_before:
                    return current
            transaction.set(ref, self._doc(record))
            return record

        with _translate():
            result: IdempotencyRecord = run(self._client.transaction())
        return result

    def rebind(self, record: IdempotencyRecord, expected_image_id: str) -> bool:
        """Move the key to ``record.image_id`` if it still points at ``expected_image_id``."""
        from google.cloud import firestore

        ref = self._ref(record.owner_id, record.key)

        @firestore.transactional
        def run(transaction: Any) -> bool:
            snap = ref.get(transaction=transaction)
            if not snap.exists or (snap.to_dict() or {}).get("image_id") != expected_image_id:
                return False
            transaction.set(ref, self._doc(record))
            return True

        with _translate():
            return bool(run(self._client.transaction()))

    def purge(self, before: datetime) -> int:
        """Delete bindings created before ``before`` (where no TTL policy is set up)."""
        from google.cloud.firestore_v1.base_query import FieldFilter

        query = self._client.collection_group(IDEMPOTENCY).where(
            filter=FieldFilter("created", "<", before)
        )
        deleted = 0
        with _translate():
            for snap in query.stream():
                snap.reference.delete()
                deleted += 1
        return deleted

    def _doc(self, record: IdempotencyRecord) -> dict[str, Any]:
        from datetime import timedelta

        return {
            "key": record.key,
            "image_id": record.image_id,
            "fingerprint": record.fingerprint,
            "created": record.created,
            "expires_at": record.created + timedelta(seconds=self._ttl_seconds),
        }


def _record(owner_id: str, data: dict[str, Any]) -> IdempotencyRecord:
    return IdempotencyRecord(
        owner_id=owner_id,
        key=data["key"],
        image_id=data["image_id"],
        fingerprint=data["fingerprint"],
        created=_dt(data["created"]),
    )
