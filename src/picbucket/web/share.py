"""Public share pages: no sign-in, no referrer, 404 once revoked, expired or used up."""

from __future__ import annotations

from datetime import timedelta

from flask import Blueprint, abort, make_response, redirect, render_template
from werkzeug.wrappers import Response

from picbucket.domain import Image, Share, Variant
from picbucket.services.links import open_link, use_view
from picbucket.web.context import backends, settings
from picbucket.web.link_access import grant_view_pass, open_bytes
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
def page(token: str) -> Response | tuple[str, int]:
    """Show a shared image with Open Graph / Twitter card tags for previews."""
    opened = open_link(backends(), settings(), token)
    share, image = opened.share, opened.image
    if image is None:
        abort(404)  # an album link: its page is /a/<token>
    if not is_unlocked(share):
        return password_page(share, token)
    use_view(backends(), share)
    urls = share_urls(image, token)
    html = render_template(
        "share.html", image=image, share=share, links=share_links(image, token), **urls
    )
    response = make_response(html)
    response.headers["Cache-Control"] = _page_cache(share)
    grant_view_pass(response, share)
    return response


@bp.get("/<token>/image.<ext>")
def image(token: str, ext: str) -> Response:
    """Serve the shared image's original (the "direct image" link: a view of its own)."""
    share, shared = _opened(token)
    return _serve(share, shared, shared.original, ext)


@bp.get("/<token>/display.<ext>")
def display(token: str, ext: str) -> Response:
    """Serve the screen-sized rendition the share page and link previews show."""
    share, shared = _opened(token)
    return _serve(share, shared, shared.shown, ext)


def _opened(token: str) -> tuple[Share, Image]:
    opened = open_bytes(token)
    if opened.image is None:
        abort(404)
    return opened.share, opened.image


def _page_cache(share: Share) -> str:
    # A password or a view limit: every open must reach us, never a cache.
    return PROTECTED_PAGE_CACHE if share.password_hash or share.max_views else "no-cache"


def _bytes_cache(share: Share) -> str:
    # A shared cache would hand a view-limited image to people past the limit.
    return PROTECTED_CACHE if share.password_hash or share.max_views else SHARED_CACHE


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
        cache_control=_bytes_cache(share),
        download_name=f"picbucket-{shared.id}.{ext}",
        embeddable=True,
    )
