"""The request's personal API token, authenticated once per request."""

from __future__ import annotations

from flask import g, request

from picbucket.domain import ApiToken
from picbucket.services.accounts import refusal
from picbucket.services.tokens import authenticate
from picbucket.web.context import backends, settings
from picbucket.web.logs import log_event


def has_bearer() -> bool:
    """Tell whether the request carries an Authorization header at all."""
    return bool(request.headers.get("Authorization"))


def bearer_token() -> ApiToken | None:
    """Return the valid token the request presents, or None (absent, malformed, revoked).

    A token is only as good as its owner's account: one of a person no longer on the
    allow-list, disabled or being deleted is refused like a revoked one. Cached on
    ``g``: the rate limiter and the API both ask, the store is read once.
    """
    if "bearer_token" in g:
        cached: ApiToken | None = g.bearer_token
        return cached
    scheme, _, secret = request.headers.get("Authorization", "").partition(" ")
    token = authenticate(backends(), secret.strip()) if scheme.lower() == "bearer" else None
    if token is not None:
        owner = backends().users.get(token.owner_id)
        if owner is None or refusal(settings(), owner) is not None:
            log_event("token_refused", user_id=token.owner_id, token_id=token.id)
            token = None
    g.bearer_token = token
    return token
