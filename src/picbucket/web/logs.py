"""Structured JSON logs in Cloud Logging's format, one line per request and per event.

Cloud Logging turns each stdout line that is a JSON object into a structured entry:
``severity``, ``message``, ``httpRequest`` and ``logging.googleapis.com/trace`` are
special fields. Tokens and secrets are never passed to the logger.
"""

from __future__ import annotations

import json
import logging
import sys
import time
from datetime import UTC, datetime
from typing import Any

from flask import Flask, Response, g, has_request_context, request

_RESERVED = set(vars(logging.makeLogRecord({}))) | {"message", "asctime"}
event_log = logging.getLogger("picbucket.events")


class CloudLoggingFormatter(logging.Formatter):
    """Format records as one JSON object per line."""

    def format(self, record: logging.LogRecord) -> str:
        message = record.getMessage()
        if record.exc_info:
            # Error Reporting picks up stack traces found in the message field.
            message = f"{message}\n{self.formatException(record.exc_info)}"
        entry: dict[str, Any] = {
            "severity": record.levelname,
            "message": message,
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(),
            "logger": record.name,
        }
        for key, value in vars(record).items():
            if key not in _RESERVED and not key.startswith("_"):
                entry[key] = value
        return json.dumps(entry, default=str)


def configure_logging(level: str) -> None:
    """Send every log record to stdout as JSON (idempotent)."""
    root = logging.getLogger()
    if not any(isinstance(h.formatter, CloudLoggingFormatter) for h in root.handlers):
        handler = logging.StreamHandler(sys.stdout)
        handler.setFormatter(CloudLoggingFormatter())
        root.addHandler(handler)
    root.setLevel(level.upper())


def loggable_path() -> str:
    """Return the request path fit for logs: a share link's token is its whole secret.

    Share URLs are logged by their route (``/s/<token>``); every other path as is
    (image ids are not secrets, and query strings, which can carry an OAuth code,
    are never logged).
    """
    if request.blueprint == "share" and request.url_rule is not None:
        return request.url_rule.rule
    return request.path


def trace_field(project: str) -> dict[str, str]:
    """Return the trace field that ties a line to Cloud Run's request log."""
    header = request.headers.get("X-Cloud-Trace-Context", "")
    trace_id = header.split("/", 1)[0]
    if not trace_id or not project or not trace_id.isalnum():
        return {}
    return {"logging.googleapis.com/trace": f"projects/{project}/traces/{trace_id}"}


def log_event(event: str, **fields: object) -> None:
    """Log a product event (upload, delete, share, sign-in) with request context."""
    extra: dict[str, object] = {"event": event, **fields}
    if has_request_context():
        extra.update(trace_field(getattr(g, "log_project", "")))
    event_log.info(event, extra=extra)


def init_request_logging(app: Flask, project: str) -> None:
    """Log one line per request with Cloud Logging's ``httpRequest`` fields."""
    access = logging.getLogger("picbucket.requests")

    @app.before_request
    def _start() -> None:
        g.request_started = time.perf_counter()
        g.log_project = project

    @app.after_request
    def _log(response: Response) -> Response:
        started = getattr(g, "request_started", None)
        latency = time.perf_counter() - started if started else 0.0
        path = loggable_path()
        http_request = {
            "requestMethod": request.method,
            "requestUrl": path,
            "status": response.status_code,
            "responseSize": str(response.content_length or 0),
            "userAgent": request.user_agent.string[:200],
            "remoteIp": request.remote_addr,
            "latency": f"{latency:.6f}s",
        }
        severity = logging.WARNING if response.status_code >= 500 else logging.INFO
        access.log(
            severity,
            f"{request.method} {path} {response.status_code}",
            extra={"httpRequest": http_request, **trace_field(project)},
        )
        return response
