"""What a visitor of a public link may open: its page (one view), then the page's bytes.

A view-limited link counts views. Opening the page uses one and hands that browser a
short-lived signed view pass (share id + epoch) for the bytes the page shows; bytes
fetched without one (a direct image link, a preview bot) use a view of their own.
Once the views are used up, the page and its bytes answer 404.
"""

from __future__ import annotations

from flask import abort, current_app, request
from itsdangerous import BadSignature, TimestampSigner, URLSafeTimedSerializer
from werkzeug.wrappers import Response

from picbucket.domain import Share
from picbucket.services.links import OpenedLink, open_link, use_view
from picbucket.web.context import backends, settings
from picbucket.web.unlock import is_unlocked

# Long enough to load a page's photos (and scroll an album), short enough that a
# copied cookie is no second link.
VIEW_PASS_SECONDS = 600


class _ClockSigner(TimestampSigner):
    def get_timestamp(self) -> int:
        # The app's clock, not the host's: passes age like every other deadline here.
        return int(backends().clock().timestamp())


def _serializer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(
        current_app.config["SECRET_KEY"], salt="picbucket-view-pass", signer=_ClockSigner
    )


def _cookie_name(share: Share) -> str:
    return f"pb_view_{share.id}"


def grant_view_pass(response: Response, share: Share) -> None:
    """Let this browser load the bytes of the page that just used a view."""
    if share.max_views is None:
        return  # nothing to count: the bytes are open to whoever holds the link
    response.set_cookie(
        _cookie_name(share),
        _serializer().dumps([share.id, share.epoch]),
        max_age=VIEW_PASS_SECONDS,
        # The page's own path: its bytes live under it, nothing else sees the pass.
        path=request.path,
        httponly=True,
        samesite="Lax",
        secure=settings().production,
    )


def has_view_pass(share: Share) -> bool:
    """Tell whether this browser opened the link's page within the last few minutes."""
    value = request.cookies.get(_cookie_name(share), "")
    try:
        granted = _serializer().loads(value, max_age=VIEW_PASS_SECONDS) if value else None
    except BadSignature:  # also a pass older than VIEW_PASS_SECONDS
        return False
    return granted == [share.id, share.epoch]


def open_bytes(token: str) -> OpenedLink:
    """Open a link for one of its files: live and unlocked, and a view counted unless
    this browser holds a view pass; ``NotFound`` past the view limit.
    """
    opened = open_link(backends(), settings(), token, viewed=True)
    if not is_unlocked(opened.share):
        abort(404)
    if opened.share.max_views is not None and not has_view_pass(opened.share):
        use_view(backends(), opened.share)
    return opened
