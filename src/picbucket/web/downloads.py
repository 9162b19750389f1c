"""The owner's zip downloads: an album's originals, or the photos selected in the gallery."""

from __future__ import annotations

from flask_login import login_required
from werkzeug.wrappers import Response

from picbucket.domain import ImageStatus
from picbucket.services import albums as album_service
from picbucket.services import trash as trash_service
from picbucket.services.zips import photo_entries, stream_zip
from picbucket.web.album_share import zip_response
from picbucket.web.albums import bp, form_ids
from picbucket.web.context import backends, owner_id


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
    ids = trash_service.checked_ids(form_ids())
    chosen = {
        image.id: image
        for image in backends().images.get_many(owner_id(), ids)
        if image.status is ImageStatus.READY
    }
    images = [chosen[image_id] for image_id in ids if image_id in chosen]
    return zip_response(stream_zip(backends().blobs, photo_entries(images)), "Picbucket photos")
