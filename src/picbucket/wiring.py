"""The one place that names concrete adapters, chosen by ``Settings``.

Google Cloud client libraries are imported lazily inside the builders, so the
embedded default never imports them and cold starts stay short.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

from picbucket.ports import (
    BlobStore,
    HealthCheck,
    ImageRepository,
    ShareRepository,
    TokenRepository,
    UserRepository,
)
from picbucket.settings import Settings


@dataclass
class Backends:
    """Every adapter the services use, built once per app."""

    blobs: BlobStore
    users: UserRepository
    images: ImageRepository
    shares: ShareRepository
    tokens: TokenRepository
    health: dict[str, HealthCheck] = field(default_factory=dict)
    closers: list[Callable[[], None]] = field(default_factory=list)

    def close(self) -> None:
        """Release connections (tests build many apps)."""
        for close in self.closers:
            close()


def build_backends(settings: Settings) -> Backends:
    """Build the blob store and record repositories the settings ask for."""
    blobs, blob_health = _build_blob_store(settings)
    backends = _build_records(settings, blobs)
    backends.health["blobs"] = blob_health
    return backends


def _build_blob_store(settings: Settings) -> tuple[BlobStore, HealthCheck]:
    if settings.blob_store == "gcs":
        from picbucket.adapters.gcs_blobs import GcsBlobStore

        gcs = GcsBlobStore.from_settings(settings)
        return gcs, gcs
    from picbucket.adapters.local_blobs import LocalBlobStore

    local = LocalBlobStore(settings.data_dir / "blobs")
    return local, local


def _build_records(settings: Settings, blobs: BlobStore) -> Backends:
    if settings.record_store == "firestore":
        from picbucket.adapters.firestore_records import FirestoreRecords

        return _backends(blobs, FirestoreRecords.from_settings(settings))
    from picbucket.adapters.sqlite_records import SqliteRecords

    return _backends(blobs, SqliteRecords(settings.data_dir / "picbucket.sqlite3"))


class RecordStore(Protocol):
    """One record backend: its four repositories, a health check and a way to close."""

    @property
    def users(self) -> UserRepository: ...
    @property
    def images(self) -> ImageRepository: ...
    @property
    def shares(self) -> ShareRepository: ...
    @property
    def tokens(self) -> TokenRepository: ...
    def ping(self) -> None: ...
    def close(self) -> None: ...


def _backends(blobs: BlobStore, records: RecordStore) -> Backends:
    """Assemble Backends from a blob store and a record store's four repositories."""
    return Backends(
        blobs=blobs,
        users=records.users,
        images=records.images,
        shares=records.shares,
        tokens=records.tokens,
        health={"records": records},
        closers=[records.close],
    )
