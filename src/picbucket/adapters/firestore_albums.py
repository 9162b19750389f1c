"""AlbumRepository on Firestore, over the shared client.

Layout: ``users/{owner}/albums/{album_id}`` (title, description, cover, order, and
``next_position``) and ``users/{owner}/albums/{album_id}/items/{image_id}`` (position).
Under the owner's document, so an album read is owner-scoped by its path; an item's
id is the image id, so adding a photo twice is one document, not two.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from picbucket.adapters.firestore_codec import _dt
from picbucket.adapters.firestore_collections import BATCH_GET, BATCH_WRITE, USERS, _delete_all
from picbucket.adapters.firestore_errors import _translate
from picbucket.domain import Album, AlbumOrder

if TYPE_CHECKING:
    from google.cloud.firestore import Client, CollectionReference, DocumentReference

ALBUMS = "albums"
ITEMS = "items"


class FirestoreAlbums:
    """``AlbumRepository`` over ``users/{owner}/albums``."""

    def __init__(self, client: Client) -> None:
        self._client = client

    def _albums(self, owner_id: str) -> CollectionReference:
        albums: CollectionReference = (
            self._client.collection(USERS).document(owner_id).collection(ALBUMS)
        )
        return albums

    def _ref(self, owner_id: str, album_id: str) -> DocumentReference:
        ref: DocumentReference = self._albums(owner_id).document(album_id)
        return ref

    def add(self, album: Album) -> None:
        """Insert an album (create-only)."""
        with _translate(conflict="That album already exists."):
            self._ref(album.owner_id, album.id).create({**_album_doc(album), "next_position": 0})

    def get(self, owner_id: str, album_id: str) -> Album | None:
        """Return the owner's album, or None."""
        with _translate():
            snap = self._ref(owner_id, album_id).get()
        return _album(owner_id, snap) if snap.exists else None

    def for_owner(self, owner_id: str) -> list[Album]:
        """Return the owner's albums, newest first."""
        from google.cloud import firestore

        query = self._albums(owner_id).order_by("created", direction=firestore.Query.DESCENDING)
        with _translate():
            return [_album(owner_id, snap) for snap in query.stream()]

    def update(self, album: Album) -> bool:
        """Store the editable fields; False if the owner has no such album."""
        from google.api_core import exceptions as gexc

        try:
            with _translate(passthrough=gexc.NotFound):
                self._ref(album.owner_id, album.id).update(_album_doc(album))
        except gexc.NotFound:
            return False
        return True

    def remove(self, owner_id: str, album_id: str) -> bool:
        """Delete the album's items, then the album (the images stay)."""
        ref = self._ref(owner_id, album_id)
        with _translate():
            if not ref.get(field_paths=[]).exists:
                return False
            items = [snap.reference for snap in ref.collection(ITEMS).select([]).stream()]
            _delete_all(self._client, [*items, ref])
        return True

    def item_ids(
        self, owner_id: str, album_id: str, offset: int = 0, limit: int | None = None
    ) -> list[str]:
        """Return the album's image ids by position (a window of them, if asked)."""
        query = self._ref(owner_id, album_id).collection(ITEMS).order_by("position")
        if offset > 0:
            query = query.offset(offset)
        if limit is not None:
            query = query.limit(limit)
        with _translate():
            return [snap.id for snap in query.select(["position"]).stream()]

    def count(self, owner_id: str, album_id: str) -> int:
        """Return how many items one album holds (an aggregation: no documents read)."""
        with _translate():
            counted = self._ref(owner_id, album_id).collection(ITEMS).count().get()
        return int(counted[0][0].value)

    def counts(self, owner_id: str) -> dict[str, int]:
        """Return the item count of each album (one aggregation query per album)."""
        result: dict[str, int] = {}
        with _translate():
            for snap in self._albums(owner_id).select([]).stream():
                counted = snap.reference.collection(ITEMS).count().get()
                result[snap.id] = int(counted[0][0].value)
        return result

    def add_items(self, owner_id: str, album_id: str, image_ids: Sequence[str]) -> int:
        """Append images not yet in the album: per chunk one batched read, one batch write."""
        ref = self._ref(owner_id, album_id)
        wanted = list(dict.fromkeys(image_ids))
        added = 0
        with _translate():
            if not ref.get(field_paths=[]).exists:
                return 0
            # BATCH_GET (300) writes per batch stays inside Firestore's 500.
            for i in range(0, len(wanted), BATCH_GET):
                items = ref.collection(ITEMS)
                chunk = [items.document(image_id) for image_id in wanted[i : i + BATCH_GET]]
                snaps = self._client.get_all(chunk, field_paths=[])
                present = {snap.id for snap in snaps if snap.exists}
                new = [item for item in chunk if item.id not in present]
                if not new:
                    continue
                start = self._reserve(ref, len(new))
                batch = self._client.batch()
                for offset, item in enumerate(new):
                    batch.set(item, {"position": start + offset})
                batch.commit()
                added += len(new)
        return added

    def _reserve(self, ref: DocumentReference, count: int) -> int:
        """Take ``count`` positions from the album's counter in a transaction."""
        from google.cloud import firestore

        @firestore.transactional
        def run(transaction: Any) -> int:
            snap = ref.get(transaction=transaction)
            start = int((snap.to_dict() or {}).get("next_position", 0))
            transaction.update(ref, {"next_position": start + count})
            return start

        result: int = run(self._client.transaction())
        return result

    def remove_items(self, owner_id: str, album_id: str, image_ids: Sequence[str]) -> int:
        """Take images out of the album."""
        ref = self._ref(owner_id, album_id)
        wanted = list(dict.fromkeys(image_ids))
        removed = 0
        with _translate():
            for i in range(0, len(wanted), BATCH_GET):
                chunk = [
                    ref.collection(ITEMS).document(image_id)
                    for image_id in wanted[i : i + BATCH_GET]
                ]
                present = [
                    snap.reference
                    for snap in self._client.get_all(chunk, field_paths=[])
                    if snap.exists
                ]
                _delete_all(self._client, present)
                removed += len(present)
        return removed

    def set_order(self, owner_id: str, album_id: str, image_ids: Sequence[str]) -> None:
        """Renumber the album's items in the order given (ids not in it are skipped)."""
        ref = self._ref(owner_id, album_id)
        present = set(self.item_ids(owner_id, album_id))
        ordered = [image_id for image_id in dict.fromkeys(image_ids) if image_id in present]
        with _translate():
            for i in range(0, len(ordered), BATCH_WRITE):
                batch = self._client.batch()
                for n, image_id in enumerate(ordered[i : i + BATCH_WRITE], start=i):
                    batch.update(ref.collection(ITEMS).document(image_id), {"position": n})
                batch.commit()

    def albums_of(self, owner_id: str, image_id: str) -> list[str]:
        """Return the ids of the albums holding an image (one batched read)."""
        with _translate():
            albums = [snap.reference for snap in self._albums(owner_id).select([]).stream()]
            refs = [album.collection(ITEMS).document(image_id) for album in albums]
            found: list[str] = []
            for i in range(0, len(refs), BATCH_GET):
                for snap in self._client.get_all(refs[i : i + BATCH_GET], field_paths=[]):
                    if snap.exists:
                        found.append(snap.reference.parent.parent.id)
        return found

    def remove_image(self, owner_id: str, image_id: str) -> None:
        """Take an image out of every album, and off every cover."""
        from google.cloud.firestore_v1.base_query import FieldFilter

        holders = self.albums_of(owner_id, image_id)
        covers = self._albums(owner_id).where(filter=FieldFilter("cover_id", "==", image_id))
        with _translate():
            _delete_all(
                self._client,
                [
                    self._ref(owner_id, album).collection(ITEMS).document(image_id)
                    for album in holders
                ],
            )
            for snap in covers.stream():
                snap.reference.update({"cover_id": None})


def _album_doc(album: Album) -> dict[str, Any]:
    return {
        "title": album.title,
        "description": album.description,
        "cover_id": album.cover_id,
        "order": album.order.value,
        "created": album.created,
    }


def _album(owner_id: str, snap: Any) -> Album:
    data = snap.to_dict() or {}
    return Album(
        id=snap.id,
        owner_id=owner_id,
        title=data["title"],
        description=data.get("description", ""),
        cover_id=data.get("cover_id"),
        order=AlbumOrder(data.get("order", AlbumOrder.MANUAL.value)),
        created=_dt(data["created"]),
    )
