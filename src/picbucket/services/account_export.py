"""Take everything out: a zip of a person's originals plus a JSON manifest, streamed.

Offered before leaving. Built by the one zip writer (services.zips) as it is read, so a
10 GB account needs neither 10 GB of memory nor a temporary file; the manifest comes
last, once every photo in it has been written.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from picbucket.domain import Image
from picbucket.filenames import extension_of, file_stem
from picbucket.ports import Backends
from picbucket.services.shares import share_record
from picbucket.services.zips import Entry, json_entry, stream_zip

PAGE = 200


def export_name(image: Image) -> str:
    """Return the file name of an image inside the zip: title and id, never a path."""
    return f"photos/{file_stem(image.title)}-{image.id}.{extension_of(image.original)}"


def export_zip(backends: Backends, owner_id: str) -> Iterator[bytes]:
    """Yield a zip of the owner's photos (originals) and ``manifest.json``, chunk by chunk."""
    return stream_zip(backends.blobs, export_entries(backends, owner_id))


def export_entries(
    backends: Backends, owner_id: str, progress: Callable[[int], None] | None = None
) -> Iterator[Entry]:
    """Yield the export's entries: every photo (original), then ``manifest.json``.

    The one list of what an export holds, streamed (``export_zip``) or built by a job
    (services.exports). ``progress(done)`` is called with the number of photos whose
    bytes the zip writer has finished, each time it asks for the next entry.
    """
    # A page of records at a time; the zip writer reads each photo as it is reached.
    photos: list[dict[str, Any]] = []
    cursor: str | None = None
    while True:
        page = backends.images.page(owner_id, cursor, PAGE, "uploaded")
        for image in page.items:
            if progress is not None:
                progress(len(photos))
            name = export_name(image)
            photos.append(_manifest_entry(image, name))
            yield Entry(name, image.original, image.taken_at or image.created)
        if page.next_cursor is None:
            break
        cursor = page.next_cursor
    if progress is not None:
        progress(len(photos))
    manifest = {
        "photos": photos,
        "albums": _albums(backends, owner_id),
        "links": _links(backends, owner_id),
    }
    yield json_entry("manifest.json", manifest)


def _manifest_entry(image: Image, name: str) -> dict[str, Any]:
    return {
        "id": image.id,
        "file": name,
        "title": image.title,
        "content_type": image.original.content_type,
        "bytes": image.original.size,
        "sha256": image.original.sha256,
        "width": image.width,
        "height": image.height,
        "uploaded": image.created.isoformat(),
        "taken": image.taken_at.isoformat() if image.taken_at else None,
    }


def _albums(backends: Backends, owner_id: str) -> list[dict[str, Any]]:
    return [
        {
            "id": album.id,
            "title": album.title,
            "description": album.description,
            "photo_ids": backends.albums.item_ids(owner_id, album.id),
        }
        for album in backends.albums.for_owner(owner_id)
    ]


def _links(backends: Backends, owner_id: str) -> list[dict[str, Any]]:
    # What each link pointed at and how it was set; tokens are not stored, so not exported
    # (an export must not hand out working links), nor are password hashes.
    return [
        {**share_record(share), "allow_originals": share.allow_originals}
        for share in backends.shares.for_owner(owner_id)
    ]
