"""Liveness and readiness endpoints for Cloud Run probes and load balancers."""

from __future__ import annotations

from flask import Blueprint, current_app, jsonify
from werkzeug.wrappers import Response

from picbucket.web.context import backends

bp = Blueprint("health", __name__)


@bp.get("/healthz")
def healthz() -> Response:
    """Answer 200 while the process can serve requests."""
    return jsonify(status="ok")


@bp.get("/readyz")
def readyz() -> tuple[Response, int]:
    """Answer 200 only if every backend is reachable."""
    failures = {}
    for name, check in backends().health.items():
        try:
            check.ping()
        except Exception as exc:
            current_app.logger.warning("readiness check %s failed: %s", name, exc)
            failures[name] = "unreachable"
    if failures:
        return jsonify(status="unavailable", backends=failures), 503
    return jsonify(status="ok"), 200
