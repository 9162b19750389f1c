"""Password-protected share links: the form, the per-link rate limit, the unlock cookie.

The password travels only in a POST body (never a URL, so never in a log line or
a Referer) and is checked against its scrypt hash. Success sets a signed cookie
holding the link's epoch: a password change or a revoke replaces or ends the link,
so every cookie issued before stops opening it at once.
"""

from __future__ import annotations

from flask import Blueprint, abort, current_app, redirect, render_template, request, url_for
from itsdangerous import BadSignature, URLSafeSerializer
from werkzeug.wrappers import Response

from picbucket.domain import Share, hash_secret, is_id
from picbucket.services.links import require_owner_allowed
from picbucket.services.passwords import verify_password
from picbucket.web.context import backends, settings
from picbucket.web.logs import log_event
from picbucket.web.security import csrf, limiter

bp = Blueprint("unlock", __name__, url_prefix="/unlock")
# Anonymous visitors have no session to bind a CSRF token to; the cookie this sets
# opens a link only for the person who knows its password, so CSRF gains nothing.
csrf.exempt(bp)

# Guesses per link, whoever makes them (per link, not per address: a botnet gets the
# same 10 a minute as one person).
RATE_PER_LINK = "10 per minute"
COOKIE_DAYS = 7


def _serializer() -> URLSafeSerializer:
    return URLSafeSerializer(current_app.config["SECRET_KEY"], salt="picbucket-share-unlock")


def cookie_name(share: Share) -> str:
    """Return the name of the cookie that unlocks ``share``."""
    return f"pb_unlock_{share.id}"


def is_unlocked(share: Share) -> bool:
    """Tell whether this visitor may open ``share`` (no password, or a current cookie)."""
    if share.password_hash is None:
        return True
    value = request.cookies.get(cookie_name(share), "")
    try:
        return bool(value) and _serializer().loads(value) == [share.id, share.epoch]
    except BadSignature:
        return False


def password_page(share: Share, token: str, *, wrong: bool = False) -> tuple[str, int]:
    """Return the form that asks for a link's password (401 so nothing caches it)."""
    html = render_template("share_password.html", token=token, wrong=wrong, share=share)
    return html, 401


def _link_key() -> str:
    token = (request.view_args or {}).get("token", "")
    return f"unlock:{hash_secret(str(token))}"


@bp.post("/<token>")
@limiter.limit(RATE_PER_LINK, key_func=_link_key)
def unlock(token: str) -> Response | tuple[str, int]:
    """Check the posted password; on success set the unlock cookie and go to the link."""
    share = backends().shares.by_token_hash(hash_secret(token)) if is_id(token) else None
    if share is None or share.password_hash is None or not share.is_live(backends().clock()):
        abort(404)
    require_owner_allowed(backends(), settings(), share)  # as the link itself would answer
    password = request.form.get("password", "")
    if not verify_password(password, share.password_hash):
        log_event("share_unlock_failed", share_id=share.id)
        return password_page(share, token, wrong=True)
    target = "album_share.page" if share.album_id else "share.page"
    response = redirect(url_for(target, token=token), code=303)
    response.set_cookie(
        cookie_name(share),
        _serializer().dumps([share.id, share.epoch]),
        max_age=COOKIE_DAYS * 86400,
        httponly=True,
        samesite="Lax",
        secure=settings().production,
    )
    return response
