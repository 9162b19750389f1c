"""``picbucket exports build``: what the export Cloud Run job runs.

Run as the job runs it: the console script in a fresh process, production settings
without the OAuth client secret (like ``picbucket reconcile``).
"""

from __future__ import annotations

import io
import os
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import imagefiles
from picbucket.adapters.export_runners import CloudRunExportRunner
from picbucket.domain import Export, ExportStatus, new_id
from picbucket.services.uploads import store_image
from picbucket.settings import Settings
from picbucket.wiring import build_backends
from stacks import make_user

PICBUCKET = Path(sys.executable).parent / "picbucket"


def production_env(data_dir: Path) -> dict[str, str]:
    """Return the job's environment: production, job mode, no OAuth client."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PICBUCKET_")}
    env.update(
        PICBUCKET_ENV="production",
        PICBUCKET_SECRET_KEY="s" * 48,
        PICBUCKET_DATA_DIR=str(data_dir),
        PICBUCKET_SERVICE_URL="https://pics.example.com",
        PICBUCKET_EXPORT_MODE="job",
        PICBUCKET_EXPORT_JOB="projects/my-project/locations/europe-west1/jobs/picbucket-export",
    )
    return env


def build(data_dir: Path, owner_id: str, export_id: str) -> subprocess.CompletedProcess[str]:
    """Run the command line the Cloud Run runner sends (ids may begin with ``-``)."""
    return subprocess.run(
        [str(PICBUCKET), *CloudRunExportRunner.args(owner_id, export_id)],
        env=production_env(data_dir),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def asked_export(data_dir: Path, *, lose_a_photo: bool = False) -> tuple[str, str]:
    """Store two photos and a pending export (what the web app does); return the ids."""
    settings = Settings(data_dir=data_dir)
    backends = build_backends(settings)
    try:
        owner = make_user(backends, "alice").id
        for seed in (1, 2):
            data = io.BytesIO(imagefiles.noise_png((20, 20), seed=seed))
            image = store_image(backends, settings, owner, data, "p.png")
        if lose_a_photo:
            backends.blobs.delete(image.original.key)
        now = backends.clock()
        export = Export(new_id(), owner, ExportStatus.PENDING, now, now, now + timedelta(days=1))
        backends.exports.add(export)
        return owner, export.id
    finally:
        backends.close()


def stored(data_dir: Path, owner: str, export_id: str) -> Export | None:
    backends = build_backends(Settings(data_dir=data_dir))
    try:
        return backends.exports.get(owner, export_id)
    finally:
        backends.close()


def test_build_makes_the_export_ready_and_a_second_run_leaves_it(tmp_path: Path) -> None:
    data = tmp_path / "data"
    owner, export_id = asked_export(data)

    first = build(data, owner, export_id)
    ready = stored(data, owner, export_id)
    second = build(data, owner, export_id)

    assert first.returncode == 0, first.stderr
    # Logs are JSON lines on stdout too (Cloud Logging); the summary is the last line.
    assert first.stdout.splitlines()[-1].startswith(f"export {export_id} ready: 2 photos, ")
    assert ready is not None and ready.status is ExportStatus.READY
    assert second.returncode == 0, second.stderr
    assert stored(data, owner, export_id) == ready


def test_a_failed_build_exits_non_zero_with_one_line(tmp_path: Path) -> None:
    data = tmp_path / "data"
    owner, export_id = asked_export(data, lose_a_photo=True)

    result = build(data, owner, export_id)

    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert lines[-1] == (
        f"Error: export {export_id} failed: A photo was deleted while the export was being "
        "written. Try again."
    )
    assert "Traceback" not in result.stderr.split("Error:")[-1]
    failed = stored(data, owner, export_id)
    assert failed is not None and failed.status is ExportStatus.FAILED


def test_an_unknown_export_exits_non_zero_with_one_line(tmp_path: Path) -> None:
    data = tmp_path / "data"
    owner, _ = asked_export(data)

    result = build(data, owner, "no-such-export")

    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == ["Error: export no-such-export: No such export."]


def test_ids_that_begin_with_a_dash_are_not_read_as_options(tmp_path: Path) -> None:
    """One id in 64 begins with "-": the job's command line must still take it as an id."""
    result = build(tmp_path / "data", "-owner", "-export")
    assert "No such option" not in result.stderr
    assert result.returncode == 1
    assert "-export" in result.stderr.strip().splitlines()[-1]
