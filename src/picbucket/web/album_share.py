"""Public album pages: read-only grid, per-photo bytes checked on every request."""

from __future__ import annotations

from collections.abc import Iterator

from flask import Blueprint, abort, make_response, render_template, url_for
from werkzeug.wrappers import Response

from picbucket.domain import Album, Image, Share
from picbucket.services import albums as album_service
from picbucket.services.links import open_link, shared_album_image, use_view
from picbucket.services.zips import photo_entries, safe_name, stream_zip
from picbucket.web.context import backends, settings
from picbucket.web.link_access import grant_view_pass, open_bytes
from picbucket.web.media import content_disposition, variant_response
from picbucket.web.unlock import is_unlocked, password_page
from picbucket.web.views import extension, thumb_size

bp = Blueprint("album_share", __name__, url_prefix="/a")

# Short: a revoked link stops for everyone within this time even in browser caches.
SHARED_CACHE = "private, max-age=300"


@bp.after_request
def _no_referrer(response: Response) -> Response:
    # The token is the whole secret: never leak it to sites the page links to.
    response.headers["Referrer-Policy"] = "no-referrer"
    return response


def shared_url(token: str, image: Image, variant: str, *, external: bool = False) -> str:
    """Return the album link's URL of one photo's thumbnail, display or original."""
    chosen = {"thumb": image.thumbnail, "display": image.shown, "original": image.original}
    return url_for(
        "album_share.photo",
        token=token,
        image_id=image.id,
        variant=variant,
        ext=extension(chosen[variant]),
        _external=external,
    )


@bp.get("/<token>")
def page(token: str) -> Response | tuple[str, int]:
    """Show the shared album's photos, with an Open Graph card from its cover."""
    opened = open_link(backends(), settings(), token)
    share, album = opened.share, opened.album
    if album is None:
        abort(404)  # an image link: its page is /s/<token>
    if not is_unlocked(share):
        return password_page(share, token)
    use_view(backends(), share)
    images = album_service.album_images(backends(), album)
    cover = album_service.cover_of(backends(), album, images)
    html = render_template(
        "album_share.html",
        album=album,
        share=share,
        images=images,
        cover=cover,
        token=token,
        shared_url=shared_url,
        thumb_size=thumb_size,
    )
    response = make_response(html)
    # Never stored anywhere: a view limit counts page opens, a password guards the page.
    response.headers["Cache-Control"] = "private, no-store"
    grant_view_pass(response, share)
    return response


def _opened(token: str) -> tuple[Share, Album]:
    opened = open_bytes(token)
    if opened.album is None:
        abort(404)
    return opened.share, opened.album


@bp.get("/<token>/<image_id>/<variant>.<ext>")
def photo(token: str, image_id: str, variant: str, ext: str) -> Response:
    """Serve one photo of the album: thumbnail, display, or original if the owner allows."""
    share, album = _opened(token)
    image = shared_album_image(backends(), album, image_id)
    files = {"thumb": image.thumbnail, "display": image.shown}
    if share.allow_originals:
        files["original"] = image.original
    chosen = files.get(variant)
    if chosen is None or extension(chosen) != ext:
        abort(404)
    return variant_response(
        chosen,
        cache_control=SHARED_CACHE,
        download_name=f"{image.id}.{ext}",
        embeddable=True,
    )


@bp.get("/<token>/download.zip")
def download(token: str) -> Response:
    """Stream the album as a zip: originals if the owner allows, else display renditions."""
    share, album = _opened(token)
    images = album_service.album_images(backends(), album)
    entries = photo_entries(images, originals=share.allow_originals)
    return zip_response(stream_zip(backends().blobs, entries), album.title)


def zip_response(chunks: Iterator[bytes], title: str) -> Response:
    """Return a streamed zip download named after ``title``."""
    name = safe_name(title, "zip", set())
    response = Response(chunks, mimetype="application/zip", direct_passthrough=True)
    response.headers["Content-Disposition"] = content_disposition("attachment", name)
    response.headers["Cache-Control"] = "no-store"
    return response
