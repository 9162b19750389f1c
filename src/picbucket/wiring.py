"""The one place that names concrete adapters, chosen by ``Settings``.

Google Cloud client libraries are imported lazily inside the builders, so the
embedded default never imports them and cold starts stay short.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any, cast

from picbucket.ports import (
    AlbumRepository,
    Backends,
    BlobStore,
    ExportRepository,
    ExportRunner,
    HealthCheck,
    RecordStore,
)
from picbucket.resilience import (
    PROBE_TIMEOUT,
    Ballast,
    BreakerAwareCheck,
    CircuitBreaker,
    DiskSpace,
    Guard,
    OneAttempt,
    cap_firestore_client,
    cap_http_session,
    guarded,
)
from picbucket.settings import MIB, Settings

# Backends fields not wrapped in a Guard: not ports, or (export_runner) a port that may
# be None and bounds its one call itself (a thread start, or one Cloud Run API request).
_NOT_PORTS = frozenset(("health", "closers", "clock", "export_runner"))


def build_backends(settings: Settings) -> Backends:
    """Build the blob store and record repositories the settings ask for."""
    blobs, blob_health = _build_blob_store(settings)
    backends = _build_records(settings, blobs)
    backends.health["blobs"] = blob_health
    bounded = _bounded(backends, settings)
    bounded.export_runner = _build_export_runner(settings, bounded)
    return bounded


def _build_export_runner(settings: Settings, backends: Backends) -> ExportRunner | None:
    """Return what builds exports in job mode; None: exports stream within the request."""
    if settings.export_mode != "job":
        return None
    if settings.export_job:
        from picbucket.adapters.export_runners import CloudRunExportRunner

        return CloudRunExportRunner(settings.export_job)
    from picbucket.adapters.export_runners import ThreadExportRunner
    from picbucket.services.exports import ExportPolicy

    # The thread builds with the same guarded backends as the requests.
    return ThreadExportRunner(backends, ExportPolicy.from_settings(settings))


def _bounded(backends: Backends, settings: Settings) -> Backends:
    """Put every port behind its backend's deadline and breaker (see resilience.py).

    Here, not in the adapters: one wrapper bounds every adapter, present and future,
    including calls whose client library ignores its own timeouts.
    """
    local_disk = settings.blob_store == "local" or settings.record_store == "sqlite"
    ballast = Ballast(settings.data_dir / ".space-ballast", _ballast_size(settings))
    if local_disk:
        ballast.ensure()
    guards = {
        "records": _guard(
            "records",
            settings.records_deadline_seconds,
            settings,
            ballast.release if settings.record_store == "sqlite" else None,
        ),
        "blobs": _guard("blobs", settings.blobs_deadline_seconds, settings),
    }
    for field in dataclasses.fields(backends):
        if field.name not in _NOT_PORTS:
            guard = guards["blobs" if field.name == "blobs" else "records"]
            setattr(backends, field.name, guarded(getattr(backends, field.name), guard))
    for name, guard in guards.items():
        backends.health[name] = BreakerAwareCheck(backends.health[name], guard.breaker)
        backends.closers.append(guard.close)
    if local_disk:
        floor = settings.min_free_disk_mb * MIB
        backends.health["disk"] = DiskSpace(settings.data_dir, floor, ballast)
    return backends


def _ballast_size(settings: Settings) -> int:
    """Return the ballast: half the upload reserve, at most 1 MiB.

    A delete appends a few pages (KiBs) to SQLite's log, so 1 MiB covers many even
    when the log cannot be rewound.
    """
    return min(settings.min_free_disk_mb * MIB // 4, MIB)


def _guard(
    name: str, deadline: float, settings: Settings, free_space: Callable[[], bool] | None = None
) -> Guard:
    breaker = CircuitBreaker(settings.breaker_failures, settings.breaker_cooldown_seconds)
    return Guard(name, deadline, breaker, free_space)


def _build_blob_store(settings: Settings) -> tuple[BlobStore, HealthCheck]:
    if settings.blob_store == "gcs":
        from picbucket.adapters.gcs_blobs import GcsBlobStore

        gcs = GcsBlobStore.from_settings(settings)
        client, bucket = cast(Any, gcs)._client, cast(Any, gcs)._bucket
        # Per-attempt cap inside the client; the Guard bounds the whole call.
        cap_http_session(client._http, settings.blobs_deadline_seconds)
        return gcs, OneAttempt(
            lambda: list(
                client.list_blobs(bucket, max_results=1, retry=None, timeout=PROBE_TIMEOUT)
            )
        )
    from picbucket.adapters.local_blobs import LocalBlobStore

    # Half the readiness floor stays free for deletes and the SQLite journal.
    reserve = settings.min_free_disk_mb * MIB // 2
    local = LocalBlobStore(settings.data_dir / "blobs", reserve_bytes=reserve)
    return local, local


def _build_records(settings: Settings, blobs: BlobStore) -> Backends:
    if settings.record_store == "firestore":
        from picbucket.adapters.firestore_albums import FirestoreAlbums
        from picbucket.adapters.firestore_exports import FirestoreExports
        from picbucket.adapters.firestore_idempotency import FirestoreIdempotency
        from picbucket.adapters.firestore_records import FirestoreRecords

        firestore = FirestoreRecords.from_settings(settings)
        cap_firestore_client(firestore.client, settings.records_deadline_seconds)
        backends = _backends(
            blobs,
            firestore,
            FirestoreAlbums(firestore.client),
            FirestoreExports(firestore.client),
        )
        probe = firestore.client.collection("_health").document("ping")
        backends.health["records"] = OneAttempt(
            lambda: probe.get(retry=None, timeout=PROBE_TIMEOUT)
        )
        backends.idempotency = FirestoreIdempotency(firestore.client)
        return backends
    from picbucket.adapters.sqlite_albums import SqliteAlbums
    from picbucket.adapters.sqlite_exports import SqliteExports
    from picbucket.adapters.sqlite_idempotency import SqliteIdempotency
    from picbucket.adapters.sqlite_records import SqliteRecords

    sqlite = SqliteRecords(settings.data_dir / "picbucket.sqlite3")
    backends = _backends(blobs, sqlite, SqliteAlbums(sqlite), SqliteExports(sqlite))
    backends.idempotency = SqliteIdempotency(sqlite)
    return backends


def _backends(
    blobs: BlobStore, records: RecordStore, albums: AlbumRepository, exports: ExportRepository
) -> Backends:
    """Assemble Backends from a blob store, a record store's four repositories and the rest."""
    return Backends(
        blobs=blobs,
        users=records.users,
        images=records.images,
        shares=records.shares,
        tokens=records.tokens,
        albums=albums,
        exports=exports,
        health={"records": records},
        closers=[records.close],
    )
