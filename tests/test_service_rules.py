"""Service rules a person or an operator would notice, pinned where mutants survived.

Services are called on the app's real local adapters; time moves with the injected
clock. Exact messages are asserted because people read them (issue 9: mutants that
changed or dropped a message survived every test).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from flask.testing import FlaskClient

import imagefiles
from helpers import json_of, upload, user_id_of
from picbucket.domain import InvalidInput, NotFound
from picbucket.imaging import DecodeBudget
from picbucket.ports import Backends, BlobInfo
from picbucket.services import direct_uploads, images, links, shares, tokens
from picbucket.services.reconcile import Guards, ReconcilePlan
from picbucket.settings import Settings

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


@pytest.fixture
def backend_overrides() -> dict[str, Any]:
    """Local adapters: these are service rules, the same on every store."""
    return {}


def test_token_names_are_cut_to_60_characters(alice: FlaskClient, backends: Backends) -> None:
    token, secret = tokens.create_token(backends, user_id_of(alice), "n" * 80)
    assert token.name == "n" * 60
    assert secret.startswith("pb_")


def test_a_token_needs_a_visible_name(alice: FlaskClient, backends: Backends) -> None:
    with pytest.raises(InvalidInput) as refused:
        tokens.create_token(backends, user_id_of(alice), "  \u200b ")
    assert refused.value.message == "Give the token a name, such as “ShareX on my laptop”."


def test_the_fiftieth_token_is_the_last_one(alice: FlaskClient, backends: Backends) -> None:
    owner = user_id_of(alice)
    for i in range(tokens.MAX_TOKENS):
        tokens.create_token(backends, owner, f"script {i}")
    with pytest.raises(InvalidInput) as refused:
        tokens.create_token(backends, owner, "one too many")
    assert refused.value.message == "You have 50 tokens already; revoke one first."


def test_last_used_is_written_at_most_once_a_minute(alice: FlaskClient, backends: Backends) -> None:
    owner = user_id_of(alice)
    backends.clock = lambda: T0
    _token, secret = tokens.create_token(backends, owner, "curl")

    def last_used_after(moment: datetime) -> datetime | None:
        backends.clock = lambda: moment
        assert tokens.authenticate(backends, secret) is not None
        return tokens.list_tokens(backends, owner)[0].last_used

    assert last_used_after(T0) == T0
    assert last_used_after(T0 + timedelta(minutes=1)) == T0  # not yet more than a minute
    later = T0 + timedelta(minutes=1, seconds=1)
    assert last_used_after(later) == later


def test_secrets_that_are_not_tokens_are_refused(alice: FlaskClient, backends: Backends) -> None:
    _token, secret = tokens.create_token(backends, user_id_of(alice), "curl")
    assert tokens.authenticate(backends, secret) is not None
    assert tokens.authenticate(backends, secret[3:]) is None  # without the pb_ prefix
    assert tokens.authenticate(backends, secret + "x") is None


def test_unknown_tokens_and_links_are_not_found(alice: FlaskClient, backends: Backends) -> None:
    owner = user_id_of(alice)
    with pytest.raises(NotFound) as token:
        tokens.revoke_token(backends, owner, "AAAAAAAAAAAAAAAAAAAAAA")
    assert token.value.message == "No such token."
    with pytest.raises(NotFound) as share:
        shares.revoke_share(backends, owner, "AAAAAAAAAAAAAAAAAAAAAA")
    assert share.value.message == "No such share link."


def test_an_image_lists_only_its_own_links(alice: FlaskClient, backends: Backends) -> None:
    owner = user_id_of(alice)
    first = json_of(upload(alice, imagefiles.png((20, 20)), "a.png"))["id"]
    second = json_of(upload(alice, imagefiles.png((30, 20)), "b.png"))["id"]
    mine = links.create_link(backends, owner, links.LinkOptions("1d"), image_id=first)
    links.create_link(backends, owner, links.LinkOptions("1d"), image_id=second)
    assert [s.id for s in shares.list_shares(backends, owner, first)] == [mine.share.id]
    assert len(shares.list_shares(backends, owner)) == 2


def test_renaming_says_what_is_wrong(alice: FlaskClient, backends: Backends) -> None:
    owner = user_id_of(alice)
    image_id = json_of(upload(alice, imagefiles.png(), "a.png"))["id"]
    with pytest.raises(InvalidInput) as blank:
        images.rename_image(backends, owner, image_id, " \t ")
    assert blank.value.message == "A title needs at least one visible character."
    with pytest.raises(NotFound) as missing:
        images.rename_image(backends, owner, "AAAAAAAAAAAAAAAAAAAAAA", "New")
    assert missing.value.message == "No such image."
    with pytest.raises(NotFound) as gone:
        images.delete_image(backends, owner, "AAAAAAAAAAAAAAAAAAAAAA")
    assert gone.value.message == "No such image."


def test_a_fresh_decode_budget_reports_nothing_used() -> None:
    budget = DecodeBudget(total_bytes=1000, wait_seconds=0.1)
    assert (budget.in_use, budget.peak) == (0, 0)
    with budget.hold(600):
        assert (budget.in_use, budget.peak) == (600, 600)
    assert (budget.in_use, budget.peak) == (0, 600)


def test_finishing_an_unknown_upload_says_it_may_have_expired(
    alice: FlaskClient, backends: Backends, settings: Settings
) -> None:
    with pytest.raises(NotFound) as gone:
        direct_uploads.finish_direct_upload(
            backends, settings, user_id_of(alice), "AAAAAAAAAAAAAAAAAAAAAA", "x.png"
        )
    assert gone.value.message == (
        "That upload was not found; it may have expired. Please upload again."
    )


def _blob(key: str, size: int) -> BlobInfo:
    return BlobInfo(key=key, size=size, updated=T0)


def test_reconcile_plan_reads_as_the_operator_needs() -> None:
    plan = ReconcilePlan(
        grace=timedelta(minutes=90, seconds=59),
        cutoff=T0,
        orphan_blobs=[_blob("users/u/i/original.png", 1500)],
        blobs_scanned=8,
    )
    lines = plan.summary(Guards()).split("\n")
    assert lines[0] == "reconcile plan (leaving alone anything younger than 90 min):"
    assert "  orphan blobs to remove: 1 (1,500 bytes)" in lines
    assert lines[-1] == "  blobs scanned: 8; to delete: 1 (12%, limit 5)"
    forced = plan.summary(Guards(force=True)).split("\n")
    assert forced[-1] == "  blobs scanned: 8; to delete: 1 (12%, limit 5, forced)"
    empty = ReconcilePlan(grace=timedelta(hours=1), cutoff=T0)
    assert empty.summary(Guards()).split("\n")[-1] == (
        "  blobs scanned: 0; to delete: 0 (0%, limit 5)"
    )
