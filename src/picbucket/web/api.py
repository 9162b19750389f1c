"""JSON API v1 for ShareX, curl and the page's own scripts.

Callers authenticate with a personal token (``Authorization: Bearer pb_…``) or with
the browser session plus an ``X-CSRFToken`` header on state-changing requests.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar, cast

from flask import Blueprint, g, jsonify, request, url_for
from flask_login import current_user
from flask_wtf.csrf import validate_csrf
from werkzeug.wrappers import Response
from wtforms import ValidationError

from picbucket.domain import InvalidInput, PicbucketError
from picbucket.services import images as image_service
from picbucket.services import shares as share_service
from picbucket.services.direct_uploads import finish_direct_upload, start_direct_upload
from picbucket.services.uploads import store_image
from picbucket.web.bearer import bearer_token, has_bearer
from picbucket.web.context import backends, settings
from picbucket.web.errors import domain_error_response, error_response
from picbucket.web.logs import log_event
from picbucket.web.openapi import openapi_document
from picbucket.web.security import csrf, limiter
from picbucket.web.views import image_json, quota_json, share_json, share_urls

bp = Blueprint("api", __name__, url_prefix="/api/v1")
# Bearer tokens are not ambient credentials, so CSRF does not apply to them; session
# callers are checked in ``api_auth`` instead of by the form-oriented CSRFProtect.
csrf.exempt(bp)
limiter.limit(lambda: settings().rate_limit_api)(bp)

F = TypeVar("F", bound=Callable[..., Any])
MAX_PAGE = 200
_SAFE_METHODS = ("GET", "HEAD", "OPTIONS")


def api_auth(view: F) -> F:
    """Require a valid bearer token, or a session (+ CSRF header when changing state)."""

    @wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        if has_bearer():
            token = bearer_token()
            if token is None:
                return _unauthorized("The API token is missing, malformed or revoked.")
            g.api_owner = token.owner_id
        elif current_user.is_authenticated:
            if request.method not in _SAFE_METHODS:
                try:
                    validate_csrf(request.headers.get("X-CSRFToken", ""))
                except ValidationError:
                    return error_response(
                        403, "csrf_failed", "Missing or stale X-CSRFToken header; reload the page."
                    )
            g.api_owner = current_user.user.id
        else:
            return _unauthorized("Sign in, or send Authorization: Bearer <your API token>.")
        return view(*args, **kwargs)

    return cast(F, wrapper)


def _unauthorized(message: str) -> Response:
    response = error_response(401, "unauthorized", message)
    response.headers["WWW-Authenticate"] = 'Bearer realm="picbucket"'
    return response


def _owner() -> str:
    return str(g.api_owner)


def _json_body() -> dict[str, Any]:
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise InvalidInput("Send a JSON object with Content-Type: application/json.")
    return body


@bp.get("/openapi.json")
def openapi() -> Response:
    """Return the OpenAPI 3.1 description of this API."""
    return jsonify(openapi_document(url_for("api.openapi", _external=True).rsplit("/", 1)[0]))


@bp.get("/me")
@api_auth
def me() -> Response:
    """Return the caller's usage and limits."""
    return jsonify(quota=quota_json(backends().images.usage(_owner())))


@bp.post("/images")
@api_auth
@limiter.limit(lambda: settings().rate_limit_upload)
def upload() -> tuple[Response, int, dict[str, str]]:
    """Upload one image (multipart field ``file``); optionally share it at once."""
    file = request.files.get("file")
    if file is None or not file.filename:
        raise InvalidInput("Send the image as multipart/form-data in a field named “file”.")
    expiry = request.args.get("share")
    if expiry is not None:
        share_service.parse_expiry(expiry)  # refuse a bad choice before storing anything
    image = store_image(backends(), settings(), _owner(), file.stream, file.filename)  # type: ignore[arg-type]
    log_event("upload", user_id=_owner(), image_id=image.id, bytes=image.bytes)
    body = image_json(image)
    if expiry is not None:
        new = share_service.create_share(backends(), _owner(), image.id, expiry)
        log_event("share", user_id=_owner(), image_id=image.id, share_id=new.share.id)
        body["share"] = {**share_json(new.share), **share_urls(image, new.token)}
    body["quota"] = quota_json(backends().images.usage(_owner()))
    return jsonify(body), 201, {"Location": body["page_url"]}


@bp.post("/uploads")
@api_auth
@limiter.limit(lambda: settings().rate_limit_upload)
def start_upload() -> tuple[Response, int]:
    """Get a signed URL to send a large file straight to the bucket (Cloud Storage only)."""
    body = _json_body()
    size, content_type = body.get("size"), body.get("content_type")
    if not isinstance(size, int) or not isinstance(content_type, str):
        raise InvalidInput("Send the file's size (bytes) and content_type.")
    direct = start_direct_upload(backends(), settings(), _owner(), size, content_type)
    ticket = direct.ticket
    return jsonify(
        upload_id=direct.upload_id,
        url=ticket.url,
        method=ticket.method,
        headers=ticket.headers,
        expires=ticket.expires.isoformat(),
    ), 201


@bp.post("/uploads/<upload_id>/complete")
@api_auth
def finish_upload(upload_id: str) -> tuple[Response, int, dict[str, str]]:
    """Validate and store a file sent to the bucket with ``POST /uploads``."""
    body = request.get_json(silent=True) or {}
    filename = body.get("filename") if isinstance(body, dict) else None
    image = finish_direct_upload(
        backends(), settings(), _owner(), upload_id, filename if isinstance(filename, str) else None
    )
    log_event("upload", user_id=_owner(), image_id=image.id, bytes=image.bytes, direct=True)
    result = image_json(image)
    result["quota"] = quota_json(backends().images.usage(_owner()))
    return jsonify(result), 201, {"Location": result["page_url"]}


@bp.get("/images")
@api_auth
def list_images() -> Response:
    """List the caller's images, newest first, with cursor pagination."""
    try:
        limit = min(MAX_PAGE, max(1, int(request.args.get("limit", settings().page_size))))
    except ValueError:
        raise InvalidInput("limit must be a whole number.") from None
    page = image_service.list_images(backends(), _owner(), request.args.get("cursor"), limit)
    return jsonify(items=[image_json(i) for i in page.items], next_cursor=page.next_cursor)


@bp.get("/images/<image_id>")
@api_auth
def get_image(image_id: str) -> Response:
    """Return one of the caller's images."""
    return jsonify(image_json(image_service.get_image(backends(), _owner(), image_id)))


@bp.patch("/images/<image_id>")
@api_auth
def patch_image(image_id: str) -> Response:
    """Rename one of the caller's images (``{"title": "…"}``)."""
    title = _json_body().get("title")
    if not isinstance(title, str):
        raise InvalidInput("title must be a string.")
    return jsonify(image_json(image_service.rename_image(backends(), _owner(), image_id, title)))


@bp.delete("/images/<image_id>")
@api_auth
def delete_image(image_id: str) -> tuple[str, int]:
    """Delete one of the caller's images and its share links."""
    image_service.delete_image(backends(), _owner(), image_id)
    log_event("delete", user_id=_owner(), image_id=image_id)
    return "", 204


@bp.post("/images/<image_id>/shares")
@api_auth
def create_share(image_id: str) -> tuple[Response, int]:
    """Create a public link (``{"expires": "1h"|"1d"|"7d"|"30d"|"never"}``)."""
    body = request.get_json(silent=True) if request.data else {}
    if not isinstance(body, dict):
        raise InvalidInput("Send a JSON object, or no body for a link that never expires.")
    expires = body.get("expires")
    new = share_service.create_share(
        backends(), _owner(), image_id, "never" if expires is None else str(expires)
    )
    log_event("share", user_id=_owner(), image_id=image_id, share_id=new.share.id)
    return jsonify({**share_json(new.share), **share_urls(new.image, new.token)}), 201


@bp.get("/shares")
@api_auth
def list_shares() -> Response:
    """List the caller's share links (their tokens are not stored, so not shown)."""
    image_id = request.args.get("image_id")
    shares = share_service.list_shares(backends(), _owner(), image_id)
    return jsonify(items=[share_json(s) for s in shares])


@bp.delete("/shares/<share_id>")
@api_auth
def revoke_share(share_id: str) -> tuple[str, int]:
    """Revoke one of the caller's share links."""
    share_service.revoke_share(backends(), _owner(), share_id)
    log_event("share_revoked", user_id=_owner(), share_id=share_id)
    return "", 204


@bp.errorhandler(PicbucketError)
def _api_error(exc: PicbucketError) -> Response:
    return domain_error_response(exc)
