"""A real OpenID Connect provider on localhost, standing in for Google.

Wraps oidc-provider-mock: its sign-in page asks for a subject; whatever you type
(an email address, say) becomes a user with that email, verified, and a display
name derived from it, so the app's real Authlib flow runs end to end.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager

import flask
import oidc_provider_mock
import werkzeug.serving
from oidc_provider_mock import User

_CDN_LINK = re.compile(r"<link[^>]*https://cdn\.jsdelivr\.net[^>]*>", re.S)


def display_name(email: str) -> str:
    """Derive a friendly name from an email address: alice.smith@x → Alice Smith."""
    local = email.split("@", 1)[0]
    return " ".join(part.capitalize() for part in local.replace("_", ".").split(".") if part)


def provider_app() -> flask.Flask:
    """Return the provider as a WSGI app that marks typed-in emails as verified."""
    app: flask.Flask = oidc_provider_mock.app(require_nonce=True)

    @app.before_request
    def _verified_email_users() -> None:
        request = flask.request
        if request.method != "POST" or not request.path.endswith("/oauth2/authorize"):
            return
        sub = (request.form.get("sub") or "").strip()
        storage = flask.g.oidc_provider_mock_storage
        if sub and storage.get_user(sub) is None:
            claims = {"email": sub, "email_verified": "@" in sub, "name": display_name(sub)}
            storage.store_user(User(sub=sub, claims=claims))

    @app.after_request
    def _no_cdn(response: flask.Response) -> flask.Response:
        # The provider's pages link a stylesheet from a CDN; nothing here may load one.
        if response.mimetype == "text/html" and not response.direct_passthrough:
            html = response.get_data(as_text=True)
            response.set_data(_CDN_LINK.sub("", html))
        return response

    return app


@contextmanager
def running_provider(host: str = "127.0.0.1", port: int = 0) -> Iterator[str]:
    """Serve the provider on a background thread; yield its issuer URL."""
    import threading

    server = werkzeug.serving.make_server(host, port, provider_app(), threaded=True)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.1})
    thread.daemon = True
    thread.start()
    try:
        yield f"http://{host}:{server.server_port}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
