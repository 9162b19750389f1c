"""Share-link passwords: hashed with scrypt, a slow, memory-hard KDF from the stdlib.

Why scrypt (hashlib) and not argon2-cffi: both resist GPU guessing; scrypt needs no
new compiled dependency in the image, and its cost is set here in one place. A link
password is also rate-limited per link (web/unlock.py), so the KDF is the second line.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

from picbucket.domain import InvalidInput

# n=2**14, r=8: 16 MiB and ~40 ms per guess on one core (OWASP's scrypt minimum tier).
_N, _R, _P = 2**14, 8, 1
_MAXMEM = 64 * 1024 * 1024
MIN_LENGTH = 4
MAX_LENGTH = 200


def hash_password(password: str) -> str:
    """Return ``scrypt$n$r$p$salt$hash`` for ``password``; ``InvalidInput`` if unusable."""
    if not MIN_LENGTH <= len(password) <= MAX_LENGTH:
        raise InvalidInput(f"A link password needs {MIN_LENGTH} to {MAX_LENGTH} characters.")
    salt = secrets.token_bytes(16)
    digest = _derive(password, salt, _N, _R, _P)
    return f"scrypt${_N}${_R}${_P}${_b64(salt)}${_b64(digest)}"


def verify_password(password: str, stored: str) -> bool:
    """Tell whether ``password`` matches a hash from ``hash_password`` (constant time)."""
    try:
        scheme, n, r, p, salt, digest = stored.split("$")
        if scheme != "scrypt" or len(password) > MAX_LENGTH:
            return False
        expected = base64.urlsafe_b64decode(digest + "==")
        actual = _derive(password, base64.urlsafe_b64decode(salt + "=="), int(n), int(r), int(p))
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(actual, expected)


def _derive(password: str, salt: bytes, n: int, r: int, p: int) -> bytes:
    return hashlib.scrypt(password.encode(), salt=salt, n=n, r=r, p=p, maxmem=_MAXMEM, dklen=32)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")
