"""Large files: the browser uploads straight to the bucket, then the app takes over.

Cloud Run refuses request bodies over 32 MiB. For bigger files the app hands out a
signed, size- and type-bound upload URL under ``incoming/<user-id>/``; once the
browser has PUT the file there, ``finish_direct_upload`` streams it back, validates
and re-encodes it exactly like a normal upload, and removes the incoming object.
A bucket lifecycle rule (and ``reconcile``) deletes incoming objects nobody finished.
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
    is_id,
    new_id,
)
from picbucket.imaging import CONTENT_TYPES
from picbucket.ports import Backends, UploadTicket
from picbucket.services.uploads import quota_for, store_image
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


def incoming_key(owner_id: str, upload_id: str) -> str:
    """Return the bucket key a direct upload lands at."""
    return f"{INCOMING_PREFIX}{owner_id}/{upload_id}"


def start_direct_upload(
    backends: Backends, settings: Settings, owner_id: str, size: int, content_type: str
) -> DirectUpload:
    """Check the announced file and return a signed upload target for it."""
    if content_type not in CONTENT_TYPES.values():
        raise InvalidInput("Only JPEG, PNG, GIF and WebP images can be uploaded.")
    limit = settings.max_direct_upload_mb * MIB
    if size <= 0:
        raise InvalidInput("The file is empty.")
    if size > limit:
        raise TooLarge(f"The file is {size / MIB:.1f} MB; the limit is {limit / MIB:.0f} MB.")
    quota = quota_for(settings)
    quota.check(backends.images.usage(owner_id), size)
    upload_id = new_id()
    ticket = backends.blobs.upload_ticket(
        incoming_key(owner_id, upload_id), content_type, limit, TICKET_TTL
    )
    if ticket is None:
        raise InvalidInput(
            f"Files over {settings.max_upload_mb} MB cannot be uploaded to this Picbucket: "
            "that needs Cloud Storage with URL signing."
        )
    return DirectUpload(upload_id, ticket)


def finish_direct_upload(
    backends: Backends, settings: Settings, owner_id: str, upload_id: str, filename: str | None
) -> Image:
    """Validate and store a file the browser uploaded to the bucket; remove the incoming copy."""
    if not is_id(upload_id):
        raise NotFound("No such upload.")
    key = incoming_key(owner_id, upload_id)
    limit = settings.max_direct_upload_mb * MIB
    try:
        with backends.blobs.open(key) as stream, _spooled() as local:
            copied = _copy_at_most(stream, local, limit)
            if copied > limit:
                raise TooLarge(f"The file is over the {limit / MIB:.0f} MB limit.")
            return store_image(backends, settings, owner_id, local, filename, max_bytes=limit)  # type: ignore[arg-type]
    except NotFound:
        raise NotFound(
            "That upload was not found; it may have expired. Please upload again."
        ) from None
    finally:
        backends.blobs.delete(key)


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
