"""Benchmarks for albums, the trash and zips (called from scripts/bench.py).

- zip of N photos totalling S bytes: peak RSS growth while streaming it, and its
  throughput as a share of reading the same blobs without zipping (goals: ≤ 64 MiB,
  ≥ 50 %); the same zip written into the blob store as the export job does;
- album page at 5,000 photos against the gallery page at 5,000 photos;
- bulk trash of 1,000 photos in one call (goal on the emulators: ≤ 10 s).
"""

from __future__ import annotations

import os
import resource
import time
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

from picbucket.adapters.local_blobs import LocalBlobStore
from picbucket.domain import Album, Image, ImageStatus, Quota, Variant, new_id, utcnow
from picbucket.ports import Backends
from picbucket.services.trash import trash_images
from picbucket.services.zips import CHUNK, photo_entries, stream_zip
from picbucket.settings import MIB

# One incompressible-looking block reused for every blob (content does not matter to a
# stored zip, and generating 2 GB of random bytes would dominate the run).
_BLOCK = bytes(range(256)) * 1024


def _peak_rss() -> int:
    # ru_maxrss is in KiB on Linux.
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def _images(store: LocalBlobStore, count: int, size: int) -> list[Image]:
    import io

    images = []
    for index in range(count):
        image_id = new_id()
        key = f"users/bench/{image_id}/original.jpg"
        data = (_BLOCK * (size // len(_BLOCK) + 1))[:size]
        store.put(key, io.BytesIO(data), content_type="image/jpeg")
        variant = Variant(key, "image/jpeg", size, "0" * 64)
        images.append(
            Image(
                image_id,
                "bench",
                f"photo {index % 500}",  # repeated titles: the unique-name path runs too
                800,
                600,
                variant,
                variant,
                utcnow(),
                ImageStatus.READY,
            )
        )
    return images


def _bytes_of(store: LocalBlobStore, images: list[Image]) -> Iterator[bytes]:
    for image in images:
        with store.open(image.original.key) as stream:
            while chunk := stream.read(CHUNK):
                yield chunk


def bench_zip(root: Path, count: int, total_bytes: int) -> list[tuple[str, str]]:
    """Stream a zip of ``count`` blobs (``total_bytes`` together) and read them plainly."""
    store = LocalBlobStore(root / "zip-blobs")
    images = _images(store, count, total_bytes // count)
    size = sum(image.original.size for image in images)

    def read_all(subset: list[Image]) -> int:
        read = 0
        for image in subset:
            with store.open(image.original.key) as stream:
                while chunk := stream.read(CHUNK):
                    read += len(chunk)
        return read

    def zip_all(subset: list[Image]) -> int:
        return sum(len(chunk) for chunk in stream_zip(store, photo_entries(subset)))

    read_all(images)  # warm the page cache, so every run reads from memory alike
    before = _peak_rss()
    written = zip_all(images)
    growth = _peak_rss() - before

    # The export job writes the same zip into the blob store as it is produced
    # (put_stream): nothing of it may be held whole, in memory or in a temp copy. Its
    # time is set against the work it cannot avoid, the same photos' bytes read and
    # written unzipped: alternated, after a sync (the page cache's writeback of one run
    # must not slow the next), medians of three.
    def write(chunks: Iterator[bytes]) -> float:
        os.sync()
        started = time.perf_counter()
        written = store.put_stream(f"exports/bench/{new_id()}", chunks, content_type="x/y")
        seconds = time.perf_counter() - started
        store.delete(written.key)
        return seconds

    before = _peak_rss()
    job_times = [write(stream_zip(store, photo_entries(images)))]
    job_growth = _peak_rss() - before
    copy_times = [write(_bytes_of(store, images))]
    for _ in range(2):
        job_times.append(write(stream_zip(store, photo_entries(images))))
        copy_times.append(write(_bytes_of(store, images)))
    job_seconds, copy_seconds = sorted(job_times)[1], sorted(copy_times)[1]
    # Throughput: zip and plain read alternated (the machine is shared, so load changes
    # between runs), medians of three, on the first fifth of the photos.
    subset = images[: max(1, count // 5)]
    subset_bytes = sum(image.original.size for image in subset)
    zip_times: list[float] = []
    read_times: list[float] = []
    for _ in range(3):
        for run, times in ((zip_all, zip_times), (read_all, read_times)):
            started = time.perf_counter()
            run(subset)
            times.append(time.perf_counter() - started)
    zip_rate = subset_bytes / sorted(zip_times)[1]
    read_rate = subset_bytes / sorted(read_times)[1]
    return [
        (
            f"zip of {count:,} photos / {size / 2**30:.2f} GiB: written",
            f"{written / 2**30:.2f} GiB",
        ),
        ("zip peak RSS growth (goal ≤ 64 MiB)", f"{growth / MIB:.1f} MiB"),
        (
            "export job: the same zip written into the blob store, peak RSS growth",
            f"{job_growth / MIB:.1f} MiB",
        ),
        (
            "export job ÷ the same bytes written unzipped (median of 3)",
            f"{job_seconds / copy_seconds:.2f} ({job_seconds:.1f} s ÷ {copy_seconds:.1f} s)",
        ),
        ("zip throughput (median of 3)", f"{zip_rate / MIB:.0f} MiB/s"),
        ("plain read throughput (median of 3)", f"{read_rate / MIB:.0f} MiB/s"),
        ("zip ÷ plain read (goal ≥ 50 %)", f"{zip_rate / read_rate:.0%}"),
    ]


def bench_album_page(
    client: Any, backends: Backends, owner: str, median_ms: Callable[..., float], runs: int
) -> list[tuple[str, str]]:
    """Time the album page of an album holding every photo, against the gallery page."""
    album = Album(new_id(), owner, "Everything", utcnow())
    backends.albums.add(album)
    ids: list[str] = []
    cursor: str | None = None
    while True:
        page = backends.images.page(owner, cursor, 200)
        ids += [image.id for image in page.items]
        if page.next_cursor is None:
            break
        cursor = page.next_cursor
    backends.albums.add_items(owner, album.id, ids)
    album_ms = median_ms(lambda: client.get(f"/albums/{album.id}"), runs)
    gallery_ms = median_ms(lambda: client.get("/"), runs)
    return [
        (f"album page, first page of {len(ids):,} photos", f"{album_ms:.1f} ms"),
        (f"gallery page, first page of {len(ids):,} photos", f"{gallery_ms:.1f} ms"),
        ("album page ÷ gallery page", f"{album_ms / gallery_ms:.2f}"),
    ]


def bench_bulk_trash(backends: Backends, owner: str, label: str) -> list[tuple[str, str]]:
    """Time one bulk call moving 1,000 photos to the trash (and back)."""
    quota = Quota(10**15, 10**9)
    ids = []
    for index in range(1000):
        image_id = new_id()
        variant = Variant(f"users/{owner}/{image_id}/o.jpg", "image/jpeg", 10, "1" * 64)
        created = utcnow() - timedelta(seconds=index)
        image = Image(image_id, owner, "t", 1, 1, variant, variant, created, ImageStatus.READY)
        backends.images.add(image, quota)
        ids.append(image_id)
    started = time.perf_counter()
    moved = trash_images(backends, owner, ids)
    seconds = time.perf_counter() - started
    assert len(moved) == 1000
    backends.images.move_many(owner, ids, ImageStatus.TRASHED, ImageStatus.READY, None)
    return [(f"[{label}] bulk trash of 1,000 photos, one call (goal ≤ 10 s)", f"{seconds:.2f} s")]
