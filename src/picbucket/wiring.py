"""The one place that names concrete adapters, chosen by ``Settings``.

Google Cloud client libraries are imported lazily inside the builders, so the
embedded default never imports them and cold starts stay short.
"""

from __future__ import annotations

from picbucket.ports import AlbumRepository, Backends, BlobStore, HealthCheck, RecordStore
from picbucket.settings import Settings


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
        from picbucket.adapters.firestore_albums import FirestoreAlbums
        from picbucket.adapters.firestore_records import FirestoreRecords

        firestore = FirestoreRecords.from_settings(settings)
        return _backends(blobs, firestore, FirestoreAlbums(firestore.client))
    from picbucket.adapters.sqlite_albums import SqliteAlbums
    from picbucket.adapters.sqlite_records import SqliteRecords

    sqlite = SqliteRecords(settings.data_dir / "picbucket.sqlite3")
    return _backends(blobs, sqlite, SqliteAlbums(sqlite))


def _backends(blobs: BlobStore, records: RecordStore, albums: AlbumRepository) -> Backends:
    """Assemble Backends from a blob store and a record store's four repositories."""
    return Backends(
        blobs=blobs,
        users=records.users,
        images=records.images,
        shares=records.shares,
        tokens=records.tokens,
        albums=albums,
        health={"records": records},
        closers=[records.close],
    )
