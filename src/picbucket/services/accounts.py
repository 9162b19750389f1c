"""Sign-in and sign-out: who may use this Picbucket, and session invalidation.

Who may use it is decided again on every request (``refusal``), from the user record
the request loads anyway, so narrowing the allow-list, disabling or deleting an
account takes effect at once: no session or token outlives it.
"""

from __future__ import annotations

from collections.abc import Mapping

from picbucket.domain import PicbucketError, User, new_id, user_id_for
from picbucket.ports import Backends
from picbucket.settings import GOOGLE_ISSUER, Settings

ADMIN = "admin"
USER = "user"
DISABLED_MESSAGE = "Your account has been disabled by an administrator."
DELETING_MESSAGE = (
    "This account is being deleted. Once that has finished (usually within a minute), "
    "you can sign up again with the same email."
)


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
    hosted_domain = str(claims.get("hd") or "").strip().lower()
    if not is_allowed(settings, email, hosted_domain if is_google(issuer) else None):
        raise SignInRefused(f"{email} is not allowed to use this Picbucket. Ask its owner.")
    user_id = user_id_for(issuer, subject)
    existing = backends.users.get(user_id)
    if existing is not None and (existing.disabled or existing.deleting):
        raise SignInRefused(DELETING_MESSAGE if existing.deleting else DISABLED_MESSAGE)
    name = str(claims.get("name") or claims.get("given_name") or email.split("@")[0])
    now = backends.clock()
    user = backends.users.upsert(
        User(
            id=user_id,
            issuer=issuer,
            subject=subject,
            email=email,
            name=name[:100],
            created=now,
            role=ADMIN if email in settings.admin_emails else USER,
            last_sign_in=now,
            hosted_domain=hosted_domain,
        )
    )
    if user.deleting:  # marked between the read above and the write
        raise SignInRefused(DELETING_MESSAGE)
    return user


def is_google(issuer: str) -> bool:
    """Tell whether ``issuer`` is Google (either spelling of its issuer)."""
    return issuer.rstrip("/") in (GOOGLE_ISSUER, "accounts.google.com")


def is_allowed(settings: Settings, email: str, hosted_domain: str | None = None) -> bool:
    """Apply the allow-lists; with neither set, every verified email may sign in.

    ``hosted_domain`` is Google's ``hd`` claim ("" for a personal Google account):
    with Google, PICBUCKET_ALLOWED_DOMAINS admits the Workspace that vouches for the
    account, not whatever domain its email is at (a personal Google account can carry
    a work address). None: another issuer, where the email's domain is what counts.
    """
    if not settings.allowed_emails and not settings.allowed_domains:
        return True
    domain = email.rsplit("@", 1)[-1] if hosted_domain is None else hosted_domain
    return email in settings.allowed_emails or domain in settings.allowed_domains


def refusal(settings: Settings, user: User) -> str | None:
    """Return why ``user`` may not use this Picbucket now, or None if they may."""
    if user.deleting:
        return DELETING_MESSAGE
    if user.disabled:
        return DISABLED_MESSAGE
    hosted_domain = user.hosted_domain if is_google(user.issuer) else None
    if not is_allowed(settings, user.email, hosted_domain):
        return f"{user.email} is no longer allowed to use this Picbucket. Ask its owner."
    return None


def is_admin(settings: Settings, user: User) -> bool:
    """Tell whether ``user`` is an administrator under the current settings."""
    return user.email in settings.admin_emails and refusal(settings, user) is None


def sign_out_everywhere(backends: Backends, user_id: str) -> None:
    """End every session of the user by rotating their session epoch."""
    backends.users.set_session_epoch(user_id, new_id())
