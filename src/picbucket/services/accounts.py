"""Sign-in and sign-out: who may use this Picbucket, and session invalidation."""

from __future__ import annotations

from collections.abc import Mapping

from picbucket.domain import PicbucketError, User, new_id, user_id_for
from picbucket.ports import Backends
from picbucket.settings import Settings


class SignInRefused(PicbucketError):
    """The identity provider vouched for someone this Picbucket does not admit."""


def sign_in(
    backends: Backends, settings: Settings, issuer: str, claims: Mapping[str, object]
) -> User:
    """Admit the person the ID token describes, creating their account on first sign-in."""
    subject = str(claims.get("sub") or "")
    email = str(claims.get("email") or "").strip().lower()
    verified = claims.get("email_verified")
    if not subject or not email:
        raise SignInRefused("Your identity provider did not share an email address.")
    if verified not in (True, "true"):
        raise SignInRefused(
            f"The email address {email} is not verified with your identity provider."
        )
    if not is_allowed(settings, email):
        raise SignInRefused(f"{email} is not allowed to use this Picbucket. Ask its owner.")
    name = str(claims.get("name") or claims.get("given_name") or email.split("@")[0])
    return backends.users.upsert(
        User(
            id=user_id_for(issuer, subject),
            issuer=issuer,
            subject=subject,
            email=email,
            name=name[:100],
            created=backends.clock(),
        )
    )


def is_allowed(settings: Settings, email: str) -> bool:
    """Apply the allow-lists; with neither set, every verified email may sign in."""
    if not settings.allowed_emails and not settings.allowed_domains:
        return True
    domain = email.rsplit("@", 1)[-1]
    return email in settings.allowed_emails or domain in settings.allowed_domains


def sign_out_everywhere(backends: Backends, user_id: str) -> None:
    """End every session of the user by rotating their session epoch."""
    backends.users.set_session_epoch(user_id, new_id())
