"""A real OpenID Connect provider on localhost, standing in for Google.

Wraps oidc-provider-mock: its sign-in page (ours, asking for an "Email") takes
whatever you type as the subject; an email address becomes a user with that
email, verified, and a display name derived from it, so the app's real Authlib
flow runs end to end.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import flask
import jinja2
import werkzeug.serving
from authlib.deprecate import AuthlibDeprecationWarning

# oidc-provider-mock imports Authlib modules that Authlib now marks deprecated; the
# warnings are about that package, not ours, and would greet every `make run`.
with warnings.catch_warnings():
    warnings.simplefilter("ignore", AuthlibDeprecationWarning)
    import oidc_provider_mock
    from oidc_provider_mock import User

# Its OpenID grant still implements Authlib's old get_jwt_config hook, which warns on
# every sign-in; the hook works until Authlib 1.8 and is the package's to replace.
warnings.filterwarnings("ignore", message=r"get_jwt_config\(self, grant\) is deprecated")

_TEMPLATES = Path(__file__).with_name("templates")

_CDN_LINK = re.compile(r"<link[^>]*https://cdn\.jsdelivr\.net[^>]*>", re.S)


def display_name(email: str) -> str:
    """Derive a friendly name from an email address: alice.smith@x → Alice Smith."""
    local = email.split("@", 1)[0]
    return " ".join(part.capitalize() for part in local.replace("_", ".").split(".") if part)


def provider_app() -> flask.Flask:
    """Return the provider as a WSGI app that marks typed-in emails as verified."""
    app: flask.Flask = oidc_provider_mock.app(require_nonce=True)
    # Our sign-in form first: it asks for an "Email" (the package's says "sub").
    app.jinja_loader = jinja2.ChoiceLoader(
        [jinja2.FileSystemLoader(_TEMPLATES), *([app.jinja_loader] if app.jinja_loader else [])]
    )

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
