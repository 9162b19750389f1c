"""What administrators do: list people with their usage, set quotas, disable, delete.

Every action writes an audit record (who, what, whom, when) in the record store,
in the same transaction as the change it describes, and a structured log line. No
function here returns a person's photos or titles: only counts and sizes.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from picbucket.domain import (
    AccountChange,
    AuditEntry,
    InvalidInput,
    NotFound,
    Page,
    Quota,
    User,
    is_id,
    new_id,
)
from picbucket.ports import Backends
from picbucket.services.account_deletion import start_account_deletion
from picbucket.services.accounts import is_admin
from picbucket.services.uploads import quota_for
from picbucket.settings import MIB, Settings

event_log = logging.getLogger("picbucket.events")

PEOPLE_PAGE = 50
AUDIT_PAGE = 50
MAX_PREFIX = 100
# Generous ceilings: an override is a deliberate exception, not a way to overflow ints.
MAX_QUOTA_MB = 10_000_000
MAX_QUOTA_IMAGES = 100_000_000


@dataclass(frozen=True)
class Person:
    """One row of the admin page: the account and what it uses (never its photos)."""

    user: User
    quota: Quota
    live_links: int
    admin: bool


def list_people(
    backends: Backends, settings: Settings, prefix: str, cursor: str | None
) -> Page[Person]:
    """Return one page of people whose email starts with ``prefix``, by email."""
    prefix = prefix.strip().lower()[:MAX_PREFIX]
    page = backends.users.search(prefix, cursor or None, PEOPLE_PAGE)
    now = backends.clock()
    rows = [
        Person(
            user=user,
            quota=quota_for(settings, user),
            live_links=sum(share.is_live(now) for share in backends.shares.for_owner(user.id)),
            admin=user.email in settings.admin_emails,
        )
        for user in page.items
    ]
    return Page(rows, page.next_cursor)


def get_person(backends: Backends, settings: Settings, user_id: str) -> Person:
    """Return one person's row, or ``NotFound``."""
    user = backends.users.get(user_id) if is_id(user_id) else None
    if user is None:
        raise NotFound("No such person.")
    now = backends.clock()
    return Person(
        user=user,
        quota=quota_for(settings, user),
        live_links=sum(share.is_live(now) for share in backends.shares.for_owner(user.id)),
        admin=user.email in settings.admin_emails,
    )


def set_disabled(
    backends: Backends, settings: Settings, actor: User, target_id: str, disabled: bool
) -> User:
    """Disable (or enable) an account: its sessions, tokens and links stop (or work) at once."""
    target = _target(backends, settings, actor, target_id)
    action = "disable" if disabled else "enable"
    return _change(backends, actor, target, AccountChange(disabled=disabled), action, "")


def set_quota(
    backends: Backends,
    settings: Settings,
    actor: User,
    target_id: str,
    megabytes: str,
    images: str,
) -> User:
    """Give a person their own quota; both fields blank returns them to the default."""
    target = _target(backends, settings, actor, target_id, allow_self=True)
    if not megabytes.strip() and not images.strip():
        change = AccountChange(default_quota=True)
        detail = "default quota"
    else:
        default = quota_for(settings)
        max_bytes = _number(megabytes, "Storage", MAX_QUOTA_MB, default.max_bytes // MIB) * MIB
        max_images = _number(images, "Photos", MAX_QUOTA_IMAGES, default.max_images)
        change = AccountChange(quota=Quota(max_bytes=max_bytes, max_images=max_images))
        detail = f"{max_bytes // MIB} MB, {max_images} photos"
    return _change(backends, actor, target, change, "set_quota", detail)


def delete_account(backends: Backends, settings: Settings, actor: User, target_id: str) -> User:
    """Delete a person's account and everything in it (finishes in the background)."""
    target = _target(backends, settings, actor, target_id)
    entry = _entry(backends, actor, target, "delete_account", "")
    marked = start_account_deletion(backends, target, entry)
    _log(entry)
    return marked


def audit_log(backends: Backends, cursor: str | None) -> Page[AuditEntry]:
    """Return one page of the audit log, newest first."""
    return backends.users.audit_page(cursor or None, AUDIT_PAGE)


def _target(
    backends: Backends, settings: Settings, actor: User, target_id: str, *, allow_self: bool = False
) -> User:
    if not is_admin(settings, actor):
        # The web layer checks first; this keeps the rule true for any other caller.
        raise NotFound("No such person.")
    target = backends.users.get(target_id) if is_id(target_id) else None
    if target is None or target.deleting:
        raise NotFound("No such person.")
    if target.id == actor.id and not allow_self:
        raise InvalidInput(
            "You cannot disable or delete your own account here; use your Settings page."
        )
    return target


def _change(
    backends: Backends, actor: User, target: User, change: AccountChange, action: str, detail: str
) -> User:
    entry = _entry(backends, actor, target, action, detail)
    changed = backends.users.change_account(target.id, change, entry)
    if changed is None:
        raise NotFound("No such person.")
    _log(entry)
    return changed


def _entry(backends: Backends, actor: User, target: User, action: str, detail: str) -> AuditEntry:
    return AuditEntry(
        id=new_id(),
        when=backends.clock(),
        actor_id=actor.id,
        actor_email=actor.email,
        action=action,
        target_id=target.id,
        target_email=target.email,
        detail=detail,
    )


def _log(entry: AuditEntry) -> None:
    event_log.info(
        "admin_action",
        extra={
            "event": "admin_action",
            "action": entry.action,
            "actor_id": entry.actor_id,
            "actor_email": entry.actor_email,
            "target_id": entry.target_id,
            "target_email": entry.target_email,
            "detail": entry.detail,
            "audit_id": entry.id,
        },
    )


def _number(raw: str, label: str, ceiling: int, default: int) -> int:
    text = raw.strip()
    if not text:
        return default
    if not text.isdigit() or not 0 < int(text) <= ceiling:
        raise InvalidInput(f"{label} must be a whole number from 1 to {ceiling:,}.")
    return int(text)
