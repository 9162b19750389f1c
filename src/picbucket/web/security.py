"""Cross-cutting protections: CSRF, rate limits, security headers, proxy handling."""

from __future__ import annotations

import os

from flask import Flask, Response, request
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from flask_login import current_user
from flask_wtf.csrf import CSRFProtect
from werkzeug.middleware.proxy_fix import ProxyFix

from picbucket.settings import Settings
from picbucket.web.bearer import bearer_token, has_bearer

csrf = CSRFProtect()


def _rate_limit_key() -> str:
    # Signed-in people and valid API tokens are limited per account; everyone else
    # per client address, so made-up tokens cannot mint fresh counters.
    if has_bearer():
        token = bearer_token()
        return f"user:{token.owner_id}" if token else f"ip:{get_remote_address()}"
    if current_user and current_user.is_authenticated:
        return f"user:{current_user.user.id}"
    return f"ip:{get_remote_address()}"


limiter = Limiter(key_func=_rate_limit_key, default_limits=[], headers_enabled=True)

# The page's own policy: everything from this origin, nothing inline, no framing.
# connect-src adds the bucket's origin when large files go straight to Cloud Storage.
PAGE_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; "
    "connect-src {connect}; font-src 'self'; object-src 'none'; "
    "base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)
GCS_ORIGIN = "https://storage.googleapis.com"


def page_csp(config: Settings) -> str:
    """Return the page CSP, allowing direct uploads to the bucket's origin if used."""
    connect = "'self'"
    if config.blob_store == "gcs":
        # The Google client's own convention for pointing at an emulator (make run-emulated).
        emulator = os.environ.get("STORAGE_EMULATOR_HOST", "").rstrip("/")
        connect += f" {emulator or GCS_ORIGIN}"
    return PAGE_CSP.format(connect=connect)


# User bytes: never a document that can run anything, even if opened directly.
MEDIA_CSP = "default-src 'none'; sandbox"


def init_security(app: Flask, config: Settings) -> None:
    """Install CSRF protection, rate limiting, proxy handling and security headers."""
    if config.proxy_hops:
        app.wsgi_app = ProxyFix(  # type: ignore[method-assign]
            app.wsgi_app,
            x_for=config.proxy_hops,
            x_proto=config.proxy_hops,
        )
    csp = page_csp(config)
    csrf.init_app(app)
    app.config["RATELIMIT_STORAGE_URI"] = config.rate_limit_storage
    limiter.init_app(app)

    @app.after_request
    def _headers(response: Response) -> Response:
        headers = response.headers
        headers.setdefault("Content-Security-Policy", csp)
        headers.setdefault("X-Content-Type-Options", "nosniff")
        headers.setdefault("Referrer-Policy", "same-origin")
        headers.setdefault("X-Frame-Options", "DENY")
        headers.setdefault("Cross-Origin-Opener-Policy", "same-origin")
        headers.setdefault("Permissions-Policy", "camera=(), microphone=(), geolocation=()")
        if config.production:
            headers.setdefault("Strict-Transport-Security", "max-age=63072000; includeSubDomains")
        if response.mimetype == "text/html" or request.path.startswith("/api/"):
            # Pages and API answers are per-user: never stored by shared caches.
            headers.setdefault("Cache-Control", "no-store")
        return response
