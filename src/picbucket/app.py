"""The application factory."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import NoReturn

from flask import Blueprint, Flask
from PIL import Image

from picbucket import draining, resilience
from picbucket.cli import COMMANDS
from picbucket.domain import human_bytes, utcnow
from picbucket.settings import MIB, Settings, SettingsError
from picbucket.web import (
    account,
    admin,
    album_share,
    albums,
    api,
    auth,
    errors,
    gallery,
    health,
    leaving,
    logs,
    security,
    share,
    unlock,
)
from picbucket.web.context import settings as current_settings
from picbucket.web.origin import DropForwardedHost, ServiceOrigin
from picbucket.web.views import thumb_size, variant_url
from picbucket.wiring import build_backends

_BOOT_ERROR = 3
# Multipart framing and form fields on top of the largest accepted file.
_MULTIPART_OVERHEAD = 1 * MIB


def _asset_root() -> Path:
    """Find the top-level templates/ and static/ (source checkout, or the image's /app)."""
    checkout = Path(__file__).resolve().parents[2]
    if (checkout / "templates").is_dir():
        return checkout
    return Path.cwd()


def create_app(settings: Settings | None = None) -> Flask:
    """Build the Picbucket app; settings default to ``Settings.from_env()``."""
    settings = settings or _settings_from_env()
    root = _asset_root()
    app = Flask(
        "picbucket",
        template_folder=str(root / "templates"),
        static_folder=str(root / "static"),
    )
    app.config.update(
        PICBUCKET_SETTINGS=settings,
        SECRET_KEY=settings.secret_key,
        MAX_CONTENT_LENGTH=settings.max_upload_bytes + _MULTIPART_OVERHEAD,
        # Larger multipart files spill to disk instead of memory.
        MAX_FORM_MEMORY_SIZE=MIB,
        SESSION_COOKIE_NAME="picbucket_session",
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=settings.production,
        PERMANENT_SESSION_LIFETIME=14 * 24 * 3600,
        PREFERRED_URL_SCHEME=_preferred_scheme(settings),
        # The CSRF token lives as long as the session: a long upload session must not expire.
        WTF_CSRF_TIME_LIMIT=None,
        WTF_CSRF_SSL_STRICT=settings.production,
        # Flask-Limiter would otherwise overwrite every Retry-After on a limited route
        # (a 503's "try again in 2 s") with its window's reset, up to a minute away.
        RATELIMIT_HEADER_RETRY_AFTER="X-RateLimit-Retry-After",
    )
    # A pixel bomb is refused by imaging's own limit; Pillow's check is the backstop.
    Image.MAX_IMAGE_PIXELS = settings.max_pixels
    logs.configure_logging(settings.log_level)
    logs.init_request_logging(app, settings.gcp_project)

    try:
        backends = build_backends(settings)
    except SettingsError as exc:
        # A database newer than this code (SchemaTooNew) is a configuration error too.
        _exit_for_configuration(exc)
    app.extensions["picbucket"] = backends

    if settings.service_origin:
        # Innermost: whatever Host or X-Forwarded-Proto arrived, URLs use the service's.
        app.wsgi_app = ServiceOrigin(app.wsgi_app, settings.service_origin)  # type: ignore[method-assign]
    security.init_security(app, settings)
    # Outermost, so ProxyFix never sees a client-chosen host, port or prefix.
    app.wsgi_app = DropForwardedHost(app.wsgi_app)  # type: ignore[method-assign]
    # After SIGTERM (gunicorn.conf.py), new requests get 503 + Retry-After at once.
    app.wsgi_app = draining.RefuseWhileDraining(app.wsgi_app)  # type: ignore[method-assign]
    auth.init_auth(app, settings)
    for blueprint in (gallery.bp, share.bp, api.bp, account.bp, health.bp):
        app.register_blueprint(blueprint)
    app.register_blueprint(_vendor_blueprint())
    # People and their data: admin pages, export and account deletion (share links stop
    # with their owner's account in services.shares.require_owner_allowed).
    app.register_blueprint(admin.bp)
    app.register_blueprint(leaving.bp)
    # Albums, trash and zips (owner pages), public album links, link passwords.
    for blueprint in (albums.bp, album_share.bp, unlock.bp):
        app.register_blueprint(blueprint)
    errors.init_errors(app)
    # A request that waited out a backend's deadline fails its later calls at once;
    # the next request on this thread starts afresh (resilience.Guard). First of the
    # hooks, since later ones (sign-in, rate limits) already call the backends.
    app.before_request_funcs.setdefault(None, []).insert(0, resilience.new_request)

    app.jinja_env.filters["human_bytes"] = human_bytes
    app.jinja_env.globals.update(
        picbucket_settings=current_settings, thumb_size=thumb_size, variant_url=variant_url
    )
    app.context_processor(lambda: {"now": utcnow()})

    for command in COMMANDS:
        app.cli.add_command(command)
    return app


def create_maintenance_app() -> Flask:
    """Build the app for CLI maintenance commands: production needs no OAuth client."""
    return create_app(_settings_from_env(for_maintenance=True))


def _preferred_scheme(settings: Settings) -> str:
    """Return the scheme of URLs built outside a request (CLI)."""
    if settings.service_origin:
        return settings.service_origin.partition("://")[0]
    return "https" if settings.production else "http"


def _settings_from_env(*, for_maintenance: bool = False) -> Settings:
    """Read the environment; a bad value stops start-up with its one-line message."""
    try:
        return Settings.from_env(for_maintenance=for_maintenance)
    except SettingsError as exc:
        _exit_for_configuration(exc)


def _exit_for_configuration(exc: SettingsError) -> NoReturn:
    # One line to read, no traceback to dig the fix out of. Exit status 3 is
    # gunicorn's "worker failed to boot": the master stops instead of respawning.
    print(f"picbucket: configuration error: {exc}", file=sys.stderr)
    raise SystemExit(_BOOT_ERROR) from None


def _vendor_blueprint() -> Blueprint:
    """Serve Bootstrap from the pinned bootstrap-flask package: no CDN at run time."""
    import flask_bootstrap

    folder = Path(flask_bootstrap.__file__).parent / "static" / "bootstrap5"
    return Blueprint(
        "vendor",
        __name__,
        static_folder=str(folder),
        static_url_path="/static/vendor/bootstrap",
    )
