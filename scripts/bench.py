"""Benchmarks: the media pipeline, uploads and the gallery at 10,000 images (`make bench`).

Measures, not asserts: prints a table of medians. Runs on the embedded default
(local disk + SQLite); ``--gcp`` adds the same gallery and share-delivery numbers
on the Google Cloud adapters against the emulators (started by this script).
"""

from __future__ import annotations

import argparse
import io
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import replace
from datetime import timedelta
from functools import partial
from pathlib import Path
from typing import Any

from bench_albums import bench_album_page, bench_bulk_trash, bench_zip
from bench_imaging import bench_pipeline, median_ms, photo_jpeg

from picbucket import create_app
from picbucket.cursors import ORDERS
from picbucket.domain import Image as ImageRecord
from picbucket.domain import ImageStatus, Quota, User, Variant, new_id, user_id_for, utcnow
from picbucket.settings import MIB, Settings


def _record(owner: str, index: int) -> ImageRecord:
    image_id = new_id()
    variant = Variant(f"users/{owner}/{image_id}/original.jpg", "image/jpeg", 1000, "0" * 64)
    thumb = Variant(f"users/{owner}/{image_id}/thumb.webp", "image/webp", 100, "0" * 64)
    created = utcnow() - timedelta(seconds=index)
    record = ImageRecord(
        image_id, owner, f"image {index}", 800, 600, variant, thumb, created, ImageStatus.READY
    )
    # Half have a date taken (scattered over years), as camera photos next to screenshots.
    taken = created - timedelta(days=(index * 37) % 3000) if index % 2 else None
    return replace(record, taken_at=taken)


@contextmanager
def signed_in_client(settings: Settings, count: int) -> Iterator[tuple[Any, Any, str]]:
    """Yield an app, a client signed in as a user with ``count`` image records, and its id."""
    app = create_app(settings)
    backends = app.extensions["picbucket"]
    user = backends.users.upsert(
        User(user_id_for("bench", "u"), "bench", "u", "bench@example.com", "Bench", utcnow())
    )
    quota = Quota(10**15, 10**9)
    for index in range(count):
        backends.images.add(_record(user.id, index), quota)
    client = app.test_client()
    with client.session_transaction() as session:
        session["_user_id"] = f"{user.id}:{user.session_epoch}"
        session["_fresh"] = True
    page = client.get("/settings").get_data(as_text=True)
    # Send the page's CSRF token on every request, as the page's own scripts do.
    client.environ_base["HTTP_X_CSRFTOKEN"] = page.split('name="csrf-token" content="')[1].split(
        '"'
    )[0]
    try:
        yield app, client, user.id
    finally:
        backends.close()


def bench_gallery(settings: Settings, count: int, runs: int, label: str) -> list[tuple[str, str]]:
    """Gallery first page, a deep page by cursor, and the API page, at ``count`` images."""
    rows: list[tuple[str, str]] = []
    start = time.perf_counter()
    with signed_in_client(settings, count) as (app, client, owner):
        rows.append((f"[{label}] insert {count} records", f"{time.perf_counter() - start:.1f} s"))
        backends = app.extensions["picbucket"]
        rows.append(
            (
                f"[{label}] gallery HTML, first page of 60",
                f"{median_ms(lambda: client.get('/'), runs):.1f} ms",
            )
        )
        cursor = None
        depth = min(100, count // 60 - 1)
        for _ in range(depth):
            cursor = backends.images.page(owner, cursor, 60).next_cursor
        deep = f"/?cursor={cursor}"
        rows.append(
            (
                f"[{label}] gallery HTML, page {depth + 1} by cursor",
                f"{median_ms(partial(client.get, deep), runs):.1f} ms",
            )
        )
        rows.append(
            (
                f"[{label}] API list, 60 items",
                f"{median_ms(lambda: client.get('/api/v1/images?limit=60'), runs):.1f} ms",
            )
        )
        rows += bench_gallery_orders(backends, client, owner, count, runs, label)
        if label == "sqlite":
            rows.append(
                (f"[{label}] SQL statements per gallery page", str(count_statements(app, client)))
            )
    return rows


def bench_gallery_orders(
    backends: Any, client: Any, owner: str, count: int, runs: int, label: str
) -> list[tuple[str, str]]:
    """Gallery first and deep pages in each sort order, and a title search."""
    rows: list[tuple[str, str]] = []
    for order in ORDERS:
        first = f"/?sort={order}"
        rows.append(
            (
                f"[{label}] gallery HTML sort={order}, first page",
                f"{median_ms(partial(client.get, first), runs):.1f} ms",
            )
        )
        cursor = None
        depth = min(100, count // 60 - 1)
        for _ in range(depth):
            cursor = backends.images.page(owner, cursor, 60, order).next_cursor
        deep = f"/?sort={order}&cursor={cursor}"
        rows.append(
            (
                f"[{label}] gallery HTML sort={order}, page {depth + 1}",
                f"{median_ms(partial(client.get, deep), runs):.1f} ms",
            )
        )
    # "image 12" matches image 12, 120-129, 1200-1299...: a few hundred of 10,000.
    rows.append(
        (
            f"[{label}] gallery HTML search q=image 12",
            f"{median_ms(lambda: client.get('/?q=image%2012'), runs):.1f} ms",
        )
    )
    return rows


def bench_viewer_bytes(settings: Settings) -> list[tuple[str, str]]:
    """Bytes the viewer fetches to show a 12 MP photo (its display rendition), vs the original.

    The browser journey (tests/e2e/test_viewer.py) measures the same in Chromium.
    """
    data = photo_jpeg(4000, 3000, quality=95)
    with signed_in_client(settings, 0) as (_app, client, _owner):
        answer = client.post(
            "/api/v1/images",
            data={"file": (io.BytesIO(data), "twelve.jpg")},
            content_type="multipart/form-data",
        )
        made = answer.get_json()
        display = client.get("/" + made["display_url"].split("://", 1)[1].split("/", 1)[1])
        shown = len(display.data)
    return [
        ("viewer: 12 MP original", f"{len(data) / 1e6:.2f} MB"),
        ("viewer: bytes fetched to show it", f"{shown / 1e6:.2f} MB ({shown / len(data):.0%})"),
    ]


def count_statements(app: Any, client: Any) -> int:
    """Count the SQL statements one gallery page runs (no per-item round trips)."""
    # The SqliteRecords' pool (private attributes pass through the deadline guard).
    pool = app.extensions["picbucket"].images._db.pool
    statements: list[str] = []
    traced: list[Any] = []
    lend = pool.borrow

    @contextmanager
    def borrow() -> Iterator[Any]:
        # Every connection the pool lends during the request reports its statements.
        with lend() as conn:
            conn.set_trace_callback(statements.append)
            traced.append(conn)
            yield conn

    pool.borrow = borrow
    try:
        client.get("/")
    finally:
        del pool.borrow  # back to the class's method
        for conn in traced:
            conn.set_trace_callback(None)
    return len(statements)


def bench_uploads(settings: Settings, runs: int) -> list[tuple[str, str]]:
    """Median time of one API upload of a 2 MP JPEG, end to end through the app."""
    data = photo_jpeg(1600, 1200)
    with signed_in_client(settings, 0) as (_app, client, _owner):

        def one() -> None:
            response = client.post(
                "/api/v1/images",
                data={"file": (io.BytesIO(data), "bench.jpg")},
            )
            assert response.status_code == 201, response.json

        return [
            (f"upload 2 MP JPEG via API ({settings.blob_store})", f"{median_ms(one, runs):.0f} ms")
        ]


def bench_share_delivery(settings: Settings, runs: int) -> list[tuple[str, str]]:
    """Time a share-link image view: streamed by the app vs redirect to a signed URL."""
    import requests

    data = photo_jpeg(4000, 3000)
    rows: list[tuple[str, str]] = []
    with signed_in_client(settings, 0) as (_app, client, _owner):
        created = client.post(
            "/api/v1/images?share=never",
            data={"file": (io.BytesIO(data), "share.jpg")},
        ).json
        path = "/" + created["share"]["share_image_url"].split("://", 1)[1].split("/", 1)[1]
        size = created["bytes"]
        rows.append(
            (
                f"share image, proxied through the app ({size / 1e6:.1f} MB)",
                f"{median_ms(lambda: client.get(path).data, runs):.1f} ms",
            )
        )
    signed = Settings(**{**settings.__dict__, "share_delivery": "signed-url"})
    with signed_in_client(signed, 0) as (app, client, _owner):
        redirect_ms = median_ms(lambda: client.get(path), runs)
        url = client.get(path).headers["Location"]
        fetch_ms = median_ms(lambda: requests.get(url, timeout=30).content, runs)
        rows.append(("share image, 302 to signed URL: app part", f"{redirect_ms:.1f} ms"))
        rows.append(("share image, signed URL fetch from the bucket", f"{fetch_ms:.1f} ms"))
        del app
    return rows


def bench_albums_and_trash(
    settings: Settings, root: Path, runs: int, label: str
) -> list[tuple[str, str]]:
    """Album page vs gallery page at 5,000 photos, and one bulk trash of 1,000."""
    album_settings = Settings(**{**settings.__dict__, "data_dir": root / f"albums-{label}"})
    with signed_in_client(album_settings, 5000) as (app, client, owner):
        backends = app.extensions["picbucket"]
        rows = bench_album_page(client, backends, owner, median_ms, runs)
        rows = [(f"[{label}] {name}", value) for name, value in rows]
        rows += bench_bulk_trash(backends, owner, label)
    return rows


def main() -> None:
    """Run the benchmarks and print a table."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--images", type=int, default=10_000)
    parser.add_argument("--gcp", action="store_true", help="also run on the emulators")
    parser.add_argument("--zip-photos", type=int, default=10_000, help="photos in the zip bench")
    parser.add_argument("--zip-mib", type=int, default=2048, help="their total size, MiB")
    args = parser.parse_args()
    rows: list[tuple[str, str]] = []
    rows += bench_pipeline(args.runs)
    with tempfile.TemporaryDirectory() as tmp, ExitStack() as stack:
        base = Settings(
            data_dir=Path(tmp) / "local",
            rate_limit_upload="100000 per minute",
            rate_limit_api="100000 per minute",
            log_level="WARNING",  # keep the table readable
        )
        rows += bench_gallery(base, args.images, args.runs, "sqlite")
        rows += bench_uploads(
            Settings(**{**base.__dict__, "data_dir": Path(tmp) / "up"}), args.runs
        )
        rows += bench_viewer_bytes(Settings(**{**base.__dict__, "data_dir": Path(tmp) / "view"}))
        rows += bench_albums_and_trash(base, Path(tmp), args.runs, "sqlite")
        rows += bench_zip(Path(tmp), args.zip_photos, args.zip_mib * MIB)
        if args.gcp:
            from picbucket.dev.emulators import running_emulators

            overrides = stack.enter_context(running_emulators(Path(tmp) / "emu"))
            gcp = Settings(**{**base.__dict__, **overrides, "data_dir": Path(tmp) / "gcp"})
            rows += bench_gallery(gcp, min(args.images, 2000), args.runs, "firestore")
            rows += bench_albums_and_trash(gcp, Path(tmp) / "gcp-albums", args.runs, "firestore")
            rows += bench_uploads(gcp, args.runs)
            rows += bench_share_delivery(
                Settings(**{**gcp.__dict__, "data_dir": Path(tmp) / "share"}), args.runs
            )
    width = max(len(name) for name, _ in rows)
    for name, value in rows:
        print(f"{name.ljust(width)}  {value}")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
