"""Settings page: personal API tokens, the ShareX uploader file and a curl example."""

from __future__ import annotations

import json
from datetime import datetime

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_login import login_required
from werkzeug.wrappers import Response

from picbucket.services import shares as share_service
from picbucket.services import tokens as token_service
from picbucket.web import once
from picbucket.web.context import backends, owner_id
from picbucket.web.logs import log_event

bp = Blueprint("account", __name__, url_prefix="/settings")

NEW_TOKEN = "new_token"  # noqa: S105 - a session key's name, not a secret


def sharex_token_name(now: datetime) -> str:
    """Name the token a ShareX download creates, e.g. "ShareX on 2026-11-26 10:42 UTC"."""
    return f"ShareX on {now:%Y-%m-%d %H:%M} UTC"


@bp.get("")
@login_required
def settings_page() -> str:
    """List tokens and offer ShareX / curl set-up; show a just-created secret once."""
    return _render(new_secret=once.take(NEW_TOKEN))


def _render(new_secret: str | None) -> str:
    return render_template(
        "settings.html",
        tokens=token_service.list_tokens(backends(), owner_id()),
        new_secret=new_secret,
        upload_url=url_for("api.upload", _external=True),
        expiry_labels=share_service.EXPIRY_LABELS,
    )


@bp.post("/tokens")
@login_required
def create_token() -> Response:
    """Create a token, then redirect to the page that shows its secret once.

    POST/redirect/GET: reloading the settings page does not mint another token.
    """
    token, secret = token_service.create_token(backends(), owner_id(), request.form.get("name", ""))
    log_event("token_created", user_id=owner_id(), token_id=token.id)
    flash(f"Token “{token.name}” created. Copy it now: it is shown only once.", "success")
    once.stash(NEW_TOKEN, secret)
    return redirect(url_for("account.settings_page") + "#new-token")


# A GET of a form's URL (a reload, a bookmark) lands on the settings page, not a 405.
@bp.get("/tokens")
@bp.get("/tokens/<token_id>/revoke")
@bp.get("/sharex")
def form_page(token_id: str = "") -> Response:
    """Send a GET of a settings form's URL to the settings page."""
    return redirect(url_for("account.settings_page"))


@bp.post("/tokens/<token_id>/revoke")
@login_required
def revoke_token(token_id: str) -> Response:
    """Revoke a token."""
    token_service.revoke_token(backends(), owner_id(), token_id)
    log_event("token_revoked", user_id=owner_id(), token_id=token_id)
    flash("Token revoked.", "success")
    return redirect(url_for("account.settings_page"))


@bp.post("/sharex")
@login_required
def sharex() -> Response:
    """Create a dedicated token and download a ShareX custom uploader (.sxcu) using it."""
    expiry = request.form.get("expires", "30d")
    share_service.parse_expiry(expiry)  # refuse an unknown choice before minting a token
    # Each download mints a token (the button says so); the date tells them apart.
    name = sharex_token_name(backends().clock())
    token, secret = token_service.create_token(backends(), owner_id(), name)
    log_event("token_created", user_id=owner_id(), token_id=token.id)
    flash(f"Token “{token.name}” created for ShareX; revoke it here to cut ShareX off.", "success")
    config = {
        "Version": "17.0.0",
        "Name": f"Picbucket ({request.host})",
        "DestinationType": "ImageUploader",
        "RequestMethod": "POST",
        "RequestURL": url_for("api.upload", share=expiry, _external=True),
        # ShareX runs header values through its name parser, so %guid is a fresh GUID
        # per upload: the upload is idempotent, and two files never share a key.
        "Headers": {"Authorization": f"Bearer {secret}", "Idempotency-Key": "sharex-%guid"},
        "Body": "MultipartFormData",
        "FileFormName": "file",
        "URL": "{json:share.share_image_url}",
        "ThumbnailURL": "{json:thumbnail_url}",
        "ErrorMessage": "{json:error.message}",
    }
    return Response(
        json.dumps(config, indent=2),
        mimetype="application/json",
        headers={"Content-Disposition": 'attachment; filename="picbucket.sxcu"'},
    )
