"""Exports built in the background (PICBUCKET_EXPORT_MODE=job): prepare, follow, download.

Registered on the ``leaving`` blueprint (it imports this module). The settings page
asks ``export_offer()`` which form of "Take your photos with you" to show: the
direct streamed zip, or "Prepare export" and the latest export's progress.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from flask import flash, jsonify, redirect, request, url_for
from flask_login import login_required
from werkzeug.exceptions import NotFound as HTTPNotFound
from werkzeug.wrappers import Response

from picbucket.domain import Export, ExportStatus, human_bytes
from picbucket.services import exports as export_service
from picbucket.web.context import backends, owner_id, settings
from picbucket.web.leaving import bp
from picbucket.web.logs import log_event
from picbucket.web.media import stream_blob

SETTINGS_ANCHOR = "#export"


@dataclass(frozen=True)
class ExportOffer:
    """What the settings page offers to take everything out."""

    job: bool  # False: the direct streamed download (stream mode, or a small account)
    export: Export | None  # the latest export still worth showing (None: "Prepare export")


def _policy() -> export_service.ExportPolicy:
    return export_service.ExportPolicy.from_settings(settings())


def _shown(export: Export | None) -> Export | None:
    """Return the export the owner should see: not one whose zip has already expired."""
    if export is None:
        return None
    if export.status is ExportStatus.READY and export.expires <= backends().clock():
        return None
    return export


@bp.app_template_global()
def export_offer() -> ExportOffer:
    """Return the signed-in person's choice of export (settings page, delete-account area)."""
    owner = owner_id()
    if not export_service.needs_job(backends(), _policy(), owner):
        return ExportOffer(job=False, export=None)
    return ExportOffer(job=True, export=_shown(export_service.current_export(backends(), owner)))


def _photos(count: int) -> str:
    return f"{count:,} photo" + ("" if count == 1 else "s")


@bp.app_template_global()
def export_progress_text(export: Export) -> str:
    """Say how far a pending or running export has got, in words."""
    if export.status is ExportStatus.PENDING or not export.photos_total:
        return "Preparing your export: starting…"
    return (
        f"Preparing your export: {export.photos_done:,} of {_photos(export.photos_total)}, "
        f"{human_bytes(export.bytes_written)} so far"
    )


@bp.app_template_global()
def export_size_text(export: Export) -> str:
    """Describe a ready export: "5,000 photos, 9.8 GB"."""
    return f"{_photos(export.photos_total)}, {human_bytes(export.bytes_written)}"


def _download_url(export: Export) -> str | None:
    if export.status is not ExportStatus.READY:
        return None
    return url_for("leaving.download_export", export_id=export.id)


def _state(export: Export | None) -> dict[str, Any]:
    """Return the JSON that export.js follows (every field null without an export)."""
    if export is None:
        return dict.fromkeys(
            ("id", "status", "photos_done", "photos_total", "bytes_written", "error", "expires")
        ) | {"download_url": None, "text": None}
    return {
        "id": export.id,
        "status": export.status.value,
        "photos_done": export.photos_done,
        "photos_total": export.photos_total,
        "bytes_written": export.bytes_written,
        "error": export.error,
        "expires": export.expires.isoformat(),
        "download_url": _download_url(export),
        "text": (export_progress_text(export) if export.status.in_progress else None),
    }


@bp.post("/export")
@login_required
def prepare_export() -> Response:
    """Start building the owner's export (or keep the one in progress); back to Settings."""
    owner = owner_id()
    target = url_for("account.settings_page") + SETTINGS_ANCHOR
    policy = _policy()
    if not export_service.needs_job(backends(), policy, owner):
        # Small enough to stream: the page offers the direct download instead.
        return redirect(target, code=303)
    before = export_service.current_export(backends(), owner)
    export = export_service.request_export(backends(), policy, owner)
    if before is not None and before.id == export.id:
        flash("Your export is already being prepared.", "info")
    else:
        log_event("account_export_requested", user_id=owner, export_id=export.id)
        flash("Preparing your export. It keeps going if you leave this page.", "info")
    return redirect(target, code=303)


@bp.get("/export")
def prepare_export_page() -> Response:
    """Send a GET of the form's URL (a reload, a bookmark) to the settings page."""
    return redirect(url_for("account.settings_page") + SETTINGS_ANCHOR)


@bp.get("/export/status")
@login_required
def export_status() -> Response:
    """Return the latest export's progress as JSON (``?id=``: that export, 404 if not yours)."""
    owner = owner_id()
    current = _shown(export_service.current_export(backends(), owner))
    wanted = request.args.get("id")
    if wanted is None or (current is not None and current.id == wanted):
        found = current
    else:
        found = export_service.find_export(backends(), owner, wanted)
        if found is None:
            raise HTTPNotFound()
    response = jsonify(_state(found))
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.get("/exports/<export_id>/download")
@login_required
def download_export(export_id: str) -> Response:
    """Hand out a ready export: a short-lived signed link, or the zip streamed from storage."""
    owner = owner_id()
    found = export_service.export_download(backends(), owner, export_id)
    log_event("account_export_downloaded", user_id=owner, export_id=export_id)
    if found.url is not None:
        answer = redirect(found.url, code=302)
        answer.headers["Cache-Control"] = "no-store"
        return answer
    if found.stream is None:
        raise HTTPNotFound()
    return Response(
        stream_blob(found.stream),
        mimetype="application/zip",
        headers={
            "Content-Disposition": f'attachment; filename="{found.filename}"',
            "Content-Length": str(found.size),
            "Cache-Control": "no-store",
        },
    )
