"""Draining: after SIGTERM, finish what is in flight and turn new requests away.

Cloud Run sends SIGTERM, stops routing new requests to the instance, and kills it
10 s later. Requests that still reach this process meanwhile (on a kept-alive
connection, or accepted just before the signal) get 503 + ``Retry-After`` and
``Connection: close``, so the client retries on another instance instead of
starting an upload that could be cut off. The gunicorn worker (picbucket.server)
starts the drain from its SIGTERM handler; nothing else does.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterable
from typing import Any

# WSGI environ key: True when the request's first byte arrived before the drain
# began. Set by picbucket.server's worker, which hands the app a request only once
# its body has arrived, possibly after SIGTERM; such uploads must still be served.
IN_FLIGHT = "picbucket.began_before_drain"
# Seconds a client should wait before retrying: another instance is normally ready.
RETRY_AFTER = 2
# Liveness must stay green while draining, and readiness says "draining" itself.
_ALWAYS_SERVED = frozenset(("/healthz", "/readyz"))

_draining = threading.Event()


def begin() -> None:
    """Start draining this process (idempotent)."""
    _draining.set()


def active() -> bool:
    """Tell whether this process is draining."""
    return _draining.is_set()


def reset() -> None:
    """Stop draining (tests run many apps in one process)."""
    _draining.clear()


WsgiApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


class RefuseWhileDraining:
    """WSGI middleware: while draining, answer new requests 503 + Retry-After."""

    def __init__(self, app: WsgiApp) -> None:
        self.app = app

    def __call__(
        self, environ: dict[str, Any], start_response: Callable[..., Any]
    ) -> Iterable[bytes]:
        """Pass the request on, or refuse it if the process is draining."""
        if not active() or environ.get(IN_FLIGHT) or environ.get("PATH_INFO", "") in _ALWAYS_SERVED:
            return self.app(environ, start_response)
        body = json.dumps(
            {
                "error": {
                    "code": "unavailable",
                    "message": "This server is restarting; please try again in a moment.",
                }
            }
        ).encode()
        start_response(
            "503 Service Unavailable",
            [
                ("Content-Type", "application/json"),
                ("Content-Length", str(len(body))),
                ("Retry-After", str(RETRY_AFTER)),
                ("Connection", "close"),
            ],
        )
        return [body]
