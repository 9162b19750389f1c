"""Google Cloud Storage blob store: create-only writes, streamed reads, signed URLs.

``google.cloud`` is imported inside methods only: the local default imports
nothing from Google, and cold starts stay short when Cloud Storage is not used.
"""

from __future__ import annotations

import base64
import contextlib
import io
import os
import shutil
import tempfile
import threading
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, BinaryIO

from picbucket.domain import BackendUnavailable, Conflict, NotFound
from picbucket.ports import BlobInfo, UploadTicket
from picbucket.settings import Settings

if TYPE_CHECKING:
    from google.cloud.storage import Bucket, Client

# Uploads above 8 MiB go resumable, one chunk at a time: the most a single upload
# holds in memory. Must be a multiple of 256 KiB (a Cloud Storage rule); 8 MiB is
# also where the client switches from one multipart request to resumable.
UPLOAD_CHUNK = 8 * 1024 * 1024
# Reads fetch 1 MiB ranges: small enough for a fast first byte, large enough that a
# 25 MiB original takes a couple of dozen requests rather than hundreds.
READ_CHUNK = 1024 * 1024
# V4 signed URLs may live at most 7 days.
MAX_SIGNED_TTL = timedelta(days=7)

_IMAGE_TYPES = {
    ".png": "image/png",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".gif": "image/gif",
    ".webp": "image/webp",
    ".avif": "image/avif",
}


class GcsBlobStore:
    """A ``BlobStore`` backed by one Cloud Storage bucket."""

    def __init__(
        self,
        client: Client,
        bucket_name: str,
        *,
        signing_service_account: str = "",
        signing_credentials: Any = None,
        api_access_endpoint: str | None = None,
    ) -> None:
        """Use ``client`` for ``bucket_name``; sign URLs with the given identity.

        ``signing_credentials`` defaults to the client's own; when they hold no
        private key (Cloud Run, Compute Engine), URLs are signed through IAM
        ``signBlob`` as ``signing_service_account``.
        """
        self._client = client
        self._bucket: Bucket = client.bucket(bucket_name)
        self._signing_service_account = signing_service_account
        self._signing_credentials = signing_credentials
        self._api_access_endpoint = api_access_endpoint
        self._token_lock = threading.Lock()

    @classmethod
    def from_settings(cls, settings: Settings) -> GcsBlobStore:
        """Build a client from the environment: the emulator if set, else ADC."""
        from google.cloud import storage

        signing_credentials = None
        if settings.signing_key_file:
            from google.oauth2 import service_account

            signing_credentials = service_account.Credentials.from_service_account_file(  # type: ignore[no-untyped-call]
                settings.signing_key_file
            )
        emulator = os.environ.get("STORAGE_EMULATOR_HOST")
        if emulator:
            from google.auth.credentials import AnonymousCredentials

            # The client reads STORAGE_EMULATOR_HOST itself; it only needs to be
            # told not to look for real credentials. Signed URLs (with a key file)
            # point at the emulator, which ignores their signatures.
            client = storage.Client(
                project=settings.gcp_project or "picbucket-emulated",
                credentials=AnonymousCredentials(),  # type: ignore[no-untyped-call]
            )
            return cls(
                client,
                settings.gcs_bucket,
                signing_credentials=signing_credentials,
                api_access_endpoint=emulator.rstrip("/") if signing_credentials else None,
            )
        client = storage.Client(project=settings.gcp_project or None)
        return cls(
            client,
            settings.gcs_bucket,
            signing_service_account=settings.signing_service_account,
            signing_credentials=signing_credentials,
        )

    # -- BlobStore ---------------------------------------------------------------

    def put(
        self,
        key: str,
        data: BinaryIO,
        *,
        content_type: str,
        cache_control: str | None = None,
        download_name: str | None = None,
    ) -> BlobInfo:
        """Store ``data`` under ``key``; raise ``Conflict`` if the key exists."""
        from google.api_core import exceptions as gexc

        with _seekable(data) as stream:
            start = stream.tell()
            crc, size = _crc32c_and_size(stream)
            stream.seek(start)
            blob = self._bucket.blob(key, chunk_size=UPLOAD_CHUNK)
            blob.content_type = content_type
            blob.cache_control = cache_control
            if download_name:
                blob.content_disposition = _inline_disposition(download_name)
            try:
                with _translate(key):
                    # if_generation_match=0: create-only, and it makes the upload
                    # idempotent, so the client may retry it automatically.
                    blob.upload_from_file(
                        stream,
                        size=size,
                        content_type=content_type,
                        if_generation_match=0,
                        checksum="crc32c",
                        crc32c_checksum_value=crc,
                    )
            except gexc.PreconditionFailed:
                return self._settle_precondition_failure(key, crc, size)
        return BlobInfo(key=key, size=int(blob.size or size), updated=_updated(blob.updated))

    def put_stream(
        self,
        key: str,
        chunks: Iterable[bytes],
        *,
        content_type: str,
        download_name: str | None = None,
    ) -> BlobInfo:
        """Store ``chunks`` as one resumable upload, ``UPLOAD_CHUNK`` bytes in memory at most.

        Create-only (``Conflict``). If ``chunks`` raises, the upload is cancelled, no
        object appears and the source's own error comes out unchanged.
        """
        blob = self._bucket.blob(key, chunk_size=UPLOAD_CHUNK)
        blob.content_type = content_type
        if download_name:
            blob.content_disposition = _attachment_disposition(download_name)
        out = blob.open("wb", if_generation_match=0, ignore_flush=True)
        size = 0
        try:
            for chunk in chunks:  # the source's errors are not Cloud Storage's: not translated
                with _streamed_upload_errors(key):
                    out.write(chunk)
                size += len(chunk)
            with _streamed_upload_errors(key):
                out.close()  # sends the last chunk: only now does the object exist
        except BaseException:
            # Cancel the resumable upload; a failing cancel must not hide why we stopped.
            with contextlib.suppress(Exception):
                out.terminate()
            raise
        return BlobInfo(key=key, size=size, updated=_updated(blob.updated))

    def _settle_precondition_failure(self, key: str, crc: str, size: int) -> BlobInfo:
        # A 412 on create-only means something is there. If it is our bytes, the
        # first attempt landed and only its response was lost before a retry.
        with _translate(key):
            existing = self._bucket.get_blob(key)
        if existing is not None and existing.crc32c == crc and existing.size == size:
            return BlobInfo(key=key, size=size, updated=_updated(existing.updated))
        raise Conflict(f"A blob already exists at {key}.")

    def open(self, key: str, *, start: int = 0, end: int | None = None) -> BinaryIO:
        """Stream bytes ``start``..``end`` (inclusive); ``NotFound`` if absent."""
        with _translate(key):
            blob = self._bucket.get_blob(key)
        if blob is None:
            raise NotFound("No such image.")
        size = int(blob.size or 0)
        last = size - 1 if end is None else min(end, size - 1)
        # Pin the generation so a long read never mixes two versions of a key.
        pinned = self._bucket.blob(key, generation=blob.generation)
        return io.BufferedReader(_RangeReader(pinned, start, last), buffer_size=64 * 1024)

    def delete(self, key: str) -> None:
        """Remove a blob; a missing key is not an error."""
        with contextlib.suppress(NotFound), _translate(key):
            self._bucket.blob(key).delete()

    def scan(self, prefix: str) -> Iterator[BlobInfo]:
        """Yield every blob under ``prefix`` in key order; the iterator follows page tokens."""
        with _translate(prefix):
            for blob in self._client.list_blobs(self._bucket, prefix=prefix):
                yield BlobInfo(
                    key=blob.name, size=int(blob.size or 0), updated=_updated(blob.updated)
                )

    def scan_partial(self) -> Iterator[BlobInfo]:
        """Yield nothing: an object exists only once its upload completed."""
        return iter(())

    def delete_partial(self, key: str) -> None:
        """Refuse: there are no partial writes to remove (``scan_partial`` yields none)."""
        raise ValueError(f"no partial writes in Cloud Storage: {key!r}")

    def download_url(self, key: str, ttl: timedelta) -> str | None:
        """Return a V4 signed GET URL, or None when this deployment cannot sign."""
        signing = self._signing_kwargs()
        if signing is None:
            return None
        ext = os.path.splitext(key)[1].lower()
        kwargs: dict[str, Any] = {}
        if ext in _IMAGE_TYPES:
            # Response overrides are part of the signature: a link cannot be
            # tweaked into serving the bytes as anything but the image it is.
            kwargs["response_type"] = _IMAGE_TYPES[ext]
            kwargs["response_disposition"] = _inline_disposition(_download_name(key))
        with _translate(key):
            url: str = self._bucket.blob(key).generate_signed_url(
                version="v4",
                method="GET",
                expiration=min(ttl, MAX_SIGNED_TTL),
                api_access_endpoint=self._api_access_endpoint,
                **kwargs,
                **signing,
            )
        return url

    def upload_ticket(
        self, key: str, content_type: str, size: int, ttl: timedelta
    ) -> UploadTicket | None:
        """Return a V4 signed PUT for exactly ``size`` bytes of one type, create-only, or None.

        ``size`` is the size the browser announced: the body must be that long.
        """
        signing = self._signing_kwargs()
        if signing is None:
            return None
        ttl = min(ttl, MAX_SIGNED_TTL)
        # Signed headers: the browser must send exactly these, so Cloud Storage itself
        # refuses another type, a body of any other length, or an overwrite.
        headers = {
            "Content-Type": content_type,
            "x-goog-content-length-range": f"{size},{size}",
            "x-goog-if-generation-match": "0",
        }
        expires = datetime.now(UTC) + ttl
        with _translate(key):
            url: str = self._bucket.blob(key).generate_signed_url(
                version="v4",
                method="PUT",
                expiration=ttl,
                content_type=content_type,
                headers={k: v for k, v in headers.items() if k != "Content-Type"},
                api_access_endpoint=self._api_access_endpoint,
                **signing,
            )
        return UploadTicket(url=url, method="PUT", headers=headers, expires=expires)

    # -- HealthCheck -------------------------------------------------------------

    def ping(self) -> None:
        """Raise ``BackendUnavailable`` if the bucket cannot be listed."""
        # Listing needs only storage.objects.list, which the runtime account has;
        # bucket metadata (buckets.get) it deliberately does not.
        with _translate(self._bucket.name):
            list(self._client.list_blobs(self._bucket, max_results=1))

    # -- signing -----------------------------------------------------------------

    def _signing_kwargs(self) -> dict[str, Any] | None:
        """Return how to sign: a local key, IAM signBlob, or None (cannot sign)."""
        from google.auth import credentials as gcreds

        creds = self._signing_credentials or self._client._credentials
        if isinstance(creds, gcreds.AnonymousCredentials):
            return None
        if isinstance(creds, gcreds.Signing) and getattr(creds, "signer", None) is not None:
            # A service-account key: sign in-process, no network call.
            if self._signing_credentials is not None:
                return {"credentials": creds}
            return {}
        # No private key (Cloud Run, Compute Engine): IAM signBlob with a fresh
        # access token, the documented pattern for generate_signed_url there.
        token = self._fresh_token(creds)
        # Compute credentials learn their email on refresh ("default" before).
        email = self._signing_service_account or getattr(creds, "service_account_email", "")
        if not email or email == "default":
            raise BackendUnavailable(
                "Cannot sign URLs: set PICBUCKET_SIGNING_SERVICE_ACCOUNT to the runtime "
                "service account."
            )
        return {"service_account_email": email, "access_token": token}

    def _fresh_token(self, creds: Any) -> str:
        from google.auth.transport import requests as grequests

        with self._token_lock:
            if not creds.valid:
                try:
                    creds.refresh(grequests.Request())
                except Exception as exc:
                    raise BackendUnavailable("Cannot refresh Google credentials.") from exc
            return str(creds.token)


class _RangeReader(io.RawIOBase):
    """Read ``first``..``last`` of a blob lazily, one ranged download at a time."""

    def __init__(self, blob: Any, first: int, last: int) -> None:
        self._blob = blob
        self._pos = first
        self._last = last
        self._buffer = b""

    def readable(self) -> bool:
        return True

    def readinto(self, b: Any) -> int:
        if not self._buffer:
            if self._pos > self._last:
                return 0
            stop = min(self._pos + READ_CHUNK - 1, self._last)
            with _translate(self._blob.name):
                # Ranged reads cannot be checksummed by the client; integrity was
                # checked end to end when the object was written.
                self._buffer = self._blob.download_as_bytes(
                    start=self._pos, end=stop, checksum=None
                )
            if not self._buffer:
                self._last = -1
                return 0
            self._pos += len(self._buffer)
        n = min(len(b), len(self._buffer))
        b[:n] = self._buffer[:n]
        self._buffer = self._buffer[n:]
        return n


@contextlib.contextmanager
def _translate(what: str) -> Iterator[None]:
    """Turn Google client failures into domain errors the web layer understands."""
    from google.api_core import exceptions as gexc
    from google.auth import exceptions as auth_exc

    try:
        yield
    except gexc.NotFound as exc:
        raise NotFound("No such image.") from exc
    except (gexc.PreconditionFailed, NotFound, Conflict):
        raise
    except (gexc.GoogleAPIError, auth_exc.GoogleAuthError, OSError) as exc:
        raise BackendUnavailable(f"Cloud Storage failed for {what}.") from exc


@contextlib.contextmanager
def _streamed_upload_errors(key: str) -> Iterator[None]:
    """``_translate`` for a ``BlobWriter``, which raises the media library's raw errors."""
    from google.api_core import exceptions as gexc
    from google.cloud.storage.exceptions import InvalidResponse

    try:
        with _translate(key):
            yield
    except gexc.PreconditionFailed:
        raise Conflict(f"A blob already exists at {key}.") from None
    except InvalidResponse as exc:
        # 412 at the start or at the last chunk: the key was taken (create-only).
        if getattr(exc.response, "status_code", None) == 412:
            raise Conflict(f"A blob already exists at {key}.") from None
        raise BackendUnavailable(f"Cloud Storage failed for {key}.") from exc


@contextlib.contextmanager
def _seekable(data: BinaryIO) -> Iterator[BinaryIO]:
    """Yield ``data`` if seekable, else a spooled copy (checksum first, then upload)."""
    if data.seekable():
        yield data
        return
    with tempfile.SpooledTemporaryFile(max_size=UPLOAD_CHUNK) as spool:
        shutil.copyfileobj(data, spool, READ_CHUNK)
        spool.seek(0)
        yield spool  # type: ignore[misc]


def _crc32c_and_size(stream: BinaryIO) -> tuple[str, int]:
    """Return the base64 big-endian CRC32C (Cloud Storage's format) and length."""
    import google_crc32c

    checksum = google_crc32c.Checksum()  # type: ignore[no-untyped-call]
    size = 0
    while chunk := stream.read(READ_CHUNK):
        checksum.update(chunk)  # type: ignore[no-untyped-call]
        size += len(chunk)
    digest: bytes = checksum.digest()  # type: ignore[no-untyped-call]
    return base64.b64encode(digest).decode(), size


def _inline_disposition(name: str) -> str:
    return _disposition("inline", name)


def _attachment_disposition(name: str) -> str:
    # Saved, not shown: an export zip opened from a signed link downloads under its name.
    return _disposition("attachment", name)


def _disposition(kind: str, name: str) -> str:
    # Names are generated by the app; still, keep the header ASCII and quote-safe.
    safe = "".join(c for c in name if c.isalnum() or c in "-_.") or "image"
    return f'{kind}; filename="{safe}"'


def _download_name(key: str) -> str:
    """Name a download after its image id and variant: ``<image-id>-thumb.webp``."""
    parts = key.split("/")
    if len(parts) >= 2:
        return f"{parts[-2]}-{parts[-1]}"
    return parts[-1]


def _updated(value: datetime | None) -> datetime:
    return value if value is not None else datetime.now(UTC)
