"""Error pages that look like the app, and JSON errors under /api."""

from __future__ import annotations

import logging

from flask import Flask, jsonify, make_response, render_template, request
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException
from werkzeug.wrappers import Response

from picbucket.domain import (
    BackendUnavailable,
    Busy,
    Conflict,
    InvalidCursor,
    InvalidImage,
    InvalidInput,
    NotFound,
    PicbucketError,
    QuotaExceeded,
    StorageFull,
    TooLarge,
)
from picbucket.services.accounts import SignInRefused
from picbucket.web.logs import loggable_path

log = logging.getLogger(__name__)

# What a person sees for each status when there is no more specific message.
MESSAGES = {
    400: "That request did not make sense to us.",
    401: "Please sign in first.",
    403: "You are not allowed to do that.",
    404: "There is nothing here. The link may be wrong, expired or revoked.",
    405: "That action is not possible here.",
    413: "That is too big to upload.",
    415: "That file type is not supported.",
    416: "That part of the file does not exist.",
    429: "You are going too fast. Wait a minute and try again.",
    500: "Something went wrong on our side. Please try again.",
    503: "Storage is not available right now. Please try again shortly.",
    507: "The server is out of disk space, so nothing was stored. Deleting images still works.",
}
TITLES = {
    400: "Bad request",
    401: "Sign in needed",
    403: "Forbidden",
    404: "Not found",
    405: "Not allowed",
    413: "Too large",
    415: "Unsupported file",
    416: "Range not satisfiable",
    429: "Slow down",
    500: "Server error",
    503: "Unavailable",
    507: "Out of space",
}
CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    413: "too_large",
    415: "unsupported",
    416: "range_not_satisfiable",
    429: "rate_limited",
    500: "internal",
    503: "unavailable",
    507: "storage_full",
}


# How each domain error is answered: HTTP status and the API's stable error code.
# Most specific first (InvalidCursor is an InvalidInput).
DOMAIN_ERRORS: tuple[tuple[type[PicbucketError], int, str], ...] = (
    (NotFound, 404, "not_found"),
    (InvalidImage, 415, "invalid_image"),
    (TooLarge, 413, "too_large"),
    (QuotaExceeded, 413, "quota_exceeded"),
    (InvalidCursor, 400, "invalid_cursor"),
    (InvalidInput, 400, "invalid_input"),
    (Conflict, 409, "conflict"),
    (BackendUnavailable, 503, "backend_unavailable"),
    # 507 Insufficient Storage: the server's disk, not the user's quota (that is 413).
    (StorageFull, 507, "storage_full"),
    (Busy, 503, "busy"),
    (SignInRefused, 403, "sign_in_refused"),
)


def status_of(exc: PicbucketError) -> tuple[int, str]:
    """Return the HTTP status and API code that answer a domain error."""
    for kind, status, code in DOMAIN_ERRORS:
        if isinstance(exc, kind):
            return status, code
    return 400, "bad_request"


def domain_error_response(exc: PicbucketError) -> Response:
    """Answer a domain error with its status, code and message for a person."""
    status, code = status_of(exc)
    response = error_response(status, code, exc.message)
    if isinstance(exc, (Busy, BackendUnavailable)):
        response.headers["Retry-After"] = str(exc.retry_after)
    return response


def error_response(status: int, code: str, message: str) -> Response:
    """Render an error as JSON under /api, as a page elsewhere."""
    if request.path.startswith("/api/"):
        response = jsonify(error={"code": code, "message": message})
    else:
        html = render_template(
            "error.html", status=status, title=TITLES.get(status, "Error"), message=message
        )
        response = make_response(html)
    response.status_code = status
    return response


def init_errors(app: Flask) -> None:
    """Install the error handlers."""

    @app.errorhandler(PicbucketError)
    def _domain(exc: PicbucketError) -> Response:
        return domain_error_response(exc)

    @app.errorhandler(CSRFError)
    def _csrf(exc: CSRFError) -> Response:
        return error_response(
            400,
            "csrf_failed",
            "Your form expired or came from another site. Reload the page and try again.",
        )

    @app.errorhandler(HTTPException)
    def _http(exc: HTTPException) -> Response:
        status = exc.code or 500
        message = MESSAGES.get(status, exc.description or "Error")
        # Our own abort(400, "…") messages are written for people; keep them.
        if status == 400 and exc.description and exc.description != type(exc).description:
            message = exc.description
        response = error_response(status, CODES.get(status, "error"), message)
        if status == 405 and exc.get_response().headers.get("Allow"):
            response.headers["Allow"] = exc.get_response().headers["Allow"]
        if status == 429:
            response.headers["Retry-After"] = "60"
        return response

    @app.errorhandler(Exception)
    def _unexpected(exc: Exception) -> Response:
        log.exception("unhandled error on %s %s", request.method, loggable_path())
        return error_response(500, "internal", MESSAGES[500])

    del _domain, _csrf, _http, _unexpected
