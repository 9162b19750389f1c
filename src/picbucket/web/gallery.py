"""The signed-in person's pages: gallery, upload, image page, rename, delete, share."""

from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, request, session, url_for
from flask_login import current_user, login_required
from markupsafe import Markup
from werkzeug.wrappers import Response

from picbucket.domain import InvalidInput, PicbucketError
from picbucket.services import images as image_service
from picbucket.services import shares as share_service
from picbucket.services.links import create_link
from picbucket.services.uploads import IMMUTABLE_CACHE, store_image
from picbucket.web import photos
from picbucket.web.auth import safe_next
from picbucket.web.bearer_media import bytes_reader
from picbucket.web.context import backends, owner_id, settings
from picbucket.web.image_page import NEW_SHARE_KEY, render_image_page
from picbucket.web.link_forms import link_options
from picbucket.web.logs import log_event
from picbucket.web.media import download_filename, variant_response
from picbucket.web.security import limiter
from picbucket.web.shared_links import render_shared_links
from picbucket.web.views import owner_quota_json

bp = Blueprint("gallery", __name__)


@bp.get("/")
def index() -> str:
    """Show the gallery, or the landing page to visitors."""
    if not current_user.is_authenticated:
        return render_template("landing.html")
    order = photos.sort_order(request.args.get("sort"))
    query = request.args.get("q", "").strip()[:200]
    page = image_service.list_images(
        backends(), owner_id(), request.args.get("cursor"), settings().page_size, order, query
    )
    return render_template(
        "gallery.html",
        page=page,
        months=photos.by_month(page.items, order),
        order=order,
        query=query,
        sort_labels=photos.SORT_LABELS,
        opened=photos.opened(request.args.get("photo"), order),
        quota=owner_quota_json(owner_id()),
        # One counting query, not a read of each trashed photo.
        trash_count=backends().images.trash_count(owner_id()),
        first_page=not request.args.get("cursor"),
    )


@bp.get("/images/<image_id>/download")
@login_required
def download(image_id: str) -> Response:
    """Send the original as a download named after the image's title."""
    image = image_service.get_image(backends(), owner_id(), image_id)
    return variant_response(
        image.original,
        cache_control="private, no-cache",
        download_name=download_filename(image.title, image.original),
        attachment=True,
    )


def _posted_files() -> int:
    """Count the files in this post, so each one is counted by the upload rate limit."""
    return max(1, len(request.files.getlist("file")))


@bp.post("/upload")
@login_required
@limiter.limit(lambda: settings().rate_limit_upload, cost=_posted_files)
def upload() -> Response:
    """Store files posted by the no-JavaScript form (the page itself uses the API)."""
    files = request.files.getlist("file")
    if not files or not any(f.filename for f in files):
        flash("Choose at least one image to upload.", "warning")
        return redirect(url_for("gallery.index"))
    most = settings().max_files_per_request
    if len(files) > most:
        # Refused before any is processed: one request is bounded work.
        flash(f"Upload at most {most} files at a time; you chose {len(files)}.", "danger")
        return redirect(url_for("gallery.index"))
    for file in files:
        try:
            image = store_image(backends(), settings(), owner_id(), file.stream, file.filename)  # type: ignore[arg-type]
            log_event("upload", user_id=owner_id(), image_id=image.id, bytes=image.bytes)
            flash(f"Uploaded {image.title}.", "success")
        except PicbucketError as exc:
            flash(f"{file.filename}: {exc.message}", "danger")
    return redirect(url_for("gallery.index"))


@bp.get("/images/<image_id>")
@login_required
def image_page(image_id: str) -> str:
    """Show one image with its details, share links and actions."""
    image = image_service.get_image(backends(), owner_id(), image_id)
    return render_image_page(image)


@bp.get("/i/<image_id>/<variant>.<ext>")
def image_bytes(image_id: str, variant: str, ext: str) -> Response:
    """Serve the owner's original, display rendition or thumbnail (session or API token)."""
    reader = bytes_reader()
    if not isinstance(reader, str):
        return reader
    image = image_service.get_image(backends(), reader, image_id)
    chosen = {"original": image.original, "thumb": image.thumbnail, "display": image.display}.get(
        variant
    )
    if chosen is None or not chosen.key.endswith(f".{ext}"):
        abort(404)
    return variant_response(
        chosen, cache_control=IMMUTABLE_CACHE, download_name=chosen.key.rsplit("/", 1)[-1]
    )


@bp.post("/images/<image_id>/title")
@login_required
def rename(image_id: str) -> Response | tuple[str, int]:
    """Rename an image; a title with nothing visible is shown next to the field."""
    title = request.form.get("title", "")
    try:
        image = image_service.rename_image(backends(), owner_id(), image_id, title)
    except InvalidInput as exc:
        current = image_service.get_image(backends(), owner_id(), image_id)
        return render_image_page(current, title_error=exc.message, title=title), 400
    flash("Title saved.", "success")
    return redirect(url_for("gallery.image_page", image_id=image.id))


@bp.post("/images/<image_id>/delete")
@login_required
def delete(image_id: str) -> Response:
    """Move an image to the trash (its links stop until it is restored)."""
    image = image_service.delete_image(backends(), owner_id(), image_id)
    log_event("delete", user_id=owner_id(), image_id=image.id)
    # Markup.format escapes the title; the link is ours.
    flash(
        Markup('Moved {} to the trash. <a href="{}">Open the trash</a>').format(
            image.title, url_for("albums.trash")
        ),
        "success",
    )
    return redirect(url_for("gallery.index"))


@bp.post("/images/<image_id>/shares")
@login_required
def create_share(image_id: str) -> Response:
    """Create a share link (expiry, optional password and view limit), then redirect:
    a reload shows the page, not another link."""
    new = create_link(
        backends(),
        owner_id(),
        link_options(request.form),
        image_id=image_id,
        token_key=settings().secret_key,
    )
    log_event("share", user_id=owner_id(), image_id=image_id, share_id=new.share.id)
    session[NEW_SHARE_KEY] = new.share.id
    return redirect(url_for("gallery.image_page", image_id=image_id) + "#new-share")


@bp.post("/shares/<share_id>/revoke")
@login_required
def revoke_share(share_id: str) -> Response:
    """Revoke a share link."""
    share = share_service.revoke_share(backends(), owner_id(), share_id)
    log_event("share_revoked", user_id=owner_id(), share_id=share.id)
    flash("The link is revoked; it now shows “not found”.", "success")
    if safe_next(request.form.get("next")) == url_for("gallery.shared_links"):
        return redirect(url_for("gallery.shared_links"))
    if share.album_id:  # an album link has no image page to go back to
        return redirect(url_for("albums.share_page", album_id=share.album_id))
    return redirect(url_for("gallery.image_page", image_id=share.image_id))


@bp.get("/shares")
@login_required
def shared_links() -> str:
    """List every live image and album link with copy, expiry, created, views and revoke."""
    return render_shared_links()


# A GET of a form's URL (a reload after the form, a bookmarked POST target) lands on
# the page the form belongs to, never on a bare "405 method not allowed".
@bp.get("/images/<image_id>/title")
@bp.get("/images/<image_id>/shares")
@bp.get("/images/<image_id>/delete")
def image_form_page(image_id: str) -> Response:
    """Send a GET of an image form's URL to the image page."""
    return redirect(url_for("gallery.image_page", image_id=image_id))


@bp.get("/shares/<share_id>/revoke")
def revoke_form_page(share_id: str) -> Response:
    """Send a GET of a revoke URL to the "Shared links" page."""
    return redirect(url_for("gallery.shared_links"))


@bp.get("/upload")
def upload_form_page() -> Response:
    """Send a GET of the upload form's URL to the gallery."""
    return redirect(url_for("gallery.index"))
