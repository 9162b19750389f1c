"""``picbucket renditions --backfill`` renews what the first release stored.

SQLite: ``fixtures/previous-release.sqlite3`` was written by the previous release's
code; it has no blob files, so the test writes first-release-style blobs under its
keys (the first release re-encoded originals as JPEG q90 and made 400 px thumbnails).
Firestore: documents shaped exactly as the previous release wrote them, blobs in the
GCS emulator.
"""

from __future__ import annotations

import hashlib
import io
import shutil
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from flask import Flask
from PIL import Image as PILImage

from picbucket import create_app
from picbucket.adapters.sqlite_records import SqliteRecords
from picbucket.domain import Image, ImageStatus, NotFound, Quota, Variant, user_id_for
from picbucket.imaging import Limits, process_upload
from picbucket.ports import Backends
from picbucket.services.renditions import backfill_renditions
from picbucket.settings import Settings

FIXTURE = Path(__file__).parent / "fixtures" / "previous-release.sqlite3"
ALICE = user_id_for("https://idp.example", "alice")
OLD1, OLD2 = "oldImage1-AAAAAAAAAAAA", "oldImage2-BBBBBBBBBBBB"
# Added to the fixture's two 800x600 photos: big enough to need a display rendition.
BIG = "oldImage3-GGGGGGGGGGGG"
BIG_SIZE = (4000, 3000)
OLD_THUMB_LONG_SIDE = 400


def photo(size: tuple[int, int], seed: int) -> bytes:
    """Return a first-release original: a photo-like JPEG re-encoded at q90, no metadata."""
    gradient = PILImage.linear_gradient("L").resize(size)
    img = PILImage.merge(
        "RGB", (gradient, gradient.rotate(90 * seed).resize(size), PILImage.new("L", size, 90))
    )
    out = io.BytesIO()
    img.save(out, "JPEG", quality=90)
    return out.getvalue()


def old_thumbnail(original: bytes) -> bytes:
    """Return the first release's thumbnail: 400 px on the long side, JPEG."""
    img = PILImage.open(io.BytesIO(original))
    img.thumbnail((OLD_THUMB_LONG_SIDE, OLD_THUMB_LONG_SIDE))
    out = io.BytesIO()
    img.save(out, "JPEG", quality=85)
    return out.getvalue()


def old_image(image_id: str, original: bytes, size: tuple[int, int], n: int) -> Image:
    """Return a record as the first release wrote it (no variant sizes, no display)."""
    base = f"users/{ALICE}/{image_id}"
    thumb = old_thumbnail(original)
    return Image(
        id=image_id,
        owner_id=ALICE,
        title=f"Old photo {n}",
        width=size[0],
        height=size[1],
        original=Variant(
            f"{base}/original.jpg",
            "image/jpeg",
            len(original),
            hashlib.sha256(original).hexdigest(),
        ),
        thumbnail=Variant(
            f"{base}/thumb.jpg", "image/jpeg", len(thumb), hashlib.sha256(thumb).hexdigest()
        ),
        created=datetime(2025, 6, 1 + n, 10, 0, tzinfo=UTC),
        status=ImageStatus.READY,
    )


ORIGINALS = {
    OLD1: photo((800, 600), 1),
    OLD2: photo((800, 600), 2),
    BIG: photo(BIG_SIZE, 3),
}


def put_old_blobs(backends: Backends, image: Image) -> None:
    """Store the first release's original and thumbnail under the record's keys."""
    original = ORIGINALS[image.id]
    for variant, data in (
        (image.original, original),
        (image.thumbnail, old_thumbnail(original)),
    ):
        backends.blobs.put(variant.key, io.BytesIO(data), content_type="image/jpeg")


def read(backends: Backends, key: str) -> bytes:
    with backends.blobs.open(key) as stream:
        return stream.read()


def all_images(backends: Backends) -> list[Image]:
    return backends.images.all_images(None, 100).items


def check_renewed(backends: Backends, before: list[Image]) -> None:
    """Every image has today's renditions; originals and the quota add up."""
    after = {image.id: image for image in all_images(backends)}
    assert set(after) == {image.id for image in before}
    for old in before:
        new = after[old.id]
        assert new.original == old.original  # kept as stored, record and bytes
        assert read(backends, new.original.key) == ORIGINALS[old.id]
        thumb = PILImage.open(io.BytesIO(read(backends, new.thumbnail.key)))
        assert (thumb.width, thumb.height) == (new.thumbnail.width, new.thumbnail.height)
        assert min(thumb.size) == 512  # sharp in a 256 px cell at 2x (was 400 long side)
        assert new.thumbnail.key != old.thumbnail.key
        assert hashlib.sha256(read(backends, new.thumbnail.key)).hexdigest() == (
            new.thumbnail.sha256
        )
        with pytest.raises(NotFound):
            read(backends, old.thumbnail.key)
        if old.id == BIG:
            assert new.display is not None
            shown = PILImage.open(io.BytesIO(read(backends, new.display.key)))
            assert shown.size == (new.display.width, new.display.height)
            assert 1600 <= max(shown.size) <= 2048
        else:
            assert new.display is None  # 800 px is shown as it is
    usage = backends.images.usage(ALICE)
    assert usage.bytes == sum(image.bytes for image in after.values())
    assert usage.images == len(after)


# -- SQLite, from the previous release's database ------------------------------


@pytest.fixture
def old_app(tmp_path: Path) -> Iterator[Flask]:
    """An app over a copy of the previous release's database and its blobs."""
    data = tmp_path / "data"
    data.mkdir()
    shutil.copy(FIXTURE, data / "picbucket.sqlite3")
    records = SqliteRecords(data / "picbucket.sqlite3")
    big = old_image(BIG, ORIGINALS[BIG], BIG_SIZE, 3)
    records.images.add(big, Quota(10**9, 1000))
    records.close()
    app = create_app(Settings(data_dir=data))
    backends: Backends = app.extensions["picbucket"]
    for image in all_images(backends):
        put_old_blobs(backends, image)
    yield app
    backends.close()


def test_fixture_images_are_first_release_ones(old_app: Flask) -> None:
    backends: Backends = old_app.extensions["picbucket"]
    images = all_images(backends)
    assert {image.id for image in images} == {OLD1, OLD2, BIG}
    assert all(image.thumbnail.width == 0 and image.display is None for image in images)


def test_backfill_command_renews_every_image_then_has_nothing_to_do(old_app: Flask) -> None:
    backends: Backends = old_app.extensions["picbucket"]
    before = all_images(backends)
    runner = old_app.test_cli_runner()

    first = runner.invoke(args=["renditions", "--backfill", "--batch-size", "2"])

    assert first.exit_code == 0, first.output
    assert "3 image(s) to renew, 2 per batch" in first.output
    assert "batch 1: 2 of 3 done (2 renewed, 0 skipped, 0 failed)" in first.output
    assert "batch 2: 3 of 3 done (1 renewed, 0 skipped, 0 failed)" in first.output
    check_renewed(backends, before)
    renewed = all_images(backends)

    second = runner.invoke(args=["renditions", "--backfill"])

    assert second.exit_code == 0, second.output
    assert second.output.strip() == "renditions: nothing to do"
    assert all_images(backends) == renewed


def test_backfill_resumes_after_a_stop(old_app: Flask) -> None:
    backends: Backends = old_app.extensions["picbucket"]
    settings = old_app.config["PICBUCKET_SETTINGS"]
    before = all_images(backends)

    def stop_after_first_batch(line: str) -> None:
        if line.startswith("batch 1:"):
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        backfill_renditions(backends, settings, batch_size=1, echo=stop_after_first_batch)
    lines: list[str] = []
    report = backfill_renditions(backends, settings, batch_size=1, echo=lines.append)

    assert (report.total, report.renewed) == (2, 2)
    assert lines[0] == "renditions: 2 image(s) to renew, 1 per batch"
    check_renewed(backends, before)


def test_blobs_stored_by_a_run_that_stopped_count_as_stored(old_app: Flask) -> None:
    """A run killed between putting blobs and changing the record: the rerun finishes."""
    backends: Backends = old_app.extensions["picbucket"]
    settings = old_app.config["PICBUCKET_SETTINGS"]
    before = all_images(backends)
    big = next(image for image in before if image.id == BIG)
    made = process_upload(io.BytesIO(ORIGINALS[BIG]), Limits(10**9, 10**8, 10))
    assert made.display is not None
    folder = big.original.key.rsplit("/", 1)[0]
    left_behind = f"{folder}/display-{made.display.sha256[:8]}.jpg"
    backends.blobs.put(left_behind, made.display.data, content_type="image/jpeg")  # type: ignore[arg-type]

    report = backfill_renditions(backends, settings, echo=lambda line: None)

    assert (report.renewed, report.failed) == (3, 0)
    renewed = backends.images.get(ALICE, BIG)
    assert renewed is not None and renewed.display is not None
    assert renewed.display.key == left_behind
    check_renewed(backends, before)


def test_a_delete_between_the_blobs_and_the_record_switch_leaves_nothing_behind(
    old_app: Flask,
) -> None:
    """The owner deletes the image while its new renditions are being stored."""
    backends: Backends = old_app.extensions["picbucket"]
    settings = old_app.config["PICBUCKET_SETTINGS"]
    images = backends.images
    swap = images.replace_renditions

    def delete_first(owner_id: str, image_id: str, *args: Any) -> bool:
        # The interleaving under test: the delete marks the record just before the swap.
        images.set_status(owner_id, image_id, ImageStatus.READY, ImageStatus.DELETING)
        return swap(owner_id, image_id, *args)

    backends.images = SimpleNamespace(
        get=images.get, all_images=images.all_images, replace_renditions=delete_first
    )
    usage = images.usage(ALICE)

    report = backfill_renditions(backends, settings, echo=lambda line: None)

    assert (report.renewed, report.skipped, report.failed) == (0, 3, 0)
    assert images.usage(ALICE) == usage
    for image in images.all_images(None, 100).items:
        assert image.thumbnail.width == 0 and image.display is None
        folder = image.original.key.rsplit("/", 1)[0]
        stored = {blob.key for blob in backends.blobs.scan(folder + "/")}
        assert stored == {image.original.key, image.thumbnail.key}  # the new ones are gone


def test_an_unreadable_original_fails_alone_and_exits_1(old_app: Flask) -> None:
    backends: Backends = old_app.extensions["picbucket"]
    broken = next(image for image in all_images(backends) if image.id == OLD1)
    backends.blobs.delete(broken.original.key)
    backends.blobs.put(broken.original.key, io.BytesIO(b"not an image"), content_type="image/jpeg")

    result = old_app.test_cli_runner().invoke(args=["renditions", "--backfill"])

    assert result.exit_code == 1
    assert f"{ALICE}/{OLD1}:" in result.output
    assert "renditions: 2 of 3 renewed, 0 skipped, 1 failed" in result.output
    still_old = backends.images.get(ALICE, OLD1)
    assert still_old == broken  # untouched; the next run retries it


def test_records_backfill_sort_keys_has_nothing_to_do_on_sqlite(old_app: Flask) -> None:
    result = old_app.test_cli_runner().invoke(args=["records", "backfill-sort-keys"])

    assert result.exit_code == 0, result.output
    assert "nothing to do" in result.output


# -- Firestore + GCS emulators, documents as the previous release wrote them ----


def first_release_doc(image: Image) -> dict[str, Any]:
    """Return the document the previous release's ``_image_doc`` wrote for ``image``."""

    def variant(v: Variant) -> dict[str, Any]:
        return {"key": v.key, "content_type": v.content_type, "size": v.size, "sha256": v.sha256}

    return {
        "owner_id": image.owner_id,
        "title": image.title,
        "width": image.width,
        "height": image.height,
        "original": variant(image.original),
        "thumbnail": variant(image.thumbnail),
        "created": image.created,
        "status": image.status.value,
    }


@pytest.mark.gcp
def test_backfill_on_firestore_documents_of_the_previous_release(
    tmp_path: Path, gcp_settings: dict[str, Any]
) -> None:
    app = create_app(Settings(data_dir=tmp_path / "data", **gcp_settings))
    backends: Backends = app.extensions["picbucket"]
    try:
        images = [
            old_image(OLD1, ORIGINALS[OLD1], (800, 600), 1),
            old_image(BIG, ORIGINALS[BIG], BIG_SIZE, 3),
        ]
        client = backends.images._client  # type: ignore[attr-defined]  # FirestoreImages
        client.collection("users").document(ALICE).set(
            {
                "issuer": "https://idp.example",
                "subject": "alice",
                "email": "alice@example.com",
                "name": "Alice",
                "created": datetime(2025, 6, 1, 9, 0, tzinfo=UTC),
                "session_epoch": "epoch-alice-0000000000",
                "usage_bytes": sum(image.bytes for image in images),
                "usage_images": len(images),
            }
        )
        for image in images:
            ref = client.collection("users").document(ALICE).collection("images")
            ref.document(image.id).set(first_release_doc(image))
            put_old_blobs(backends, image)
        runner = app.test_cli_runner()

        sort_keys = runner.invoke(args=["records", "backfill-sort-keys"])
        first = runner.invoke(args=["renditions", "--backfill", "--batch-size", "1"])
        second = runner.invoke(args=["renditions", "--backfill"])

        assert "2 image document(s) given a sort key" in sort_keys.output
        assert first.exit_code == 0, first.output
        assert "batch 2: 2 of 2 done (1 renewed, 0 skipped, 0 failed)" in first.output
        check_renewed(backends, images)
        assert second.output.strip() == "renditions: nothing to do"
        assert [i.id for i in backends.images.page(ALICE, None, 10).items] == [BIG, OLD1]
    finally:
        backends.close()
