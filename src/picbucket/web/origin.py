"""Which host and scheme the app believes it is served at: the origin of external URLs.

Every absolute URL the app makes (share links, the OAuth redirect URI, the ShareX
config, API image URLs) comes from ``url_for(..., _external=True)``, which reads the
request's host and scheme. Two WSGI layers decide those, so no view needs to know:

- ``DropForwardedHost`` (outermost) removes ``X-Forwarded-Host``/``-Port``/``-Prefix``
  before anything reads them: a client can set them, and one proxy hop that appends to
  ``X-Forwarded-For`` does not make them trustworthy. ``X-Forwarded-For``/``-Proto``
  stay, for ProxyFix and ``PICBUCKET_PROXY_HOPS``.
- ``ServiceOrigin`` (innermost, only with ``PICBUCKET_SERVICE_URL``) presents every
  request as addressed to the configured origin, whatever Host header arrived.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment

# Headers a client could use to choose the host, port or path prefix of generated URLs.
UNTRUSTED_HEADERS = ("HTTP_X_FORWARDED_HOST", "HTTP_X_FORWARDED_PORT", "HTTP_X_FORWARDED_PREFIX")


class DropForwardedHost:
    """Remove the forwarded host, port and prefix headers from every request."""

    def __init__(self, app: WSGIApplication) -> None:
        self.app = app

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        for name in UNTRUSTED_HEADERS:
            environ.pop(name, None)
        return self.app(environ, start_response)


class ServiceOrigin:
    """Serve every request as if addressed to ``origin`` (``https://host[:port]``)."""

    def __init__(self, app: WSGIApplication, origin: str) -> None:
        parts = urlsplit(origin)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"not an http(s) origin: {origin!r}")
        default_port = 443 if parts.scheme == "https" else 80
        self.app = app
        self.scheme = parts.scheme
        self.host = parts.netloc
        self.server_name = parts.hostname
        self.server_port = str(parts.port or default_port)

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        environ["HTTP_HOST"] = self.host
        environ["SERVER_NAME"] = self.server_name
        environ["SERVER_PORT"] = self.server_port
        environ["wsgi.url_scheme"] = self.scheme
        return self.app(environ, start_response)
