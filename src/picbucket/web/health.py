"""Liveness and readiness endpoints for Cloud Run probes and load balancers.

``/healthz`` touches no backend: it answers as long as the process can serve, so a
liveness probe never restarts an instance because Firestore or the bucket is down.
``/readyz`` pings every backend at once and answers within ``READY_BUDGET`` seconds
whatever they do, naming what is down.
"""

from __future__ import annotations

import threading
from concurrent.futures import Future, ThreadPoolExecutor, wait
from typing import Any

from flask import Blueprint, current_app, jsonify
from werkzeug.wrappers import Response

from picbucket import draining
from picbucket.ports import HealthCheck
from picbucket.resilience import DiskSpace, LowDiskSpace
from picbucket.web.context import backends

bp = Blueprint("health", __name__)

# Cloud Run's startup probe waits 3 s (run.tf); answer well inside it.
READY_BUDGET = 1.5
_pool = ThreadPoolExecutor(8, thread_name_prefix="picbucket-readyz")
# A ping still running from an earlier probe (a hung backend): reuse its future rather
# than start another, so probes every few seconds cannot pile up threads.
_running: dict[int, Future[None]] = {}
_running_lock = threading.Lock()


@bp.get("/healthz")
def healthz() -> Response:
    """Answer 200 while the process can serve requests."""
    return jsonify(status="ok")


@bp.get("/readyz")
def readyz() -> tuple[Response, int]:
    """Answer 200 only if every backend answers within the budget and disk space is left."""
    if draining.active():
        return jsonify(status="draining"), 503
    checks = backends().health
    futures = {name: _start(check) for name, check in checks.items()}
    wait(futures.values(), timeout=READY_BUDGET)
    failures: dict[str, str] = {}
    body: dict[str, Any] = {}
    for name, future in futures.items():
        problem = _problem(name, future)
        if problem:
            failures[name] = problem
    disk = checks.get("disk")
    if isinstance(disk, DiskSpace):
        body["disk"] = _disk_report(disk, futures["disk"])
    if failures:
        return jsonify(status="unavailable", backends=failures, **body), 503
    return jsonify(status="ok"), 200


def _start(check: HealthCheck) -> Future[None]:
    with _running_lock:
        future = _running.get(id(check))
        if future is None or future.done():
            future = _pool.submit(check.ping)
            _running[id(check)] = future
        return future


def _problem(name: str, future: Future[None]) -> str:
    """Return what is wrong with one check ("" if it passed)."""
    if not future.done():
        return "timeout"
    exc = future.exception()
    if exc is None:
        return ""
    if isinstance(exc, LowDiskSpace):
        return "low on space"
    current_app.logger.warning("readiness check %s failed: %s", name, exc)
    return "unreachable"


def _disk_report(disk: DiskSpace, future: Future[None]) -> dict[str, int]:
    exc = future.exception() if future.done() else None
    if isinstance(exc, LowDiskSpace):
        return {"free_bytes": exc.free, "floor_bytes": exc.floor}
    return {"floor_bytes": disk.floor}
