"""A full local disk, for real: a 4 MiB tmpfs mounted in a private mount namespace.

``unshare -rm`` (an unprivileged user + mount namespace) lets the test mount a
size-limited tmpfs without root on the host and without FUSE; the kernel itself
answers ENOSPC, and SQLite meets "database or disk is full" exactly as on a full
server. tests/infra/full_disk_scenario.py drives the app inside it.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

SCENARIO = Path(__file__).with_name("full_disk_scenario.py")
DISK = "4m"


@pytest.fixture(scope="module")
def report(issuer: str, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    if shutil.which("unshare") is None:
        pytest.fail("unshare (util-linux) is needed to mount a small tmpfs")
    mount = tmp_path_factory.mktemp("small-disk")
    script = (
        f'mount -t tmpfs -o size={DISK} tmpfs "{mount}" && '
        f'exec "{sys.executable}" "{SCENARIO}" "{mount}" "{issuer}"'
    )
    done = subprocess.run(
        ["unshare", "-rm", "sh", "-c", script],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-4000:]
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def test_uploads_are_refused_with_507_before_the_disk_is_full(report: dict[str, Any]) -> None:
    statuses = report["statuses"]
    assert statuses[-1] == 507
    assert set(statuses[:-1]) == {201}
    assert len(statuses) > 5  # the disk held several images first
    assert report["refusal"]["code"] == "storage_full"
    assert report["free_after_uploads"] > 0


def test_readiness_reports_low_disk_with_free_bytes(report: dict[str, Any]) -> None:
    ready = report["ready_when_low"]
    assert ready["backends"] == {"disk": "low on space"}
    assert ready["disk"]["free_bytes"] < ready["disk"]["floor_bytes"] == 1024 * 1024


def test_a_completely_full_disk_gives_507_and_leaves_nothing_half_written(
    report: dict[str, Any],
) -> None:
    assert report["free_when_full"] < 64 * 1024
    assert report["upload_when_full"] == [507, "storage_full"]
    assert report["direct_put_when_full"] == "StorageFull"
    assert report["partial_files"] == []
    assert report["unfinished_records"] == []
    assert set(report["readable"]) == {200}


def test_deleting_and_emptying_the_trash_work_on_a_full_disk(report: dict[str, Any]) -> None:
    assert set(report["deletes"]) <= {200, 204}
    assert report["emptied"] == len(report["deletes"])
    assert report["usage_after"] == [0, 0]
    assert report["blobs_after"] == []
    assert report["free_after_delete"] > report["free_when_full"] + 500_000
    assert report["upload_after"] == 201
