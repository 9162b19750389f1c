"""Take everything out: a zip of a person's originals plus a JSON manifest, streamed.

Offered before leaving. Written as it is read (a generator of chunks), so a 10 GB
account needs neither 10 GB of memory nor a temporary file: ``zipfile`` writes each
entry's sizes after its data when the output cannot seek. Stored, not deflated:
photos are compressed already.
"""

from __future__ import annotations

import io
import json
import re
import zipfile
from collections.abc import Iterator
from typing import Any

from picbucket.domain import Image
from picbucket.ports import Backends

PAGE = 200
CHUNK = 1024 * 1024


class _Sink(io.RawIOBase):
    """A write-only, non-seekable file whose bytes are taken out as they arrive."""

    def __init__(self) -> None:
        self._chunks: list[bytes] = []
        self._position = 0

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        chunk = bytes(data)
        self._chunks.append(chunk)
        self._position += len(chunk)
        return len(chunk)

    def tell(self) -> int:
        return self._position

    def take(self) -> bytes:
        """Return and forget everything written since the last call."""
        data = b"".join(self._chunks)
        self._chunks.clear()
        return data


def export_name(image: Image) -> str:
    """Return the file name of an image inside the zip: title and id, never a path."""
    title = re.sub(r"[^\w .()-]+", "_", image.title).strip(" ._")[:80] or "photo"
    extension = image.original.key.rsplit(".", 1)[-1]
    return f"photos/{title}-{image.id}.{extension}"


def export_zip(backends: Backends, owner_id: str) -> Iterator[bytes]:
    """Yield a zip of the owner's photos (originals) and ``manifest.json``, chunk by chunk."""
    sink = _Sink()
    photos: list[dict[str, Any]] = []
    with zipfile.ZipFile(sink, "w", zipfile.ZIP_STORED, allowZip64=True) as archive:
        cursor: str | None = None
        while True:
            page = backends.images.page(owner_id, cursor, PAGE, "uploaded")
            for image in page.items:
                name = export_name(image)
                with (
                    archive.open(name, "w", force_zip64=True) as out,
                    backends.blobs.open(image.original.key) as source,
                ):
                    while chunk := source.read(CHUNK):
                        out.write(chunk)
                        yield sink.take()
                photos.append(_manifest_entry(image, name))
            if page.next_cursor is None:
                break
            cursor = page.next_cursor
        manifest = {"photos": photos, "albums": _albums(backends, owner_id)}
        archive.writestr("manifest.json", json.dumps(manifest, indent=2, ensure_ascii=False))
    yield sink.take()


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
