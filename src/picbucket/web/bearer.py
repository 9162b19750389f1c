"""The request's personal API token, authenticated once per request."""

from __future__ import annotations

from flask import g, request

from picbucket.domain import ApiToken
from picbucket.services.tokens import authenticate
from picbucket.web.context import backends


def has_bearer() -> bool:
    """Tell whether the request carries an Authorization header at all."""
    return bool(request.headers.get("Authorization"))


def bearer_token() -> ApiToken | None:
    """Return the valid token the request presents, or None (absent, malformed, revoked).

    Cached on ``g``: the rate limiter and the API both ask, the store is read once.
    """
    if "bearer_token" in g:
        cached: ApiToken | None = g.bearer_token
        return cached
    scheme, _, secret = request.headers.get("Authorization", "").partition(" ")
    token = authenticate(backends(), secret.strip()) if scheme.lower() == "bearer" else None
    g.bearer_token = token
    return token
