"""The signed-in person's pages: gallery, upload, image page, rename, delete, share."""

from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_login import current_user, login_required
from werkzeug.wrappers import Response

from picbucket.domain import PicbucketError
from picbucket.services import images as image_service
from picbucket.services import shares as share_service
from picbucket.services.uploads import IMMUTABLE_CACHE, store_image
from picbucket.web.context import backends, owner_id, settings
from picbucket.web.logs import log_event
from picbucket.web.media import variant_response
from picbucket.web.security import limiter
from picbucket.web.views import quota_json, share_links

bp = Blueprint("gallery", __name__)


@bp.get("/")
def index() -> str:
    """Show the gallery, or the landing page to visitors."""
    if not current_user.is_authenticated:
        return render_template("landing.html")
    page = image_service.list_images(
        backends(), owner_id(), request.args.get("cursor"), settings().page_size
    )
    usage = backends().images.usage(owner_id())
    return render_template(
        "gallery.html",
        page=page,
        quota=quota_json(usage),
        first_page=not request.args.get("cursor"),
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
    shares = share_service.list_shares(backends(), owner_id(), image_id)
    return render_template(
        "image.html",
        image=image,
        shares=shares,
        expiry_labels=share_service.EXPIRY_LABELS,
        new_share=None,
    )


@bp.get("/i/<image_id>/<variant>.<ext>")
@login_required
def image_bytes(image_id: str, variant: str, ext: str) -> Response:
    """Serve the owner's original, display rendition or thumbnail."""
    image = image_service.get_image(backends(), owner_id(), image_id)
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
def rename(image_id: str) -> Response:
    """Rename an image."""
    image = image_service.rename_image(
        backends(), owner_id(), image_id, request.form.get("title", "")
    )
    flash("Title saved.", "success")
    return redirect(url_for("gallery.image_page", image_id=image.id))


@bp.post("/images/<image_id>/delete")
@login_required
def delete(image_id: str) -> Response:
    """Delete an image, its share links and its bytes."""
    image = image_service.delete_image(backends(), owner_id(), image_id)
    log_event("delete", user_id=owner_id(), image_id=image.id)
    flash(f"Deleted {image.title}.", "success")
    return redirect(url_for("gallery.index"))


@bp.post("/images/<image_id>/shares")
@login_required
def create_share(image_id: str) -> str:
    """Create a share link and show it once."""
    new = share_service.create_share(
        backends(), owner_id(), image_id, request.form.get("expires", "7d")
    )
    log_event("share", user_id=owner_id(), image_id=image_id, share_id=new.share.id)
    return render_template(
        "image.html",
        image=new.image,
        shares=share_service.list_shares(backends(), owner_id(), image_id),
        expiry_labels=share_service.EXPIRY_LABELS,
        new_share={"share": new.share, "links": share_links(new.image, new.token)},
    )


@bp.post("/shares/<share_id>/revoke")
@login_required
def revoke_share(share_id: str) -> Response:
    """Revoke a share link."""
    share = share_service.revoke_share(backends(), owner_id(), share_id)
    log_event("share_revoked", user_id=owner_id(), share_id=share.id)
    flash("The link is revoked; it now shows “not found”.", "success")
    return redirect(url_for("gallery.image_page", image_id=share.image_id))
