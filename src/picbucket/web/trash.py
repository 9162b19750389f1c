"""The owner's trash page: list with purge dates, restore, delete for good, empty."""

from __future__ import annotations

from flask import flash, redirect, render_template, url_for
from flask_login import login_required
from werkzeug.wrappers import Response

from picbucket.services import trash as trash_service
from picbucket.web.albums import back, bp, form_ids
from picbucket.web.context import backends, owner_id, settings
from picbucket.web.logs import log_event
from picbucket.web.media import variant_response
from picbucket.web.views import owner_quota_json


@bp.get("/trash")
@login_required
def trash() -> str:
    """List the trash with purge dates, the restore and empty actions, and the quota note."""
    images = trash_service.trashed_images(backends(), owner_id())
    return render_template(
        "trash.html",
        images=images,
        trash_days=settings().trash_days,
        purge_date=trash_service.purge_date,
        trashed_bytes=sum(image.bytes for image in images),
        quota=owner_quota_json(owner_id()),
    )


@bp.get("/trash/<image_id>/thumb")
@login_required
def trash_thumb(image_id: str) -> Response:
    """Serve a trashed photo's thumbnail to its owner (the gallery's URLs serve ready ones)."""
    image = trash_service.require_trashed(backends(), owner_id(), image_id)
    return variant_response(
        image.thumbnail, cache_control="private, max-age=300", download_name=f"{image.id}-thumb"
    )


@bp.post("/trash/restore")
@login_required
def restore() -> Response:
    """Put the posted photos back in the gallery."""
    restored = trash_service.restore_images(backends(), owner_id(), form_ids())
    flash(f"Restored {len(restored)} {'photo' if len(restored) == 1 else 'photos'}.", "success")
    return back(url_for("albums.trash"))


@bp.post("/trash/delete")
@login_required
def delete_forever() -> Response:
    """Delete the posted trashed photos now."""
    done = trash_service.delete_forever(backends(), owner_id(), form_ids())
    flash(f"Deleted {done} {'photo' if done == 1 else 'photos'} for good.", "success")
    return redirect(url_for("albums.trash"), code=303)


@bp.post("/trash/empty")
@login_required
def empty() -> Response:
    """Delete everything in the trash now."""
    done = trash_service.empty_trash(backends(), owner_id())
    log_event("trash_emptied", user_id=owner_id(), images=done)
    flash(f"Trash emptied: {done} {'photo' if done == 1 else 'photos'} deleted.", "success")
    return redirect(url_for("albums.trash"), code=303)
