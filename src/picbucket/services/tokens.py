"""Personal API tokens for ShareX, curl and scripts."""

from __future__ import annotations

from datetime import timedelta

from picbucket.domain import (
    ApiToken,
    InvalidInput,
    NotFound,
    hash_secret,
    is_id,
    new_id,
    new_secret,
)
from picbucket.ports import Backends
from picbucket.services.uploads import clean_title

TOKEN_PREFIX = "pb_"  # noqa: S105 - a public prefix, not a secret
MAX_TOKENS = 50
# Writing last-used on every request would double API write traffic; minute precision will do.
_TOUCH_INTERVAL = timedelta(minutes=1)


def create_token(backends: Backends, owner_id: str, name: str) -> tuple[ApiToken, str]:
    """Create a named token; return it and the secret (shown once, stored hashed)."""
    cleaned = clean_title(name)[:60]
    if not cleaned:
        raise InvalidInput("Give the token a name, such as “ShareX on my laptop”.")
    if len(backends.tokens.for_owner(owner_id)) >= MAX_TOKENS:
        raise InvalidInput(f"You have {MAX_TOKENS} tokens already; revoke one first.")
    secret = new_secret(TOKEN_PREFIX)
    token = ApiToken(
        id=new_id(),
        owner_id=owner_id,
        name=cleaned,
        token_hash=hash_secret(secret),
        created=backends.clock(),
    )
    backends.tokens.add(token)
    return token, secret


def authenticate(backends: Backends, secret: str) -> ApiToken | None:
    """Return the token a bearer secret belongs to, or None."""
    if not secret.startswith(TOKEN_PREFIX) or len(secret) > 100:
        return None
    token = backends.tokens.by_hash(hash_secret(secret))
    if token is None:
        return None
    now = backends.clock()
    if token.last_used is None or now - token.last_used > _TOUCH_INTERVAL:
        backends.tokens.touch(token.id, now)
    return token


def list_tokens(backends: Backends, owner_id: str) -> list[ApiToken]:
    """Return the owner's tokens, newest first."""
    return backends.tokens.for_owner(owner_id)


def revoke_token(backends: Backends, owner_id: str, token_id: str) -> None:
    """Revoke one of the owner's tokens; ``NotFound`` for anyone else's."""
    if not is_id(token_id) or not backends.tokens.revoke(owner_id, token_id):
        raise NotFound("No such token.")
