"""The owner's album pages and album links (session sign-in, forms with CSRF).

The trash (web/trash.py), zip downloads (web/downloads.py) and link passwords
(web/shared_links.py) add their routes to this blueprint, so their endpoint names
(``albums.trash``, ``albums.download_album``, ``albums.password``...) stay as they were.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_login import login_required
from werkzeug.wrappers import Response

from picbucket.domain import Album, Image, InvalidInput
from picbucket.services import albums as album_service
from picbucket.services.links import (
    DEFAULT_EXPIRY,
    album_links,
    create_link,
)
from picbucket.services.shares import EXPIRY_LABELS, recover_token, revoke_share
from picbucket.web.auth import safe_next
from picbucket.web.context import backends, owner_id, settings
from picbucket.web.link_forms import link_options
from picbucket.web.logs import log_event

bp = Blueprint("albums", __name__)


def form_ids() -> list[str]:
    """Return the photo ids a form posted (field image_id, repeated)."""
    return request.form.getlist("image_id")


def back(default: str) -> Response:
    """Redirect to the form's ``next`` if it is a path on this site, else to ``default``."""
    return redirect(safe_next(request.form.get("next")) or default, code=303)


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
    if form_ids():
        album_service.add_to_album(backends(), owner_id(), album.id, form_ids())
    flash(f"Created the album {album.title}.", "success")
    return back(url_for("albums.album", album_id=album.id))


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
    added = album_service.add_to_album(backends(), owner_id(), album_id, form_ids())
    found = album_service.get_album(backends(), owner_id(), album_id)
    flash(f"Added {added} {'photo' if added == 1 else 'photos'} to {found.title}.", "success")
    return back(url_for("albums.album", album_id=album_id))


@bp.post("/albums/add")
@login_required
def add_to_chosen() -> Response:
    """Add the posted photos to the album chosen in the form's select."""
    return _add(request.form.get("album_id", ""))


@bp.post("/albums/<album_id>/remove")
@login_required
def remove(album_id: str) -> Response:
    """Take the posted photos out of the album (they stay in the gallery)."""
    album_service.remove_from_album(backends(), owner_id(), album_id, form_ids())
    flash("Removed from the album; the photo is still in your gallery.", "success")
    return back(url_for("albums.album", album_id=album_id))


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
    return back(url_for("albums.share_page", album_id=album_id))


@bp.errorhandler(InvalidInput)
def _form_error(exc: InvalidInput) -> Response:
    # Form mistakes (empty title, bad view limit) come back as a message, not an error page.
    flash(exc.message, "danger")
    return redirect(_same_site_referrer() or url_for("albums.albums"), code=303)


def _same_site_referrer() -> str | None:
    referrer = request.referrer or ""
    return referrer if referrer.startswith(request.host_url) else None


# Register the routes split out of this module on ``bp`` (they import it).
from picbucket.web import downloads, shared_links, trash  # noqa: E402, F401
