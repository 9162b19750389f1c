"""Public share pages: no sign-in, no referrer, 404 once revoked or expired."""

from __future__ import annotations

from datetime import timedelta

from flask import Blueprint, abort, redirect, render_template
from werkzeug.wrappers import Response

from picbucket.domain import Image, Share, Variant
from picbucket.services.shares import count_view, open_share
from picbucket.web.context import backends, settings
from picbucket.web.media import variant_response
from picbucket.web.unlock import is_unlocked, password_page
from picbucket.web.views import share_links, share_urls

bp = Blueprint("share", __name__, url_prefix="/s")

# Viewers' browsers may reuse the bytes briefly; a revoked link stops working for
# everyone within this time (no shared cache in front of Cloud Run by default).
SHARED_CACHE = "public, max-age=300"
# Behind a password: only the browser that unlocked it may keep a copy, never a shared cache.
PROTECTED_PAGE_CACHE = "private, no-store"
PROTECTED_CACHE = "private, max-age=300"
SIGNED_URL_TTL = timedelta(minutes=10)


@bp.after_request
def _no_referrer(response: Response) -> Response:
    # The token is the whole secret: never leak it to sites the page links to.
    response.headers["Referrer-Policy"] = "no-referrer"
    return response


@bp.get("/<token>")
def page(token: str) -> tuple[str, int, dict[str, str]] | tuple[str, int]:
    """Show a shared image with Open Graph / Twitter card tags for previews."""
    share, image = open_share(backends(), settings(), token)
    if not is_unlocked(share):
        return password_page(share, token)
    count_view(backends(), share)
    urls = share_urls(image, token)
    html = render_template(
        "share.html", image=image, share=share, links=share_links(image, token), **urls
    )
    cache = PROTECTED_PAGE_CACHE if share.password_hash else "no-cache"
    return html, 200, {"Cache-Control": cache}


@bp.get("/<token>/image.<ext>")
def image(token: str, ext: str) -> Response:
    """Serve the shared image's original (the "direct image" link)."""
    share, shared = _unlocked(token)
    return _serve(share, shared, shared.original, ext)


@bp.get("/<token>/display.<ext>")
def display(token: str, ext: str) -> Response:
    """Serve the screen-sized rendition the share page and link previews show."""
    share, shared = _unlocked(token)
    return _serve(share, shared, shared.shown, ext)


def _unlocked(token: str) -> tuple[Share, Image]:
    # page_opened: the last view a limit allows may still load its page's image.
    share, shared = open_share(backends(), settings(), token, page_opened=True)
    if not is_unlocked(share):
        abort(404)
    return share, shared


def _serve(share: Share, shared: Image, variant: Variant, ext: str) -> Response:
    """Stream one of the shared image's files, or redirect to a signed URL."""
    if not variant.key.endswith(f".{ext}"):
        abort(404)
    if settings().share_delivery == "signed-url":
        url = backends().blobs.download_url(variant.key, SIGNED_URL_TTL)
        if url:
            response = redirect(url, code=302)
            response.headers["Cache-Control"] = "private, max-age=300"
            return response
    return variant_response(
        variant,
        cache_control=PROTECTED_CACHE if share.password_hash else SHARED_CACHE,
        download_name=f"picbucket-{shared.id}.{ext}",
        embeddable=True,
    )
