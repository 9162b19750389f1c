"""Fill a small real filesystem through the app and report what a user would see.

Run by tests/infra/test_full_disk.py inside ``unshare -rm`` with a size-limited
tmpfs mounted at argv[1]; argv[2] is the test identity provider. Prints one JSON
object of observations; the test asserts on them.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import sys
from pathlib import Path
from typing import Any

from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from conftest import sign_in
from helpers import csrf_token, json_of, upload, user_id_of
from picbucket.adapters.local_blobs import LocalBlobStore
from picbucket.app import create_app
from picbucket.domain import StorageFull
from picbucket.ports import Backends
from picbucket.services.trash import empty_trash
from picbucket.settings import Settings


def noise_png(seed: int) -> bytes:
    """Return a ~190 KB PNG that does not compress (random pixels)."""
    rng = __import__("random").Random(seed)
    image = Image.frombytes("RGB", (256, 256), rng.randbytes(256 * 256 * 3))
    out = io.BytesIO()
    image.save(out, "PNG")
    return out.getvalue()


def fill(directory: Path) -> int:
    """Write a filler file until the filesystem refuses; return its size."""
    written = 0
    with (directory / "filler").open("wb", buffering=0) as filler:
        chunk = b"\0" * 4096
        while True:
            try:
                written += filler.write(chunk) or 0
            except OSError:
                return written


def main(mount: Path, issuer: str) -> dict[str, Any]:
    settings = Settings(
        data_dir=mount / "data",
        oidc_issuer=issuer,
        oidc_local=True,
        secret_key="test-secret-key-that-is-long-enough-for-tests",
        min_free_disk_mb=1,
    )
    app = create_app(settings)
    app.config["TESTING"] = True
    backends: Backends = app.extensions["picbucket"]
    browser = app.test_client()
    report: dict[str, Any] = {}
    assert sign_in(browser, "alice@example.com").status_code == 302
    owner = user_id_of(browser)

    # 1. Upload until refused: the reserve (half the 1 MiB floor) stops uploads.
    statuses, saved = [], []
    for seed in range(60):
        response = upload(browser, noise_png(seed), filename=f"noise{seed}.png")
        statuses.append(response.status_code)
        if response.status_code != 201:
            report["refusal"] = json_of(response)["error"]
            break
        saved.append(json_of(response)["id"])
    report["statuses"] = statuses
    report["ready_when_low"] = json_of(browser.get("/readyz"))
    report["free_after_uploads"] = shutil.disk_usage(mount).free

    # 2. Fill the disk to the last byte: the database and the blob store hit ENOSPC.
    report["filler_bytes"] = fill(mount)
    report["free_when_full"] = shutil.disk_usage(mount).free
    # The blob store's own ENOSPC path (no reserve): the write itself fails.
    bare = LocalBlobStore(settings.data_dir / "blobs")
    try:
        bare.put("users/x/y/original.png", io.BytesIO(noise_png(5)), content_type="image/png")
        report["direct_put_when_full"] = "stored"
    except StorageFull:
        report["direct_put_when_full"] = "StorageFull"
    response = upload(browser, noise_png(999), filename="full.png")
    report["upload_when_full"] = [response.status_code, json_of(response)["error"]["code"]]
    report["partial_files"] = [blob.key for blob in backends.blobs.scan_partial()]
    report["unfinished_records"] = [
        image.id for image in backends.images.unfinished(before=_far_future())
    ]
    report["readable"] = [
        browser.get(f"/api/v1/images/{image_id}").status_code for image_id in saved
    ]

    # 3. Deleting works on the full disk: to the trash, then emptied for good.
    token = csrf_token(browser)
    report["deletes"] = [
        browser.delete(f"/api/v1/images/{image_id}", headers={"X-CSRFToken": token}).status_code
        for image_id in saved
    ]
    with app.app_context():
        report["emptied"] = empty_trash(backends, owner)
    report["usage_after"] = [
        backends.images.usage(owner).images,
        backends.images.usage(owner).bytes,
    ]
    report["blobs_after"] = [blob.key for blob in backends.blobs.scan("")]
    report["free_after_delete"] = shutil.disk_usage(mount).free

    # 4. With the space back, uploads work again.
    os.unlink(mount / "filler")
    response = upload(browser, noise_png(1000), filename="again.png")
    report["upload_after"] = response.status_code
    backends.close()
    return report


def _far_future() -> Any:
    from datetime import UTC, datetime

    return datetime(2999, 1, 1, tzinfo=UTC)


if __name__ == "__main__":
    print(json.dumps(main(Path(sys.argv[1]), sys.argv[2])))
