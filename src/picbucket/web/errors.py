"""Error pages that look like the app, and JSON errors under /api."""

from __future__ import annotations

import logging

from flask import Flask, jsonify, make_response, render_template, request
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException
from werkzeug.wrappers import Response

from picbucket.domain import PicbucketError
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
}


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
        return error_response(exc.status, exc.code, exc.message)

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
