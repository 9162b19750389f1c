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

import json
import logging
import os
from datetime import UTC, datetime
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


def _env_flag(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() in ("1", "true", "yes", "on")


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
worker_class = "gthread"

# Cloud Run enforces the request timeout itself (run.tf); a gunicorn worker timeout would
# only kill a worker, and every request on it, mid-upload. 0 disables it; Cloud Run's
# liveness probe on /healthz restarts an instance that stops answering.
timeout = _env_int("PICBUCKET_GUNICORN_TIMEOUT", 0, minimum=0)
# Cloud Run sends SIGTERM, then SIGKILL 10 s later: finish in-flight requests within 8 s
# so the exit is clean and logs are flushed.
graceful_timeout = _env_int("PICBUCKET_GRACEFUL_TIMEOUT", 8, minimum=1)
keepalive = 5

# The heartbeat file lives in memory: /tmp may be disk-backed on a single-machine install.
if os.path.isdir("/dev/shm"):  # noqa: S108 - a RAM-backed directory, not a temp file
    worker_tmp_dir = "/dev/shm"  # noqa: S108

# No preload_app: create_app() builds the Firestore (gRPC) and Storage clients, which must
# be created after the fork, in the worker that uses them.

# The process runs as an unprivileged user whose home may not be writable, and nothing
# needs runtime control in a container.
control_socket_disable = True


# --- Logging ---------------------------------------------------------------------------

_SEVERITY = {
    "DEBUG": "DEBUG",
    "INFO": "INFO",
    "WARNING": "WARNING",
    "ERROR": "ERROR",
    "CRITICAL": "CRITICAL",
}


class CloudLoggingFormatter(logging.Formatter):
    """Format a record as one JSON line that Cloud Logging parses as a structured entry."""

    def format(self, record: logging.LogRecord) -> str:
        """Return the record as a Cloud Logging JSON line."""
        message = record.getMessage()
        if record.exc_info:
            # Error Reporting picks up stack traces found in the message field.
            message = f"{message}\n{self.formatException(record.exc_info)}"
        entry: dict[str, Any] = {
            "severity": _SEVERITY.get(record.levelname, "DEFAULT"),
            "message": message,
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(),
            "logger": record.name,
        }
        entry.update(getattr(record, "json_fields", {}))
        return json.dumps(entry, default=str)


def _trace_project() -> str:
    return os.environ.get("PICBUCKET_GCP_PROJECT") or os.environ.get("GOOGLE_CLOUD_PROJECT", "")


def _client_ip(environ: dict[str, Any]) -> str:
    """Return the client address, trusting as many X-Forwarded-For hops as the app does."""
    hops = _env_int("PICBUCKET_PROXY_HOPS", 0, minimum=0)
    forwarded = [p.strip() for p in environ.get("HTTP_X_FORWARDED_FOR", "").split(",")]
    forwarded = [p for p in forwarded if p]
    if hops and len(forwarded) >= hops:
        return forwarded[-hops]
    return str(environ.get("REMOTE_ADDR", ""))


def access_entry(
    environ: dict[str, Any], status: int, size: int | None, seconds: float
) -> dict[str, Any]:
    """Build the Cloud Logging ``httpRequest`` entry for one response."""
    path = environ.get("RAW_URI") or environ.get("PATH_INFO", "")
    host = environ.get("HTTP_HOST", "")
    scheme = environ.get("HTTP_X_FORWARDED_PROTO") or environ.get("wsgi.url_scheme", "http")
    method = environ.get("REQUEST_METHOD", "")
    http_request: dict[str, Any] = {
        "requestMethod": method,
        "requestUrl": f"{scheme}://{host}{path}" if host else path,
        "status": status,
        # LogEntry encodes int64 fields as strings.
        "responseSize": str(size or 0),
        "userAgent": environ.get("HTTP_USER_AGENT", ""),
        "remoteIp": _client_ip(environ),
        "protocol": environ.get("SERVER_PROTOCOL", ""),
        "latency": f"{seconds:.6f}s",
    }
    referer = environ.get("HTTP_REFERER")
    if referer:
        http_request["referer"] = referer
    entry: dict[str, Any] = {
        "severity": "ERROR" if status >= 500 else "INFO",
        "message": f"{method} {path} {status}",
        "httpRequest": http_request,
    }
    # X-Cloud-Trace-Context: TRACE_ID/SPAN_ID;o=OPTIONS
    trace_header = environ.get("HTTP_X_CLOUD_TRACE_CONTEXT", "")
    trace_id = trace_header.split("/", 1)[0].strip()
    project = _trace_project()
    if trace_id.isalnum() and project:
        entry["logging.googleapis.com/trace"] = f"projects/{project}/traces/{trace_id}"
    return entry


class CloudLoggingLogger(Logger):
    """Gunicorn logger that writes error and access lines as Cloud Logging JSON."""

    def setup(self, cfg: Any) -> None:
        """Install gunicorn's handlers, then switch them to the JSON formatter."""
        super().setup(cfg)
        formatter = CloudLoggingFormatter()
        for log in (self.error_log, self.access_log):
            for handler in log.handlers:
                handler.setFormatter(formatter)

    def access(self, resp: Any, req: Any, environ: dict[str, Any], request_time: Any) -> None:
        """Log one request as a structured ``httpRequest`` entry, if access logs are on."""
        if not self.access_log_enabled:
            return
        status_text = str(resp.status).split(None, 1)[0]
        try:
            entry = access_entry(
                environ,
                int(status_text),
                getattr(resp, "sent", None),
                request_time.total_seconds(),
            )
            self.access_log.info(entry["message"], extra={"json_fields": entry})
        except Exception:
            self.exception("Could not write the access log line")


logger_class = CloudLoggingLogger
errorlog = "-"
loglevel = os.environ.get("PICBUCKET_LOG_LEVEL", "info").lower()
# The app already logs one JSON line per request with its own context (user, image id),
# so gunicorn's access log would only duplicate it. Opt in for debugging.
accesslog = "-" if _env_flag("PICBUCKET_GUNICORN_ACCESS_LOG") else None
