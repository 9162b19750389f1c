"""API v1 routes for albums, the trash and bulk actions (declared with ``api.route``).

Imported at the end of ``web/api.py`` so every route is on the blueprint before
any app registers it; the OpenAPI document lists them with the rest.
"""

from __future__ import annotations

from typing import Any

from flask import jsonify, url_for
from werkzeug.wrappers import Response

from picbucket.domain import Album, Image, InvalidInput
from picbucket.services import albums as album_service
from picbucket.services import trash as trash_service
from picbucket.services.links import check_options, create_link
from picbucket.web import schemas
from picbucket.web.api import _owner, route
from picbucket.web.context import backends, settings
from picbucket.web.link_forms import body_link_options
from picbucket.web.logs import log_event
from picbucket.web.shared_links import new_link_json
from picbucket.web.views import image_json


def album_json(album: Album, count: int) -> dict[str, Any]:
    """Return the API representation of an album."""
    return {
        "id": album.id,
        "title": album.title,
        "description": album.description,
        "order": album.order.value,
        "cover_id": album.cover_id,
        "created": album.created.isoformat(),
        "photo_count": count,
        "page_url": url_for("albums.album", album_id=album.id, _external=True),
    }


def _count(album: Album) -> int:
    return len(album_service.album_images(backends(), album))


@route("GET", "/albums", "List your albums", response=schemas.AlbumList)
def list_albums() -> Response:
    """List the caller's albums, newest first, with photo counts."""
    summaries = album_service.list_albums(backends(), _owner())
    return jsonify(items=[album_json(s.album, s.count) for s in summaries])


@route(
    "POST", "/albums", "Create an album", status=201, response=schemas.Album, body=schemas.AlbumBody
)
def create_album(body: schemas.AlbumBody) -> tuple[Response, int]:
    """Create an empty album."""
    album = album_service.create_album(backends(), _owner(), body.title, body.description)
    return jsonify(album_json(album, 0)), 201


@route("GET", "/albums/{album_id}", "Get an album and its photos", response=schemas.AlbumDetail)
def get_album(album_id: str) -> Response:
    """Return one of the caller's albums with its visible photos in order."""
    album = album_service.get_album(backends(), _owner(), album_id)
    images = album_service.album_images(backends(), album)
    return jsonify({**album_json(album, len(images)), "images": [image_json(i) for i in images]})


@route(
    "PATCH",
    "/albums/{album_id}",
    "Rename, describe, reorder or set the cover of an album",
    response=schemas.Album,
    body=schemas.AlbumPatch,
)
def patch_album(album_id: str, body: schemas.AlbumPatch) -> Response:
    """Change an album's title, description, order mode or cover."""
    album = album_service.update_album(
        backends(),
        _owner(),
        album_id,
        title=body.title,
        description=body.description,
        order=body.order,
        cover_id=body.cover_id,
    )
    return jsonify(album_json(album, _count(album)))


@route("DELETE", "/albums/{album_id}", "Delete an album (its photos stay)", status=204)
def delete_album(album_id: str) -> tuple[str, int]:
    """Delete an album and its links; the photos stay in the gallery."""
    album_service.delete_album(backends(), _owner(), album_id)
    return "", 204


@route(
    "POST",
    "/albums/{album_id}/shares",
    "Create a public link to an album",
    status=201,
    response=schemas.NewAlbumShare,
    body=schemas.LinkBody,
    body_required=False,
)
def share_album(album_id: str, body: schemas.LinkBody) -> tuple[Response, int]:
    """Create an album link (default expiry 7 days; password and view limit optional)."""
    new = create_link(
        backends(),
        _owner(),
        body_link_options(body),
        album_id=album_id,
        token_key=settings().secret_key,
    )
    log_event("share", user_id=_owner(), album_id=album_id, share_id=new.share.id)
    return jsonify(new_link_json(new)), 201


@route(
    "POST",
    "/images/bulk",
    "Act on up to 1,000 selected images at once",
    response=schemas.BulkResult,
    body=schemas.BulkBody,
    errors=(404,),
    description="trash, restore, add_to_album / remove_from_album (album_id), or "
    "share_album: a new album (title) of the images with a public link (link options).",
)
def bulk(body: schemas.BulkBody) -> Response:
    """Do one action on many images; the server works through them in batches."""
    owner, ids = _owner(), body.image_ids
    album: Album | None = None
    share: dict[str, Any] | None = None
    changed: list[str]
    if body.action == "trash":
        changed = trash_service.trash_images(backends(), owner, ids)
    elif body.action == "restore":
        changed = trash_service.restore_images(backends(), owner, ids)
    elif body.action in ("add_to_album", "remove_from_album"):
        if not body.album_id:
            raise InvalidInput("album_id is required for this action.")
        album = album_service.get_album(backends(), owner, body.album_id)
        act = (
            album_service.add_to_album
            if body.action == "add_to_album"
            else album_service.remove_from_album
        )
        done = act(backends(), owner, album.id, ids)
        changed = ids[:done] if done == len(ids) else _members(album, ids, body.action)
    else:
        options = body_link_options(body.link)
        check_options(options)  # a refused link must not leave an album behind
        album = album_service.create_album(backends(), owner, body.title or "Shared photos")
        album_service.add_to_album(backends(), owner, album.id, ids)
        new = create_link(
            backends(), owner, options, album_id=album.id, token_key=settings().secret_key
        )
        share = new_link_json(new)
        changed = backends().albums.item_ids(owner, album.id)
    log_event("bulk", user_id=owner, action=body.action, images=len(changed))
    return jsonify(
        action=body.action,
        done=len(changed),
        image_ids=changed,
        album=album_json(album, _count(album)) if album else None,
        share=share,
    )


def _members(album: Album, ids: list[str], action: str) -> list[str]:
    inside = set(backends().albums.item_ids(album.owner_id, album.id))
    return [i for i in ids if (i in inside) == (action == "add_to_album")]


@route("GET", "/trash", "List your trash", response=schemas.TrashList)
def list_trash() -> Response:
    """List the caller's trashed photos with the date each will be deleted for good."""
    images = trash_service.trashed_images(backends(), _owner())
    return jsonify(
        items=[_trashed_json(image) for image in images],
        trash_days=settings().trash_days,
        bytes=sum(image.bytes for image in images),
    )


def _trashed_json(image: Image) -> dict[str, Any]:
    purge = trash_service.purge_date(image, settings().trash_days)
    return {
        "id": image.id,
        "title": image.title,
        "bytes": image.bytes,
        "trashed_at": image.trashed_at.isoformat() if image.trashed_at else None,
        "purge_at": purge.isoformat() if purge else None,
    }


@route("POST", "/trash/empty", "Delete everything in your trash now", response=schemas.Emptied)
def empty_trash() -> Response:
    """Delete every trashed photo now; the quota is given back."""
    deleted = trash_service.empty_trash(backends(), _owner())
    log_event("trash_emptied", user_id=_owner(), images=deleted)
    return jsonify(deleted=deleted)
