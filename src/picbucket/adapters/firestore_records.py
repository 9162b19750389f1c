"""Firestore records: the bundle of the four repositories, a health check and a backfill.

Layout (indexes in ``firestore.indexes.json``):

- ``users/{user_id}`` — profile, session epoch, and the usage counters the quota
  is checked against, changed only by atomic increments (see ``FirestoreImages.add``).
- ``users/{user_id}/images/{image_id}`` — image records; a subcollection, so every
  image read is owner-scoped by its path, not by a filter someone could forget.
- ``shares/{share_id}`` and ``tokens/{token_id}`` — top level, because a visitor's
  link or a bearer token is looked up by hash before anyone's id is known.

One module per job: the repositories are ``firestore_users``, ``firestore_images``,
``firestore_shares`` and ``firestore_tokens``; what they share is in
``firestore_collections`` (collection names, batch limits, bulk helpers),
``firestore_errors`` (Google errors to domain errors) and ``firestore_codec``
(documents to records and back).

``google.cloud`` is imported lazily: the local default never loads it.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

from picbucket import search
from picbucket.adapters.firestore_collections import BATCH_WRITE, IMAGES
from picbucket.adapters.firestore_errors import _translate
from picbucket.adapters.firestore_images import FirestoreImages
from picbucket.adapters.firestore_shares import FirestoreShares
from picbucket.adapters.firestore_tokens import FirestoreTokens
from picbucket.adapters.firestore_users import FirestoreUsers
from picbucket.settings import Settings

if TYPE_CHECKING:
    from google.cloud.firestore import Client


class FirestoreRecords:
    """All four repositories over one Firestore client, plus a health check."""

    def __init__(self, client: Client) -> None:
        """Use ``client`` (already pointed at a project and database)."""
        self.client = client
        self.users = FirestoreUsers(client)
        self.images = FirestoreImages(client)
        self.shares = FirestoreShares(client)
        self.tokens = FirestoreTokens(client)

    @classmethod
    def from_settings(cls, settings: Settings) -> FirestoreRecords:
        """Build a client; FIRESTORE_EMULATOR_HOST, if set, points it at the emulator."""
        from google.cloud import firestore

        project = settings.gcp_project or None
        if project is None and os.environ.get("FIRESTORE_EMULATOR_HOST"):
            project = "picbucket-emulated"
        client = firestore.Client(project=project, database=settings.firestore_database)
        return cls(client)

    def ping(self) -> None:
        """Raise ``BackendUnavailable`` if Firestore cannot be reached."""
        with _translate():
            # Reading a document that never exists costs one read and proves the
            # database answers with our credentials.
            self.client.collection("_health").document("ping").get(timeout=5)

    def backfill_sort_keys(self, batch_size: int = BATCH_WRITE) -> int:
        """Give image documents their missing ``sort_at`` and ``search_terms``; count changes.

        Documents written before ``sort_at`` existed are invisible to the "taken"
        listing (Firestore leaves documents without the ordered field out of a
        query). Idempotent and resumable: it writes only documents still lacking the
        field, a batch at a time, so it can be stopped and run again.
        """
        changed = 0
        last: Any = None
        while True:
            query = self.client.collection_group(IMAGES).order_by("__name__").limit(batch_size)
            if last is not None:
                query = query.start_after(last)
            with _translate():
                snaps = list(query.stream())
                batch = self.client.batch()
                pending = 0
                for snap in snaps:
                    data = snap.to_dict() or {}
                    changes: dict[str, Any] = {}
                    if data.get("sort_at") is None and "created" in data:
                        changes["sort_at"] = data.get("taken_at") or data["created"]
                    if "search_terms" not in data and "title" in data:
                        changes["search_terms"] = search.prefix_terms(data["title"])
                    if changes:
                        batch.update(snap.reference, changes)
                        pending += 1
                if pending:
                    batch.commit()
            changed += pending
            if len(snaps) < batch_size:
                return changed
            last = snaps[-1]

    def close(self) -> None:
        """Close the client's channels."""
        self.client.close()  # type: ignore[no-untyped-call]
