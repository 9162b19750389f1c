"""Gunicorn on local disk + SQLite whose data directory is a 48 MiB tmpfs that fills up.

A real full filesystem, not a simulated one: the data directory is a tmpfs mounted
for the test (so it needs root, as in the CI container). Uploads go on until the
disk is nearly full, then a ballast file takes the last byte. Asserts: /readyz
names the disk before it is full; uploads are refused with 507 (never 500) and leave
nothing half-written; a delete still works on a completely full disk; /readyz is
200 again within 5 s of space coming back; /healthz keeps answering within 1 s.
"""

from __future__ import annotations

import contextlib
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

import imagefiles
from emulators import unavailable
from faults.harness import (
    HEALTH_SHARE,
    READY_WITHIN_RECOVERY,
    Answer,
    HealthProbe,
    Server,
    leftovers,
    make_account,
    reconcile,
    server_env,
    start_server,
    wait_for_ready,
)

pytestmark = pytest.mark.faults

DISK_MB = 48
FLOOR_MB = 8  # PICBUCKET_MIN_FREE_DISK_MB: readiness and the upload reserve


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """Mount a 48 MiB tmpfs and yield it; unmount afterwards."""
    mount = tmp_path / "disk"
    mount.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={DISK_MB}m", "tmpfs", str(mount)],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        unavailable(f"cannot mount a tmpfs (needs root): {done.stderr.strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


@pytest.fixture
def server(small_disk: Path, tmp_path: Path) -> Iterator[Server]:
    """Gunicorn on local blobs + SQLite in the small disk."""
    env = server_env(small_disk / "data", {"PICBUCKET_MIN_FREE_DISK_MB": str(FLOOR_MB)})
    started = start_server(tmp_path, env)
    try:
        yield started
    finally:
        started.stop()


def _free_mb(path: Path) -> float:
    return shutil.disk_usage(path).free / (1024 * 1024)


def _ballast(path: Path, leave_mb: float) -> None:
    """Write a file that leaves about ``leave_mb`` free (0: until the disk is full)."""
    chunk = b"\0" * (256 * 1024)
    # Unbuffered: every write reaches the disk now, and closing has nothing left to fail.
    with path.open("ab", buffering=0) as out, contextlib.suppress(OSError):
        while _free_mb(path.parent) - len(chunk) / (1024 * 1024) >= leave_mb:
            out.write(chunk)
        if leave_mb == 0:
            while True:  # a page at a time at the end: the last block too
                out.write(b"\0" * 4096)


def test_a_full_disk_refuses_uploads_and_still_deletes(server: Server, small_disk: Path) -> None:
    failed: list[str] = []
    _owner, token = make_account(server.env)
    with HealthProbe(server.port) as probe:
        probe.phase = "full disk"
        assert wait_for_ready(server.port, 200, 10) is not None, server.tail()
        _ballast(small_disk / "ballast-1", leave_mb=FLOOR_MB + 6)
        answers: list[Answer] = []
        stored: list[str] = []
        low_seen_at: float | None = None
        for seed in range(60):
            answer = server.upload(token, imagefiles.noise_png((400, 400), seed=seed))
            answers.append(answer)
            if answer.status == 201:
                stored.append(answer.json()["id"])
            ready = server.get("/readyz", timeout=3)
            if ready.status == 503 and low_seen_at is None:
                low_seen_at = _free_mb(small_disk)
                failed += [] if b"disk" in ready.body else [f"/readyz 503 names no disk: {ready}"]
            if answer.status == 507:
                break
        statuses = sorted({str(a.status) for a in answers})
        if low_seen_at is None or low_seen_at <= 0:
            failed.append(f"/readyz never reported low space before the disk was full ({statuses})")
        if not any(a.status == 507 for a in answers):
            failed.append(f"uploads never refused with 507 as the disk filled: {statuses}")
        if any(a.status == 500 or a.status is None for a in answers):
            failed.append(f"uploads on a filling disk answered {statuses}")
        if not stored:
            failed.append("no upload was stored before the disk filled")

        # The last byte goes: deleting must still work, or nobody can free space.
        _ballast(small_disk / "ballast-2", leave_mb=0)
        if stored:
            gone = server.delete(token, stored[0])
            if gone.status != 204:
                failed.append(f"delete on a full disk answered {gone.status}: {gone.body[:200]!r}")
        refused = server.upload(token, imagefiles.png())
        if refused.status not in (503, 507):
            failed.append(f"upload on a full disk answered {refused.status}")

        probe.phase = "space back"
        for ballast in small_disk.glob("ballast-*"):
            ballast.unlink()
        took = wait_for_ready(server.port, 200, READY_WITHIN_RECOVERY)
        if took is None or took > READY_WITHIN_RECOVERY:
            failed.append(f"/readyz back to 200 after {took} s (need ≤ {READY_WITHIN_RECOVERY} s)")
        again = server.upload(token, imagefiles.png())
        if again.status != 201:
            failed.append(f"upload after space came back answered {again.status}")
        time.sleep(2)  # let the probe sample the recovered server too
    for phase in ("full disk", "space back"):
        share, count = probe.fast_share(phase)
        if share < HEALTH_SHARE:
            failed.append(f"{phase}: /healthz within 1 s {share:.1%} of {count} times")
    server.stop()
    result = reconcile(server.env)
    if result.returncode != 0:
        failed.append(f"reconcile exited {result.returncode}: {result.stdout[-500:]}")
    orphans, partial = leftovers(server.env)
    if orphans or partial:
        failed.append(f"left behind: blobs without records {orphans}, temp files {partial}")
    for image_id in stored[1:]:
        path = small_disk / "data" / "blobs"
        if not any(path.glob(f"users/*/{image_id}/original.*")):
            failed.append(f"stored image {image_id} lost its original")
    assert not failed, "\n".join(failed) + "\n" + server.tail(10)
