"""The owner's album, trash and download pages (session sign-in, forms with CSRF)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_login import login_required
from werkzeug.wrappers import Response

from picbucket.domain import Album, Image, ImageStatus, InvalidInput
from picbucket.services import albums as album_service
from picbucket.services import trash as trash_service
from picbucket.services.links import (
    DEFAULT_EXPIRY,
    album_links,
    create_link,
    set_link_password,
)
from picbucket.services.shares import EXPIRY_LABELS, recover_token, revoke_share
from picbucket.services.zips import photo_entries, stream_zip
from picbucket.web.album_share import zip_response
from picbucket.web.context import backends, owner_id, settings
from picbucket.web.link_forms import link_options
from picbucket.web.logs import log_event
from picbucket.web.media import variant_response
from picbucket.web.views import owner_quota_json

bp = Blueprint("albums", __name__)


def _ids() -> list[str]:
    return request.form.getlist("image_id")


def _back(default: str) -> Response:
    # Only our own paths: a form cannot send the person elsewhere.
    target = request.form.get("next", "")
    if not target.startswith("/") or target.startswith("//"):
        target = default
    return redirect(target, code=303)


# -- albums -------------------------------------------------------------------------


@bp.get("/albums")
@login_required
def albums() -> str:
    """List the person's albums with covers and counts."""
    return render_template(
        "albums.html", summaries=album_service.list_albums(backends(), owner_id())
    )


@bp.post("/albums")
@login_required
def create() -> Response:
    """Create an album (optionally with the photos the form names) and open it."""
    album = album_service.create_album(
        backends(), owner_id(), request.form.get("title", ""), request.form.get("description", "")
    )
    if _ids():
        album_service.add_to_album(backends(), owner_id(), album.id, _ids())
    flash(f"Created the album {album.title}.", "success")
    return _back(url_for("albums.album", album_id=album.id))


@bp.get("/albums/<album_id>")
@login_required
def album(album_id: str) -> str:
    """Show one album: its photos in order, and the tools to arrange and share it."""
    found = album_service.get_album(backends(), owner_id(), album_id)
    offset = request.args.get("from", "0")
    start = int(offset) if offset.isdigit() else 0
    # As many photos per page as the gallery (PICBUCKET_PAGE_SIZE).
    page = album_service.album_page(backends(), found, start, settings().page_size)
    return render_template(
        "album.html",
        album=found,
        images=page.images,
        start=start,
        next_offset=page.next_offset,
        count=backends().albums.count(owner_id(), found.id),
        cover_id=found.cover_id,
    )


@bp.post("/albums/<album_id>/edit")
@login_required
def edit(album_id: str) -> Response:
    """Rename, describe or change the order mode."""
    album_service.update_album(
        backends(),
        owner_id(),
        album_id,
        title=request.form.get("title"),
        description=request.form.get("description"),
        order=request.form.get("order") or None,
    )
    flash("Album saved.", "success")
    return redirect(url_for("albums.album", album_id=album_id), code=303)


@bp.post("/albums/<album_id>/delete")
@login_required
def delete(album_id: str) -> Response:
    """Delete the album and its links; the photos stay in the gallery."""
    album = album_service.delete_album(backends(), owner_id(), album_id)
    flash(f"Deleted the album {album.title}. Its photos are still in your gallery.", "success")
    return redirect(url_for("albums.albums"), code=303)


@bp.post("/albums/<album_id>/cover")
@login_required
def cover(album_id: str) -> Response:
    """Make a photo of the album its cover."""
    album_service.update_album(
        backends(), owner_id(), album_id, cover_id=request.form.get("image_id", "")
    )
    flash("Cover set.", "success")
    return redirect(url_for("albums.album", album_id=album_id), code=303)


@bp.post("/albums/<album_id>/move")
@login_required
def move(album_id: str) -> Response:
    """Move a photo one place earlier or later (the keyboard-friendly reorder)."""
    image_id = request.form.get("image_id", "")
    steps = -1 if request.form.get("direction") == "up" else 1
    album_service.move_in_album(backends(), owner_id(), album_id, image_id, steps)
    return redirect(url_for("albums.album", album_id=album_id, _anchor=f"p-{image_id}"), code=303)


@bp.post("/albums/<album_id>/add")
@login_required
def add(album_id: str) -> Response:
    """Add the posted photos to an album."""
    return _add(album_id)


def _add(album_id: str) -> Response:
    added = album_service.add_to_album(backends(), owner_id(), album_id, _ids())
    found = album_service.get_album(backends(), owner_id(), album_id)
    flash(f"Added {added} {'photo' if added == 1 else 'photos'} to {found.title}.", "success")
    return _back(url_for("albums.album", album_id=album_id))


@bp.post("/albums/add")
@login_required
def add_to_chosen() -> Response:
    """Add the posted photos to the album chosen in the form's select."""
    return _add(request.form.get("album_id", ""))


@bp.post("/albums/<album_id>/remove")
@login_required
def remove(album_id: str) -> Response:
    """Take the posted photos out of the album (they stay in the gallery)."""
    album_service.remove_from_album(backends(), owner_id(), album_id, _ids())
    flash("Removed from the album; the photo is still in your gallery.", "success")
    return _back(url_for("albums.album", album_id=album_id))


@dataclass(frozen=True)
class AlbumPanel:
    """What the image page shows about albums: those holding the photo, and the rest."""

    member: list[Album]
    others: list[Album]


@bp.app_context_processor
def _album_panel() -> dict[str, Any]:
    def album_panel(image: Image) -> AlbumPanel:
        owner = owner_id()
        holding = set(backends().albums.albums_of(owner, image.id))
        every = sorted(backends().albums.for_owner(owner), key=lambda a: a.title.casefold())
        return AlbumPanel(
            [a for a in every if a.id in holding], [a for a in every if a.id not in holding]
        )

    return {"album_panel": album_panel}


# -- album links ----------------------------------------------------------------------


def _share_page(album_id: str, new: dict[str, str] | None = None) -> str:
    found = album_service.get_album(backends(), owner_id(), album_id)
    now = backends().clock()
    links = [
        (share, recover_token(settings().secret_key, share))
        for share in album_links(backends(), owner_id(), album_id)
    ]
    return render_template(
        "album_share_admin.html",
        album=found,
        links=links,
        now=now,
        new=new,
        expiry_labels=EXPIRY_LABELS,
        default_expiry=DEFAULT_EXPIRY,
    )


@bp.get("/albums/<album_id>/share")
@login_required
def share_page(album_id: str) -> str:
    """Show the album's links and the form for a new one."""
    return _share_page(album_id)


@bp.post("/albums/<album_id>/share")
@login_required
def share(album_id: str) -> Response:
    """Create a public link to the album with the chosen options."""
    options = link_options(
        request.form, allow_originals=request.form.get("allow_originals") == "on"
    )
    new = create_link(
        backends(), owner_id(), options, album_id=album_id, token_key=settings().secret_key
    )
    log_event("share", user_id=owner_id(), album_id=album_id, share_id=new.share.id)
    flash("Link created. Copy it below.", "success")
    return redirect(url_for("albums.share_page", album_id=album_id), code=303)


@bp.post("/albums/<album_id>/share/<share_id>/revoke")
@login_required
def revoke(album_id: str, share_id: str) -> Response:
    """Revoke one of the album's links: every page and photo it served stops at once."""
    revoke_share(backends(), owner_id(), share_id)
    log_event("share_revoked", user_id=owner_id(), share_id=share_id)
    flash("The link is revoked; it now shows “not found”.", "success")
    # The Shared links page posts here too, and asks to come back to itself.
    return _back(url_for("albums.share_page", album_id=album_id))


@bp.post("/links/<share_id>/password")
@login_required
def password(share_id: str) -> Response:
    """Set, change or remove any link's password; everyone unlocked before is cut off."""
    changed = set_link_password(
        backends(), owner_id(), share_id, request.form.get("password") or None
    )
    flash(
        "Password set: everyone must enter it again."
        if changed.password_hash
        else "Password removed.",
        "success",
    )
    return _back(url_for("gallery.shared_links"))


# -- trash ----------------------------------------------------------------------------


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
    restored = trash_service.restore_images(backends(), owner_id(), _ids())
    flash(f"Restored {len(restored)} {'photo' if len(restored) == 1 else 'photos'}.", "success")
    return _back(url_for("albums.trash"))


@bp.post("/trash/delete")
@login_required
def delete_forever() -> Response:
    """Delete the posted trashed photos now."""
    done = trash_service.delete_forever(backends(), owner_id(), _ids())
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


# -- downloads ------------------------------------------------------------------------


@bp.get("/albums/<album_id>/download.zip")
@login_required
def download_album(album_id: str) -> Response:
    """Stream the album's originals as a zip."""
    found = album_service.get_album(backends(), owner_id(), album_id)
    entries = photo_entries(album_service.album_images(backends(), found))
    return zip_response(stream_zip(backends().blobs, entries), found.title)


@bp.post("/download.zip")
@login_required
def download_selection() -> Response:
    """Stream the selected photos' originals as a zip (form field image_id, repeated)."""
    ids = trash_service.checked_ids(_ids())
    chosen = {
        image.id: image
        for image in backends().images.get_many(owner_id(), ids)
        if image.status is ImageStatus.READY
    }
    images = [chosen[image_id] for image_id in ids if image_id in chosen]
    return zip_response(stream_zip(backends().blobs, photo_entries(images)), "Picbucket photos")


@bp.errorhandler(InvalidInput)
def _form_error(exc: InvalidInput) -> Response:
    # Form mistakes (empty title, bad view limit) come back as a message, not an error page.
    flash(exc.message, "danger")
    return redirect(_same_site_referrer() or url_for("albums.albums"), code=303)


def _same_site_referrer() -> str | None:
    referrer = request.referrer or ""
    return referrer if referrer.startswith(request.host_url) else None
