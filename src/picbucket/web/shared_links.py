"""The "Shared links" page: every live link, copyable again; setting a link's password."""

from __future__ import annotations

from typing import Any

from flask import flash, render_template, request, url_for
from flask_login import login_required
from werkzeug.wrappers import Response

from picbucket.services.links import NewLink, set_link_password
from picbucket.services.shares import SharedLink, active_links
from picbucket.web.albums import back, bp
from picbucket.web.context import backends, owner_id, settings
from picbucket.web.views import share_json, share_urls


def link_url(link: SharedLink) -> str | None:
    """Return the public URL of a link, or None if its token cannot be recovered."""
    if link.token is None:
        return None
    if link.album is not None:
        return url_for("album_share.page", token=link.token, _external=True)
    assert link.image is not None  # an image link always has its image
    return share_urls(link.image, link.token)["share_url"]


def new_link_json(new: NewLink) -> dict[str, Any]:
    """Return a just-created link for the API: its record and its public URLs."""
    if new.album is not None:
        urls = {"share_url": url_for("album_share.page", token=new.token, _external=True)}
    else:
        assert new.image is not None  # a link points at one image or one album
        urls = share_urls(new.image, new.token)
    return {**share_json(new.share), **urls}


def render_shared_links() -> str:
    """Render shares.html for the signed-in owner."""
    links = active_links(backends(), owner_id(), settings().secret_key)
    rows: list[dict[str, Any]] = [{"link": link, "url": link_url(link)} for link in links]
    return render_template("shares.html", links=rows)


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
    return back(url_for("gallery.shared_links"))
