"""What the Firestore repositories share about collections: names, batch limits, bulk helpers.

The top-level collection names, how many documents one batched read or write takes,
and two operations on any collection: delete many documents in batched writes, and
find the first document whose field has a value.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from picbucket.adapters.firestore_errors import _translate

if TYPE_CHECKING:
    from google.cloud.firestore import Client, DocumentReference

USERS = "users"
IMAGES = "images"
SHARES = "shares"
TOKENS = "tokens"
# get_all batches: Firestore's BatchGetDocuments takes a few hundred refs happily;
# 300 keeps each request small when reconcile checks thousands of blob prefixes.
BATCH_GET = 300
# A batched write holds at most 500 operations.
BATCH_WRITE = 400


def _delete_all(client: Client, refs: list[DocumentReference]) -> None:
    for i in range(0, len(refs), BATCH_WRITE):
        batch = client.batch()
        for ref in refs[i : i + BATCH_WRITE]:
            batch.delete(ref)
        batch.commit()


def _first_with(client: Client, collection: str, field: str, value: str) -> Any:
    """Return the first document snapshot whose ``field`` equals ``value``, or None."""
    from google.cloud.firestore_v1.base_query import FieldFilter

    query = client.collection(collection).where(filter=FieldFilter(field, "==", value)).limit(1)
    with _translate():
        snaps = list(query.stream())
    return snaps[0] if snaps else None
