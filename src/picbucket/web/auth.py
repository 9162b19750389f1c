"""Sign-in with OpenID Connect (Authlib) and sessions (Flask-Login).

Authorization code flow with state, nonce and PKCE (S256). The session cookie
carries ``<user id>:<session epoch>``. "Sign out" ends this browser's session;
"Sign out everywhere" rotates the epoch, so every other session (and any copied
cookie) stops working, and those browsers are told why on their next page.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

import requests
from authlib.integrations.base_client.errors import MismatchingStateError, OAuthError
from authlib.integrations.flask_client import OAuth
from flask import (
    Blueprint,
    Flask,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_login import LoginManager, UserMixin, current_user, login_user, logout_user
from joserfc.errors import JoseError
from werkzeug.wrappers import Response

from picbucket.domain import User
from picbucket.services.accounts import (
    SignInRefused,
    is_admin,
    refusal,
    sign_in,
    sign_out_everywhere,
)
from picbucket.settings import GOOGLE_ISSUER, Settings
from picbucket.web.context import backends, settings
from picbucket.web.logs import log_event
from picbucket.web.security import limiter

bp = Blueprint("auth", __name__)
login_manager = LoginManager()
login_manager.login_view = "auth.login"
login_manager.login_message = "Please sign in to see that page."
login_manager.login_message_category = "info"
# Each session is tied to the browser's session cookie only; no remember-me cookie.
login_manager.session_protection = "basic"


class SessionUser(UserMixin):  # type: ignore[misc]
    """The Flask-Login view of a signed-in ``User``."""

    def __init__(self, user: User) -> None:
        self.user = user

    def get_id(self) -> str:
        return f"{self.user.id}:{self.user.session_epoch}"

    @property
    def is_admin(self) -> bool:
        """Tell whether this person may use the admin pages (PICBUCKET_ADMIN_EMAILS)."""
        return is_admin(settings(), self.user)


SIGNED_OUT_ELSEWHERE = (
    "You were signed out because “Sign out everywhere” was chosen on another device. "
    "Sign in again to continue."
)
# Set in the session when a stale session is found; /login then shows the message first.
_ELSEWHERE_KEY = "signed_out_elsewhere"
_NEXT_AFTER_NOTICE = "next_after_notice"


@login_manager.user_loader
def _load_user(session_id: str) -> SessionUser | None:
    user_id, _, epoch = session_id.partition(":")
    user = backends().users.get(user_id)
    if user is None or not epoch:
        return None
    if user.session_epoch != epoch:
        # This browser's session was ended from another one: forget it and say why, once.
        session.pop("_user_id", None)
        session[_ELSEWHERE_KEY] = True
        flash(SIGNED_OUT_ELSEWHERE, "warning")
        return None
    # Re-checked on every request from the record just read (no extra lookup): a
    # narrower allow-list, a disabled or a deleted account ends the session at once.
    refused = refusal(settings(), user)
    if refused is not None:
        session.pop("_user_id", None)
        session[_ELSEWHERE_KEY] = True  # /login shows why instead of a silent round trip
        flash(refused, "warning")
        log_event("session_refused", user_id=user.id)
        return None
    return SessionUser(user)


def init_auth(app: Flask, config: Settings) -> None:
    """Register the identity provider and the session machinery."""
    login_manager.init_app(app)
    # One OAuth registry per app: each app may trust a different issuer (tests run many).
    oauth = OAuth(app)
    issuer = config.oidc_issuer.rstrip("/")
    oauth.register(
        "oidc",
        client_id=config.oidc_client_id or "picbucket-local",
        client_secret=config.oidc_client_secret or "picbucket-local-secret",
        server_metadata_url=f"{issuer}/.well-known/openid-configuration",
        client_kwargs={"scope": "openid email profile", "code_challenge_method": "S256"},
    )
    app.register_blueprint(bp)


def _provider() -> Any:
    """Return this app's registered OpenID Connect client."""
    return current_app.extensions["authlib.integrations.flask_client"].oidc


def accepted_issuers(config: Settings) -> list[str]:
    """Return the ``iss`` values accepted in ID tokens (Google uses two spellings)."""
    issuer = config.oidc_issuer.rstrip("/")
    if issuer == GOOGLE_ISSUER:
        return [GOOGLE_ISSUER, "accounts.google.com"]
    return [issuer]


def safe_next(target: str | None) -> str | None:
    """Return ``target`` if it is a path on this site, else None (no open redirects)."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return None
    # Control characters would split the Location header (a 500) or, as browsers drop
    # tabs and newlines from URLs, turn "/\t/evil" into "//evil": refuse them all.
    if any(ord(char) < 0x20 or ord(char) == 0x7F for char in target):
        return None
    parts = urlsplit(target)
    if parts.scheme or parts.netloc:
        return None
    return target


@bp.get("/login")
@limiter.limit(lambda: settings().rate_limit_sign_in)
def login() -> Response | tuple[str, int]:
    """Send the browser to the identity provider."""
    if current_user.is_authenticated:
        return redirect(safe_next(request.args.get("next")) or url_for("gallery.index"))
    if session.pop(_ELSEWHERE_KEY, False):
        # Stop before the identity provider: the reason would be lost on its pages.
        # The reason says it all; "Please sign in to see that page" would only repeat it.
        session["_flashes"] = [
            (category, message)
            for category, message in session.get("_flashes", [])
            if message != login_manager.login_message
        ]
        # Kept for the sign-in that follows, so it still ends on the page asked for.
        session[_NEXT_AFTER_NOTICE] = safe_next(request.args.get("next"))
        return redirect(url_for("gallery.index"))
    session["next"] = safe_next(request.args.get("next")) or safe_next(
        session.pop(_NEXT_AFTER_NOTICE, None)
    )
    redirect_uri = url_for("auth.callback", _external=True)
    try:
        return _provider().authorize_redirect(redirect_uri)  # type: ignore[no-any-return]
    except requests.RequestException as exc:
        return _provider_unreachable(exc)


@bp.get("/auth/callback")
@limiter.limit(lambda: settings().rate_limit_sign_in)
def callback() -> Response | tuple[str, int]:
    """Finish sign-in: check state, nonce, PKCE, issuer and audience; start a session."""
    config = settings()
    try:
        token: dict[str, Any] = _provider().authorize_access_token(
            claims_options={"iss": {"essential": True, "values": accepted_issuers(config)}}
        )
    except MismatchingStateError:
        return _refused(
            "Your sign-in attempt expired or was started in another tab. Please sign in again.",
            400,
        )
    except OAuthError as exc:
        current_app.logger.warning("sign-in failed: %s", exc.error)
        return _refused("The identity provider did not complete the sign-in.", 400)
    except JoseError as exc:
        # The ID token's signature, nonce, issuer or audience is wrong: not for this
        # sign-in, or not from the provider we trust. Nobody is signed in.
        current_app.logger.warning("sign-in refused: ID token invalid (%s)", exc)
        log_event("sign_in_refused", reason=f"invalid ID token: {exc}")
        return _refused(
            "The identity provider's answer could not be verified for this sign-in. "
            "Please sign in again.",
            400,
        )
    except requests.RequestException as exc:
        return _provider_unreachable(exc)
    claims = token.get("userinfo") or {}
    issuer = str(claims.get("iss") or config.oidc_issuer)
    try:
        user = sign_in(backends(), config, issuer, claims)
    except SignInRefused as exc:
        log_event("sign_in_refused", reason=exc.message)
        return _refused(exc.message, 403)
    next_url = session.get("next")
    # A fresh session at the privilege change: nothing from before sign-in survives.
    session.clear()
    login_user(SessionUser(user))
    session.permanent = True
    log_event("sign_in", user_id=user.id)
    flash(f"Welcome, {user.name}!", "success")
    return redirect(safe_next(next_url) or url_for("gallery.index"))


@bp.post("/logout")
def logout() -> Response:
    """End this browser's session; the user's other devices stay signed in."""
    if current_user.is_authenticated:
        log_event("sign_out", user_id=current_user.user.id)
    return _signed_out("You are signed out on this device.")


@bp.post("/logout/everywhere")
def logout_everywhere() -> Response:
    """End this session and every other session of the user (lost phone, shared computer)."""
    if current_user.is_authenticated:
        user_id = current_user.user.id
        sign_out_everywhere(backends(), user_id)
        log_event("sign_out_everywhere", user_id=user_id)
    return _signed_out("You are signed out on every device.")


@bp.get("/logout")
@bp.get("/logout/everywhere")
def logout_page() -> Response:
    """Answer a GET of a sign-out URL with the page it came from: signing out needs the form."""
    return redirect(url_for("gallery.index"))


def _signed_out(message: str) -> Response:
    logout_user()
    session.clear()
    flash(message, "info")
    return redirect(url_for("gallery.index"))


def _provider_unreachable(exc: Exception) -> tuple[str, int]:
    # The discovery document, keys or token endpoint did not answer: nothing changed here.
    current_app.logger.warning("identity provider unreachable: %s", type(exc).__name__)
    return _refused(
        "Sign-in is unavailable right now: the identity provider cannot be reached. "
        "Please try again in a minute.",
        503,
    )


def _refused(message: str, status: int) -> tuple[str, int]:
    return render_template("signin_refused.html", message=message), status
