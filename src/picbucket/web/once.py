"""Show-once values across a POST/redirect/GET: stashed in the session, read one time.

A secret made by a POST (a new API token) must reach the page the redirect lands
on, and a reload of that page must not show it again. The session cookie is
signed, not encrypted, so the secret is encrypted (Fernet, key derived from the
app's secret key) and dropped from the session on the first read.
"""

from __future__ import annotations

import base64
import hashlib

from cryptography.fernet import Fernet, InvalidToken
from flask import current_app, session

_PREFIX = "once:"
# A stash older than this (an abandoned redirect) is not shown.
_MAX_AGE_SECONDS = 600


def _fernet() -> Fernet:
    material = b"picbucket-once:" + str(current_app.config["SECRET_KEY"]).encode()
    return Fernet(base64.urlsafe_b64encode(hashlib.sha256(material).digest()))


def stash(name: str, value: str) -> None:
    """Keep ``value`` for the next read of ``name`` in this browser's session."""
    session[_PREFIX + name] = _fernet().encrypt(value.encode()).decode()


def take(name: str) -> str | None:
    """Return the stashed value once (then forget it), or None."""
    sealed = session.pop(_PREFIX + name, None)
    if not isinstance(sealed, str):
        return None
    try:
        return _fernet().decrypt(sealed.encode(), ttl=_MAX_AGE_SECONDS).decode()
    except InvalidToken:
        return None
