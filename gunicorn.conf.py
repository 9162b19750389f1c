"""Gunicorn settings for the container image and any single-machine install.

Started as ``gunicorn --config gunicorn.conf.py "picbucket:create_app()"``.

Every knob reads an environment variable so Cloud Run (terraform/run.tf), ``docker run``
and the test in tests/infra/test_gunicorn.py drive the same file.

Cloud Run sizing rule: the service's ``max_instance_request_concurrency`` must equal
``concurrency()`` = PICBUCKET_WORKERS x PICBUCKET_THREADS. Fewer and Cloud Run queues
requests an instance could have served; more and requests wait inside gunicorn, invisible
to the autoscaler.
"""

from __future__ import annotations

import os
from typing import Any

from gunicorn.glogging import Logger


def _env_int(name: str, default: int, minimum: int = 1) -> int:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise SystemExit(f"{name} must be a whole number, not {raw!r}.") from None
    if value < minimum:
        raise SystemExit(f"{name} must be at least {minimum}, not {value}.")
    return value


def concurrency() -> int:
    """Return how many requests one instance serves at once: workers x threads."""
    return workers * threads


# --- Server ----------------------------------------------------------------------------

# Cloud Run tells the container which port to listen on.
bind = f"0.0.0.0:{_env_int('PORT', 8080)}"

# One process per instance: Cloud Run scales by adding instances, and a second worker
# would double the memory (each loads Pillow and the cloud clients) on a 1-vCPU instance
# whose CPU is already shared by the threads. Raise it only with more vCPUs.
workers = _env_int("PICBUCKET_WORKERS", 1)
# Requests mostly wait on Cloud Storage / Firestore I/O, and Pillow releases the GIL while
# it decodes and encodes, so threads overlap well. Memory is sized per thread: see run.tf.
threads = _env_int("PICBUCKET_THREADS", 8)
# gthread, except that a thread is lent only to a request whose body has fully arrived
# (src/picbucket/server.py): Cloud Run streams HTTP/1 request bodies to the container
# rather than buffering them, so 8 clients uploading at 10 bytes/s used to hold all 8
# threads. Such clients now cost a socket each; PICBUCKET_REQUEST_READ_SECONDS (300)
# drops one whose request has not arrived by then. With every thread busy, the worker
# answers /healthz itself unless nothing has finished for PICBUCKET_WEDGED_SECONDS (30).
# Not gevent: Pillow's decodes and encodes are CPU-bound C calls that would stall every
# greenlet, /healthz included.
worker_class = "picbucket.server.BufferingThreadWorker"

# Cloud Run enforces the request timeout itself (run.tf); a gunicorn worker timeout would
# only kill a worker, and every request on it, mid-upload. 0 disables it; Cloud Run's
# liveness probe on /healthz restarts an instance that stops answering.
timeout = _env_int("PICBUCKET_GUNICORN_TIMEOUT", 0, minimum=0)
# Cloud Run sends SIGTERM, then SIGKILL 10 s later. On SIGTERM the worker stops
# accepting, answers requests that begin afterwards with 503 + Retry-After (picbucket.
# draining), and gives requests already in flight - uploads whose bytes are still
# arriving included - 9 s to finish; the last second is for exiting and flushing logs.
graceful_timeout = _env_int("PICBUCKET_GRACEFUL_TIMEOUT", 9, minimum=1)
# Keep idle connections open longer than the proxy in front keeps them: if gunicorn
# closed first, a request the proxy sends on a connection at that very moment is reset
# (1 in ~1,000 reused connections at keepalive=5). Google's front ends keep upstream
# connections for up to 600 s, so 620 s. Idle connections wait on the event loop, not
# on threads, so long keep-alive costs one socket each (worker_connections bounds them).
keepalive = _env_int("PICBUCKET_KEEPALIVE_SECONDS", 620)

# The heartbeat file lives in memory: /tmp may be disk-backed on a single-machine install.
if os.path.isdir("/dev/shm"):  # noqa: S108 - a RAM-backed directory, not a temp file
    worker_tmp_dir = "/dev/shm"  # noqa: S108

# No preload_app: create_app() builds the Firestore (gRPC) and Storage clients, which must
# be created after the fork, in the worker that uses them.

# The process runs as an unprivileged user whose home may not be writable, and nothing
# needs runtime control in a container.
control_socket_disable = True


# --- Memory ----------------------------------------------------------------------------

# glibc raises its mmap threshold each time a big block is freed, after which decoded
# images (Pillow allocates them in 16 MiB blocks) come from per-thread heaps that are
# never given back: eight threads that each decoded one 49 MP image once held 1.6 GiB
# although the decode budget let only one decode run at a time. A fixed threshold keeps
# every such block mmap-ed, so it returns to the OS the moment the image is freed
# (measured: 213 MiB peak instead of 1,626; tests/infra/test_decode_memory.py).
MMAP_THRESHOLD = 1024 * 1024
_M_MMAP_THRESHOLD = -3  # from glibc's malloc.h


def post_fork(server: Any, worker: Any) -> None:
    """Pin malloc's mmap threshold in each worker (glibc only; elsewhere a no-op)."""
    import ctypes
    import ctypes.util

    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name) if name else None
        if libc is not None and hasattr(libc, "mallopt"):
            libc.mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD)
    except OSError:
        server.log.warning("could not pin the malloc mmap threshold")


# --- Logging ---------------------------------------------------------------------------


class CloudLoggingLogger(Logger):
    """Gunicorn logger whose lines are Cloud Logging JSON, like the app's own."""

    def setup(self, cfg: Any) -> None:
        """Install gunicorn's handlers, then switch them to the app's JSON formatter."""
        super().setup(cfg)
        from picbucket.web.logs import CloudLoggingFormatter

        for handler in self.error_log.handlers:
            handler.setFormatter(CloudLoggingFormatter())


logger_class = CloudLoggingLogger
errorlog = "-"
loglevel = os.environ.get("PICBUCKET_LOG_LEVEL", "info").lower()
# No gunicorn access log: the app writes one JSON line per request itself, with
# Cloud Logging's httpRequest fields, the trace link, and share tokens redacted.
accesslog = None
