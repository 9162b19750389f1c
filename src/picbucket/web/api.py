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
from pydantic import BaseModel
from pydantic import ValidationError as ModelError
from werkzeug.wrappers import Response
from wtforms import ValidationError

from picbucket.domain import Image, InvalidInput, PicbucketError
from picbucket.services import images as image_service
from picbucket.services import shares as share_service
from picbucket.services.direct_uploads import finish_direct_upload, start_direct_upload
from picbucket.services.links import LinkOptions, create_link
from picbucket.services.uploads import store_image, store_image_once
from picbucket.web import schemas
from picbucket.web.bearer import bearer_token, has_bearer
from picbucket.web.context import backends, settings
from picbucket.web.errors import domain_error_response, error_response
from picbucket.web.link_forms import body_link_options
from picbucket.web.logs import log_event
from picbucket.web.openapi import Operation, openapi_document
from picbucket.web.security import csrf, limiter
from picbucket.web.shared_links import new_link_json
from picbucket.web.views import image_json, owner_quota_json, share_json

bp = Blueprint("api", __name__, url_prefix="/api/v1")
# Bearer tokens are not ambient credentials, so CSRF does not apply to them; session
# callers are checked in ``api_auth`` instead of by the form-oriented CSRFProtect.
csrf.exempt(bp)
limiter.limit(lambda: settings().rate_limit_api)(bp)

F = TypeVar("F", bound=Callable[..., Any])
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


# Every route of this blueprint, declared once: registered with Flask, validated and
# published in the OpenAPI document from the same Operation.
OPERATIONS: list[Operation] = []


def route(method: str, path: str, summary: str, **declared: Any) -> Callable[[F], F]:
    """Register a view for ``method path`` and declare it (see ``openapi.Operation``).

    The view gets the validated ``query``, ``body`` and ``form`` models as keyword
    arguments when the operation declares them.
    """

    def register(view: F) -> F:
        op = Operation(method, path, view.__name__, summary, **declared)
        OPERATIONS.append(op)

        @wraps(view)
        def validated(*args: Any, **kwargs: Any) -> Any:
            if op.query is not None:
                kwargs["query"] = _parse(op.query, request.args.to_dict())
            if op.body is not None:
                kwargs["body"] = _parse(op.body, _json_body(op.body_required))
            if op.headers is not None:
                kwargs["headers"] = _parse(op.headers, dict(request.headers))
            if op.form is not None:
                files = {name: f for name, f in request.files.items() if f.filename}
                kwargs["form"] = _parse(
                    op.form, files, "Send the image as multipart/form-data in a field named “file”."
                )
            return view(*args, **kwargs)

        flask_path = path.replace("{", "<").replace("}", ">")
        wrapped = api_auth(validated) if op.auth else validated
        bp.add_url_rule(flask_path, op.endpoint, wrapped, methods=[method])
        return view

    return register


M = TypeVar("M", bound=BaseModel)


def _parse(model: type[M], data: object, hint: str = "") -> M:
    try:
        return model.model_validate(data)
    except ModelError as exc:
        raise InvalidInput(f"{schemas.error_message(exc)} {hint}".strip()) from None


def _json_body(required: bool) -> object:
    if not required and not request.get_data(cache=True):
        return {}
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise InvalidInput("Send a JSON object with Content-Type: application/json.")
    return body


def _owner() -> str:
    return str(g.api_owner)


def _with_quota(result: dict[str, Any]) -> dict[str, Any]:
    result["quota"] = owner_quota_json(_owner())
    return result


@route("GET", "/openapi.json", "This document", response=schemas.Document, auth=False)
def openapi() -> Response:
    """Return the OpenAPI 3.1 description of this API."""
    base = url_for("api.openapi", _external=True).rsplit("/", 1)[0]
    return jsonify(openapi_document(base, OPERATIONS))


@route("GET", "/me", "Your usage and limits", response=schemas.Me)
def me() -> Response:
    """Return the caller's usage and limits."""
    return jsonify(quota=owner_quota_json(_owner()))


@route(
    "POST",
    "/images",
    "Upload an image",
    status=201,
    response=schemas.StoredImage,
    query=schemas.UploadQuery,
    form=schemas.UploadForm,
    headers=schemas.UploadHeaders,
    errors=(409, 413, 415),
    response_headers={
        "Location": "The image's page.",
        "Idempotent-Replayed": "true when an earlier request with this Idempotency-Key "
        "stored the image.",
    },
)
@limiter.limit(lambda: settings().rate_limit_upload)
def upload(
    query: schemas.UploadQuery, form: schemas.UploadForm, headers: schemas.UploadHeaders
) -> tuple[Response, int, dict[str, str]]:
    """Upload one image (multipart field ``file``); optionally share it at once."""
    file = form.file
    key = headers.idempotency_key
    replayed = False
    duplicates: list[Image] = []
    if key is None:
        image = store_image(
            backends(),
            settings(),
            _owner(),
            file.stream,
            file.filename,
            on_duplicate=duplicates.append,
        )
    else:
        image, replayed = store_image_once(
            backends(), settings(), _owner(), file.stream, file.filename, key, duplicates.append
        )
    log_event("upload", user_id=_owner(), image_id=image.id, bytes=image.bytes, replayed=replayed)
    body = image_json(image)
    # Already in the gallery: the existing photo comes back, charged once.
    body["duplicate"] = bool(duplicates)
    if query.share is not None:
        new = create_link(
            backends(),
            _owner(),
            LinkOptions(expiry=query.share),
            image_id=image.id,
            token_key=settings().secret_key,
        )
        log_event("share", user_id=_owner(), image_id=image.id, share_id=new.share.id)
        body["share"] = new_link_json(new)
    answer = {"Location": body["page_url"]}
    if replayed:
        answer["Idempotent-Replayed"] = "true"
    return jsonify(_with_quota(body)), 201, answer


@route(
    "POST",
    "/uploads",
    "Start a direct upload of a large file to the bucket",
    status=201,
    response=schemas.UploadTicket,
    body=schemas.StartUploadBody,
    errors=(413,),
    description="Only with Cloud Storage and URL signing; elsewhere the answer is 400. "
    "Send the file with the returned method, URL and headers, then call "
    "POST /uploads/{upload_id}/complete.",
)
@limiter.limit(lambda: settings().rate_limit_upload)
def start_upload(body: schemas.StartUploadBody) -> tuple[Response, int]:
    """Get a signed URL to send a large file straight to the bucket (Cloud Storage only)."""
    direct = start_direct_upload(backends(), settings(), _owner(), body.size, body.content_type)
    ticket = direct.ticket
    return jsonify(
        upload_id=direct.upload_id,
        url=ticket.url,
        method=ticket.method,
        headers=ticket.headers,
        expires=ticket.expires.isoformat(),
    ), 201


@route(
    "POST",
    "/uploads/{upload_id}/complete",
    "Store a file sent with a direct upload",
    status=201,
    response=schemas.StoredImage,
    body=schemas.FinishUploadBody,
    body_required=False,
    errors=(409, 413, 415),
    response_headers={"Location": "The image's page."},
)
def finish_upload(
    upload_id: str, body: schemas.FinishUploadBody
) -> tuple[Response, int, dict[str, str]]:
    """Validate and store a file sent to the bucket with ``POST /uploads``."""
    image = finish_direct_upload(backends(), settings(), _owner(), upload_id, body.filename)
    log_event("upload", user_id=_owner(), image_id=image.id, bytes=image.bytes, direct=True)
    result = _with_quota({**image_json(image), "duplicate": False})
    return jsonify(result), 201, {"Location": result["page_url"]}


@route(
    "GET",
    "/images",
    "List your images, newest first",
    response=schemas.ImagePage,
    query=schemas.ListImagesQuery,
)
def list_images(query: schemas.ListImagesQuery) -> Response:
    """List the caller's images, newest first, with cursor pagination."""
    limit = query.limit or min(schemas.MAX_PAGE, settings().page_size)
    page = image_service.list_images(backends(), _owner(), query.cursor, limit, query.sort, query.q)
    return jsonify(items=[image_json(i) for i in page.items], next_cursor=page.next_cursor)


@route("GET", "/images/{image_id}", "Get one image", response=schemas.Image)
def get_image(image_id: str) -> Response:
    """Return one of the caller's images."""
    return jsonify(image_json(image_service.get_image(backends(), _owner(), image_id)))


@route(
    "PATCH",
    "/images/{image_id}",
    "Rename an image",
    response=schemas.Image,
    body=schemas.RenameBody,
)
def patch_image(image_id: str, body: schemas.RenameBody) -> Response:
    """Rename one of the caller's images (``{"title": "…"}``)."""
    image = image_service.rename_image(backends(), _owner(), image_id, body.title)
    return jsonify(image_json(image))


@route(
    "DELETE",
    "/images/{image_id}",
    "Move an image to the trash",
    status=204,
    description="Its share links stop until it is restored (POST /images/bulk, restore).",
)
def delete_image(image_id: str) -> tuple[str, int]:
    """Move one of the caller's images to the trash; its links return on restore."""
    image_service.delete_image(backends(), _owner(), image_id)
    log_event("delete", user_id=_owner(), image_id=image_id)
    return "", 204


@route(
    "POST",
    "/images/{image_id}/shares",
    "Create a public share link",
    status=201,
    response=schemas.NewShare,
    body=schemas.ShareBody,
    body_required=False,
)
def create_share(image_id: str, body: schemas.ShareBody) -> tuple[Response, int]:
    """Create a public link; no body (or ``"expires": null``) means 7 days, not never."""
    new = create_link(
        backends(),
        _owner(),
        body_link_options(body),
        image_id=image_id,
        token_key=settings().secret_key,
    )
    log_event("share", user_id=_owner(), image_id=image_id, share_id=new.share.id)
    return jsonify(new_link_json(new)), 201


@route(
    "GET",
    "/shares",
    "List your share links",
    response=schemas.ShareList,
    query=schemas.SharesQuery,
)
def list_shares(query: schemas.SharesQuery) -> Response:
    """List the caller's share links (their tokens are not stored, so not shown)."""
    shares = share_service.list_shares(backends(), _owner(), query.image_id)
    return jsonify(items=[share_json(s) for s in shares])


@route("DELETE", "/shares/{share_id}", "Revoke a share link", status=204)
def revoke_share(share_id: str) -> tuple[str, int]:
    """Revoke one of the caller's share links."""
    share_service.revoke_share(backends(), _owner(), share_id)
    log_event("share_revoked", user_id=_owner(), share_id=share_id)
    return "", 204


@bp.errorhandler(PicbucketError)
def _api_error(exc: PicbucketError) -> Response:
    return domain_error_response(exc)


# Albums, trash and bulk routes live in their own module; importing it here puts them
# on this blueprint (and in OPERATIONS) before any app registers it.
from picbucket.web import api_albums  # noqa: E402,F401
