"""Settings page: personal API tokens, the ShareX uploader file and a curl example."""

from __future__ import annotations

import json

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_login import login_required
from werkzeug.wrappers import Response

from picbucket.services import shares as share_service
from picbucket.services import tokens as token_service
from picbucket.web.context import backends, owner_id
from picbucket.web.logs import log_event

bp = Blueprint("account", __name__, url_prefix="/settings")


@bp.get("")
@login_required
def settings_page() -> str:
    """List tokens and offer ShareX / curl set-up."""
    return _render(new_secret=None)


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
def create_token() -> str:
    """Create a token and show its secret once."""
    token, secret = token_service.create_token(backends(), owner_id(), request.form.get("name", ""))
    log_event("token_created", user_id=owner_id(), token_id=token.id)
    flash(f"Token “{token.name}” created. Copy it now: it is shown only once.", "success")
    return _render(new_secret=secret)


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
    token, secret = token_service.create_token(backends(), owner_id(), "ShareX")
    log_event("token_created", user_id=owner_id(), token_id=token.id)
    config = {
        "Version": "17.0.0",
        "Name": f"Picbucket ({request.host})",
        "DestinationType": "ImageUploader",
        "RequestMethod": "POST",
        "RequestURL": url_for("api.upload", share=expiry, _external=True),
        "Headers": {"Authorization": f"Bearer {secret}"},
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
