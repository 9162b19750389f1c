"""Leaving: take everything out (a zip), then delete the account for good.

Large accounts in job mode prepare the zip in the background first (web/exports.py).
"""

from __future__ import annotations

from flask import Blueprint, flash, redirect, request, session, url_for
from flask_login import current_user, login_required, logout_user
from werkzeug.wrappers import Response

from picbucket.domain import AuditEntry, User, new_id
from picbucket.services.account_deletion import start_account_deletion
from picbucket.services.account_export import export_zip
from picbucket.services.exports import ExportPolicy, needs_job
from picbucket.web.context import backends, settings
from picbucket.web.logs import log_event

bp = Blueprint("leaving", __name__, url_prefix="/settings")


@bp.get("/export.zip")
@login_required
def export() -> Response:
    """Stream a zip of every photo (originals) and a JSON manifest.

    Not for an account the deployment builds exports for (job mode, over the stream
    limit): streamed, its zip would be cut off at the request timeout part way, so a
    bookmarked link leads to "Prepare export" instead.
    """
    user: User = current_user.user
    if needs_job(backends(), ExportPolicy.from_settings(settings()), user.id):
        flash("Your photos are too many to download in one go: prepare an export.", "info")
        return redirect(url_for("account.settings_page") + "#export", code=303)
    log_event("account_exported", user_id=user.id)
    name = f"picbucket-export-{backends().clock():%Y-%m-%d}.zip"
    return Response(
        export_zip(backends(), user.id),
        mimetype="application/zip",
        headers={
            "Content-Disposition": f'attachment; filename="{name}"',
            "Cache-Control": "no-store",
        },
    )


@bp.post("/delete-account")
@login_required
def delete_account() -> Response:
    """Delete the signed-in person's account, once they typed their email to confirm."""
    user: User = current_user.user
    if request.form.get("confirm_email", "").strip().lower() != user.email:
        flash(f"To delete your account, type {user.email} exactly.", "danger")
        return redirect(url_for("account.settings_page") + "#delete-account")
    entry = AuditEntry(
        id=new_id(),
        when=backends().clock(),
        actor_id=user.id,
        actor_email=user.email,
        action="delete_own_account",
        target_id=user.id,
        target_email=user.email,
    )
    start_account_deletion(backends(), user, entry)
    log_event("account_deletion_started", user_id=user.id)
    logout_user()
    session.clear()
    flash(
        "Your account is being deleted: your photos, albums, links and tokens are "
        "going now. You can sign up again with the same email once it is done.",
        "info",
    )
    return redirect(url_for("gallery.index"))


# Exports built in the background register their routes on ``bp`` (they import it).
from picbucket.web import exports  # noqa: E402, F401
