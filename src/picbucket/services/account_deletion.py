"""Delete a person's account and everything in it, safely across crashes.

Order (DESIGN.md: mark first, then remove, record last):

1. the user record is marked ``deleting``: from that moment every session, token and
   share link of the account is refused (``accounts.refusal``) and sign-in says so,
   and no upload can charge the account any more (the records' ``add`` refuses it);
2. API tokens, deleted; 3. exports built by a job (their zips, then their records);
4. albums and their links; 5. every share link;
6. every image (any status: ready, trashed, pending, deleting), each marked
   ``deleting`` then finished like a single delete (shares → blobs → record, refunding
   the quota); 7. any blob left under ``users/<id>/`` (an upload cut short);
8. the images once more: an upload charged just before the mark may have made its
   record ready meanwhile; steps 6-7 repeat until none is left;
9. the user record, last.

Idempotency-Keys of the account are not removed here: they hold no photo, only an
image id, and expire after 24 hours (``uploads.IDEMPOTENCY_TTL``; reconcile and
Firestore's TTL policy delete them).

Each step only removes, and is safe to repeat, so a crash at any point is finished
by running ``finish_account_deletion`` again: in the background thread that started
it, or on the next ``picbucket reconcile`` (which finishes every account still
marked). The user id is derived from issuer + subject, so the same person can sign up
afresh once the record is gone: a new, empty account.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field

from picbucket.domain import AccountChange, AuditEntry, Image, ImageStatus, NotFound, User
from picbucket.ports import Backends
from picbucket.services.exports import remove_exports_of
from picbucket.services.images import finish_delete
from picbucket.services.uploads import USERS_PREFIX

log = logging.getLogger(__name__)

# Images are walked a page at a time: a 100,000-photo account never sits in memory.
IMAGE_BATCH = 200
# Rounds of "remove images, then blobs" before giving up on an account that keeps
# gaining records (reconcile retries it later).
MAX_ROUNDS = 5


@dataclass
class DeletionReport:
    """What one run removed."""

    user_id: str
    tokens: int = 0
    exports: int = 0
    albums: int = 0
    shares: int = 0
    images: int = 0
    blobs: int = 0
    finished: bool = False
    steps: list[str] = field(default_factory=list)


def start_account_deletion(
    backends: Backends, user: User, audit: AuditEntry | None = None, *, background: bool = True
) -> User:
    """Mark ``user`` for deletion (effective at once), then remove the rest.

    With ``background`` the removal runs in a thread and this returns at once; a
    crash or a stopped process leaves the mark, and reconcile finishes the job.
    """
    marked = backends.users.change_account(user.id, AccountChange(deleting=True), audit)
    if marked is None:
        raise NotFound("No such account.")
    if background:
        thread = threading.Thread(
            target=_finish_quietly, args=(backends, user.id), name=f"delete-{user.id}"
        )
        thread.daemon = True  # a stop mid-way is fine: reconcile finishes it
        thread.start()
    else:
        finish_account_deletion(backends, user.id)
    return marked


def _finish_quietly(backends: Backends, user_id: str) -> None:
    try:
        finish_account_deletion(backends, user_id)
    except Exception:
        log.exception("deleting account %s stopped; reconcile will finish it", user_id)


def finish_account_deletion(backends: Backends, user_id: str) -> DeletionReport:
    """Remove everything of an account marked ``deleting``; idempotent.

    Refuses (``NotFound``) an account that is not marked, so nothing else can be
    deleted through here by mistake.
    """
    report = DeletionReport(user_id)
    user = backends.users.get(user_id)
    if user is None:
        report.finished = True
        return report
    if not user.deleting:
        raise NotFound("That account is not being deleted.")
    report.tokens = backends.tokens.remove_for_owner(user_id)
    # Early: each zip holds every original (a build still running notices its record
    # gone and deletes what it wrote).
    report.exports = remove_exports_of(backends, user_id)
    for album in backends.albums.for_owner(user_id):
        backends.shares.remove_for_album(user_id, album.id)
        report.albums += backends.albums.remove(user_id, album.id)
    for share in backends.shares.for_owner(user_id):
        if share.album_id:
            backends.shares.remove_for_album(user_id, share.album_id)
        else:
            backends.shares.remove_for_image(user_id, share.image_id)
        report.shares += 1
    for _round in range(MAX_ROUNDS):
        _remove_images(backends, user_id, report)
        prefix = f"{USERS_PREFIX}{user_id}/"
        for blob in list(backends.blobs.scan(prefix)):
            backends.blobs.delete(blob.key)
            report.blobs += 1
        # An upload in flight when the account was marked may have finished since.
        if not _some_images(backends, user_id):
            break
    else:
        raise RuntimeError(f"account {user_id} keeps gaining images; reconcile retries")
    backends.users.remove(user_id)
    report.finished = True
    log.info(
        "account deleted",
        extra={
            "event": "account_deleted",
            "user_id": user_id,
            "images": report.images,
            "shares": report.shares,
            "tokens": report.tokens,
            "exports": report.exports,
            "albums": report.albums,
        },
    )
    return report


def finish_marked_accounts(backends: Backends) -> list[DeletionReport]:
    """Finish every account deletion a crash or a stop left behind (for reconcile)."""
    reports = []
    for user in backends.users.marked_deleting():
        try:
            reports.append(finish_account_deletion(backends, user.id))
        except Exception:
            # One account must not stop the others; the next run retries it.
            log.exception("could not finish deleting account %s", user.id)
            reports.append(DeletionReport(user.id))
    return reports


def _remove_images(backends: Backends, user_id: str, report: DeletionReport) -> None:
    seen: set[str] = set()
    while batch := _some_images(backends, user_id):
        if all(image.id in seen for image in batch):
            # A record that will not go away: stop rather than spin; reconcile retries.
            raise RuntimeError(f"images of account {user_id} were not removed")
        for image in batch:
            _delete_image(backends, image)
            seen.add(image.id)
            report.images += 1


def _some_images(backends: Backends, user_id: str) -> list[Image]:
    """Return up to a batch of the account's image records, whatever their status."""
    # In lifecycle order: an upload's record moving pending → ready between two
    # queries is still found by the second.
    return (
        backends.images.unfinished_of(user_id, IMAGE_BATCH)
        or backends.images.page(user_id, None, IMAGE_BATCH).items
        or backends.images.trashed(user_id, IMAGE_BATCH)
    )


def _delete_image(backends: Backends, image: Image) -> None:
    """Mark one image ``deleting`` (if it is not yet), then remove it like a single delete."""
    if image.status is not ImageStatus.DELETING:
        backends.images.set_status(image.owner_id, image.id, image.status, ImageStatus.DELETING)
    backends.albums.remove_image(image.owner_id, image.id)
    finish_delete(backends, image)
