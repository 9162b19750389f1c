"""Uploads racing an account deletion leave nothing behind; tokens are deleted.

Real backends (local disk + SQLite, GCS + Firestore emulators); the race is staged by
running the other request's real service call at the moment it would interleave.
"""

from __future__ import annotations

import io
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import pytest

import imagefiles
from picbucket.domain import (
    AccountChange,
    Image,
    ImageStatus,
    NotFound,
    Quota,
    User,
    Variant,
    new_id,
)
from picbucket.ports import Backends
from picbucket.services.account_deletion import finish_account_deletion
from picbucket.services.tokens import create_token
from picbucket.services.uploads import store_image
from picbucket.settings import Settings
from stacks import backends, make_user, settings

__all__ = ["backends", "settings"]  # fixtures, used by name

BIG = Quota(max_bytes=10**12, max_images=10**6)


def record(owner: User) -> Image:
    image_id = new_id()
    base = f"users/{owner.id}/{image_id}"
    return Image(
        id=image_id,
        owner_id=owner.id,
        title="t",
        width=1,
        height=1,
        original=Variant(f"{base}/original.png", "image/png", 400, "0" * 64),
        thumbnail=Variant(f"{base}/thumb.webp", "image/webp", 100, "1" * 64),
        created=datetime.now(UTC),
        status=ImageStatus.PENDING,
    )


def upload(backends: Backends, settings: Settings, owner: User) -> Image:
    return store_image(backends, settings, owner.id, io.BytesIO(imagefiles.jpeg()), "x.jpg")


@pytest.mark.parametrize("change", [AccountChange(deleting=True), AccountChange(disabled=True)])
def test_no_upload_is_charged_to_an_account_being_deleted_or_disabled(
    backends: Backends, change: AccountChange
) -> None:
    alice = make_user(backends, "alice")
    backends.users.change_account(alice.id, change, None)
    image = record(alice)
    with pytest.raises(NotFound):
        backends.images.add(image, BIG)
    assert backends.images.get(alice.id, image.id) is None
    assert backends.images.usage(alice.id).images == 0


class UploadDuring:
    """Proxy the blob store; run ``action`` once, at the first scan of ``prefix``."""

    def __init__(self, inner: Any, prefix: str, action: Any) -> None:
        self._inner, self._prefix, self._action = inner, prefix, action
        self.outcome: BaseException | Image | None = None

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._inner, name)
        if name != "scan":
            return attr

        def scan(prefix: str) -> Any:
            if prefix == self._prefix and self.outcome is None:
                try:
                    self.outcome = self._action()
                except Exception as exc:
                    self.outcome = exc
            return attr(prefix)

        return scan


def test_an_upload_during_the_deletion_leaves_no_photo_without_an_account(
    backends: Backends, settings: Settings
) -> None:
    alice = make_user(backends, "alice")
    backends.users.change_account(alice.id, AccountChange(deleting=True), None)
    # Her upload request arrives after her images were removed, before her record goes.
    during: Backends  # the lambda below uploads through it, once it is built
    racing = UploadDuring(
        backends.blobs, f"users/{alice.id}/", lambda: upload(during, settings, alice)
    )
    during = replace(backends, blobs=racing)

    report = finish_account_deletion(during, alice.id)

    assert report.finished
    assert isinstance(racing.outcome, NotFound), racing.outcome
    assert backends.users.get(alice.id) is None
    assert backends.images.page(alice.id, None, 10).items == []
    assert backends.images.unfinished_of(alice.id, 10) == []
    # She signs up again (same issuer + subject): a new, empty account.
    again = make_user(backends, "alice")
    assert again.id == alice.id
    assert backends.images.page(again.id, None, 10).items == []
    assert backends.images.usage(again.id).images == 0


def test_a_photo_restored_by_an_upload_in_flight_is_deleted_too(
    backends: Backends, settings: Settings
) -> None:
    """A duplicate upload started before the mark brings a trashed photo back mid-deletion."""
    alice = make_user(backends, "alice")
    photo = upload(backends, settings, alice)
    backends.images.move_many(
        alice.id, [photo.id], ImageStatus.READY, ImageStatus.TRASHED, datetime.now(UTC)
    )
    backends.users.change_account(alice.id, AccountChange(deleting=True), None)
    real_trashed = backends.images.trashed

    def trashed(owner_id: str, limit: int) -> list[Image]:
        # The in-flight upload restores the photo just after the ready images were listed.
        backends.images.move_many(
            owner_id, [photo.id], ImageStatus.TRASHED, ImageStatus.READY, None
        )
        return real_trashed(owner_id, limit)

    class Images:
        def __getattr__(self, name: str) -> Any:
            return trashed if name == "trashed" else getattr(real_images, name)

    real_images = backends.images
    report = finish_account_deletion(replace(backends, images=Images()), alice.id)

    assert report.finished
    assert backends.users.get(alice.id) is None
    assert backends.images.get(alice.id, photo.id) is None
    assert list(backends.blobs.scan(f"users/{alice.id}/")) == []


def test_account_deletion_deletes_every_token(backends: Backends) -> None:
    alice, bob = make_user(backends, "alice"), make_user(backends, "bob")
    for name in ("laptop", "phone", "backup script"):
        create_token(backends, alice.id, name)
    create_token(backends, bob.id, "bob's")
    backends.users.change_account(alice.id, AccountChange(deleting=True), None)

    report = finish_account_deletion(backends, alice.id)

    assert report.tokens == 3
    assert backends.tokens.for_owner(alice.id) == []
    assert [token.name for token in backends.tokens.for_owner(bob.id)] == ["bob's"]
    assert backends.tokens.remove_for_owner(bob.id) == 1
    assert backends.tokens.for_owner(bob.id) == []
