"""Administration pages: people and their usage, quotas, disable/enable, delete, audit log.

Authorized per route by ``admin_only``: anyone who is not an administrator under the
current settings (a visitor, or a signed-in person not in PICBUCKET_ADMIN_EMAILS)
gets the same 404 as for any unknown address. 404 rather than 403 or a sign-in
redirect: the pages say nothing to someone who may not use them, not even that they
exist or whether a person id is real. An administrator signs in from the front page.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar, cast

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_login import current_user
from werkzeug.wrappers import Response

from picbucket.domain import InvalidInput, User
from picbucket.services import admin as admin_service
from picbucket.services.accounts import is_admin
from picbucket.services.uploads import quota_for
from picbucket.settings import MIB
from picbucket.web.context import backends, settings
from picbucket.web.security import csrf

bp = Blueprint("admin", __name__, url_prefix="/admin")
# CSRF is checked in ``admin_only``, after the administrator check, so that anyone
# else gets the same 404 on every route, whatever they post.
csrf.exempt(bp)

F = TypeVar("F", bound=Callable[..., Any])


def admin_only(view: F) -> F:
    """Answer 404 unless the signed-in person is an administrator right now."""

    @wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        if not current_user.is_authenticated or not is_admin(settings(), current_user.user):
            abort(404)
        if request.method not in ("GET", "HEAD", "OPTIONS"):
            csrf.protect()
        return view(*args, **kwargs)

    return cast(F, wrapper)


def _actor() -> User:
    user: User = current_user.user
    return user


@bp.get("")
@admin_only
def people() -> str:
    """List people with their usage, searchable by email prefix, paged by cursor."""
    prefix = request.args.get("q", "")
    page = admin_service.list_people(backends(), settings(), prefix, request.args.get("cursor"))
    return render_template(
        "admin.html", page=page, q=prefix, first_page=not request.args.get("cursor")
    )


@bp.get("/people/<user_id>")
@admin_only
def person(user_id: str) -> str:
    """Show one person's usage, quota and account actions (never their photos)."""
    row = admin_service.get_person(backends(), settings(), user_id)
    default = quota_for(settings())
    return render_template("admin_person.html", row=row, mib=MIB, default=default)


@bp.post("/people/<user_id>/disable")
@admin_only
def disable(user_id: str) -> Response:
    """Disable an account: sessions, tokens and share links stop at once."""
    user = admin_service.set_disabled(backends(), settings(), _actor(), user_id, True)
    flash(f"{user.email} is disabled: signed out everywhere, tokens and links stopped.", "success")
    return redirect(url_for("admin.person", user_id=user_id))


@bp.post("/people/<user_id>/enable")
@admin_only
def enable(user_id: str) -> Response:
    """Enable a disabled account again; nothing was deleted while it was disabled."""
    user = admin_service.set_disabled(backends(), settings(), _actor(), user_id, False)
    flash(f"{user.email} is enabled again.", "success")
    return redirect(url_for("admin.person", user_id=user_id))


@bp.post("/people/<user_id>/quota")
@admin_only
def quota(user_id: str) -> Response:
    """Set or clear a person's own quota."""
    try:
        user = admin_service.set_quota(
            backends(),
            settings(),
            _actor(),
            user_id,
            request.form.get("megabytes", ""),
            request.form.get("images", ""),
        )
    except InvalidInput as exc:
        flash(exc.message, "danger")
    else:
        flash(f"Quota of {user.email} saved.", "success")
    return redirect(url_for("admin.person", user_id=user_id))


@bp.post("/people/<user_id>/delete")
@admin_only
def delete(user_id: str) -> Response:
    """Delete a person's account and everything in it (confirmed by typing the email)."""
    row = admin_service.get_person(backends(), settings(), user_id)
    if request.form.get("confirm_email", "").strip().lower() != row.user.email:
        flash(f"Type {row.user.email} to confirm the deletion.", "danger")
        return redirect(url_for("admin.person", user_id=user_id))
    user = admin_service.delete_account(backends(), settings(), _actor(), user_id)
    flash(f"The account of {user.email} is being deleted.", "success")
    return redirect(url_for("admin.people"))


@bp.get("/audit")
@admin_only
def audit() -> str:
    """Show the audit log of administrator actions, newest first."""
    page = admin_service.audit_log(backends(), request.args.get("cursor"))
    return render_template("admin_audit.html", page=page, first_page=not request.args.get("cursor"))
