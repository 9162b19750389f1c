"""Large files: the browser uploads straight to the bucket, then the app takes over.

Cloud Run refuses request bodies over 32 MiB. For bigger files the app hands out a
signed upload URL bound to the type and the exact announced size, at
``incoming/<user-id>/<upload-id>.<size>`` (the key records what was announced, so
finishing needs no other state). Once the browser has PUT the file there,
``finish_direct_upload`` checks its size against the announced one, streams it back,
validates and re-encodes it exactly like a normal upload, and removes the incoming
object. Incoming bytes count against the quota until they are finished or a bucket
lifecycle rule (and ``reconcile``) deletes them.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from datetime import timedelta
from typing import IO, BinaryIO

from picbucket.domain import (
    Image,
    InvalidInput,
    NotFound,
    TooLarge,
    Usage,
    human_bytes,
    is_id,
    new_id,
)
from picbucket.imaging import CONTENT_TYPES
from picbucket.ports import Backends, BlobInfo, UploadTicket
from picbucket.services.uploads import quota_of, store_image
from picbucket.settings import MIB, Settings

INCOMING_PREFIX = "incoming/"
# Long enough for a slow connection to send a couple of hundred MB.
TICKET_TTL = timedelta(minutes=30)
_SPOOL_BYTES = 8 * MIB
_COPY_CHUNK = MIB


@dataclass(frozen=True)
class DirectUpload:
    """Where the browser sends the file, and the id to finish it with."""

    upload_id: str
    ticket: UploadTicket


def incoming_prefix(owner_id: str) -> str:
    """Return the bucket prefix of one person's unfinished direct uploads."""
    return f"{INCOMING_PREFIX}{owner_id}/"


def incoming_key(owner_id: str, upload_id: str, size: int) -> str:
    """Return the bucket key a direct upload of ``size`` announced bytes lands at."""
    return f"{incoming_prefix(owner_id)}{upload_id}.{size}"


def start_direct_upload(
    backends: Backends, settings: Settings, owner_id: str, size: int, content_type: str
) -> DirectUpload:
    """Check the announced file and return a signed upload target for exactly it."""
    if content_type not in CONTENT_TYPES.values():
        raise InvalidInput("Only JPEG, PNG, GIF and WebP images can be uploaded.")
    limit = settings.max_direct_upload_mb * MIB
    if size <= 0:
        raise InvalidInput("The file is empty.")
    if size > limit:
        raise TooLarge(f"The file is {human_bytes(size)}; the limit is {human_bytes(limit)}.")
    quota_of(backends, settings, owner_id).check(_usage_with_incoming(backends, owner_id), size)
    upload_id = new_id()
    ticket = backends.blobs.upload_ticket(
        incoming_key(owner_id, upload_id, size), content_type, size, TICKET_TTL
    )
    if ticket is None:
        raise InvalidInput(
            f"Files over {settings.max_upload_mb} MB cannot be uploaded to this Picbucket: "
            "that needs Cloud Storage with URL signing."
        )
    return DirectUpload(upload_id, ticket)


def _usage_with_incoming(backends: Backends, owner_id: str) -> Usage:
    """Return stored usage plus unfinished direct uploads (one bucket listing)."""
    # Without this, abandoned uploads would let one person park any amount in the
    # bucket until the lifecycle rule or reconcile removes them.
    stored = backends.images.usage(owner_id)
    incoming = list(backends.blobs.scan(incoming_prefix(owner_id)))
    return Usage(
        bytes=stored.bytes + sum(blob.size for blob in incoming),
        images=stored.images + len(incoming),
    )


def finish_direct_upload(
    backends: Backends, settings: Settings, owner_id: str, upload_id: str, filename: str | None
) -> Image:
    """Validate and store a file the browser uploaded to the bucket; remove the incoming copy."""
    if not is_id(upload_id):
        raise NotFound("No such upload.")
    blob, announced = _find_incoming(backends, owner_id, upload_id)
    limit = settings.max_direct_upload_mb * MIB
    try:
        if blob.size != announced:
            raise InvalidInput(
                f"The uploaded file is {blob.size} bytes but {announced} were announced. "
                "Please upload again."
            )
        with backends.blobs.open(blob.key) as stream, _spooled() as local:
            copied = _copy_at_most(stream, local, min(announced, limit))
            if copied != announced:
                raise InvalidInput(
                    "The uploaded file changed while it was read. Please upload again."
                )
            return store_image(backends, settings, owner_id, local, filename, max_bytes=limit)  # type: ignore[arg-type]
    except NotFound:
        raise _expired() from None
    finally:
        backends.blobs.delete(blob.key)


def _find_incoming(backends: Backends, owner_id: str, upload_id: str) -> tuple[BlobInfo, int]:
    """Return the uploaded blob and the size announced for it; ``NotFound`` if absent."""
    # The id is looked up under the caller's own prefix: nobody finishes another's upload.
    for blob in backends.blobs.scan(f"{incoming_prefix(owner_id)}{upload_id}."):
        announced = blob.key.rsplit(".", 1)[1]
        if announced.isdigit():
            return blob, int(announced)
    raise _expired()


def _expired() -> NotFound:
    return NotFound("That upload was not found; it may have expired. Please upload again.")


def _spooled() -> IO[bytes]:
    return tempfile.SpooledTemporaryFile(max_size=_SPOOL_BYTES)


def _copy_at_most(source: BinaryIO, target: IO[bytes], limit: int) -> int:
    # Pillow needs a seekable file; copy in chunks, stopping one chunk past the limit.
    copied = 0
    while copied <= limit and (chunk := source.read(_COPY_CHUNK)):
        target.write(chunk)
        copied += len(chunk)
    target.seek(0)
    return copied
