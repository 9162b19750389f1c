"""People and their data, over HTTP on both stacks: the allow-list on every request,
administrators (list, quota, disable/enable, delete, audit), and leaving (export, delete)."""

from __future__ import annotations

import io
import json
import logging
import time
import zipfile
from dataclasses import replace
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

import imagefiles
from conftest import csrf_token, sign_in
from helpers import json_of, path_of, stored_blob_keys, upload, user_id_of
from picbucket import create_app
from picbucket.ports import Backends
from picbucket.services import accounts
from picbucket.services.tokens import create_token
from picbucket.settings import Settings

ADMIN = "admin@example.com"


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    """An administrator, and a tiny default quota so an override is visible."""
    return {"admin_emails": (ADMIN,), "quota_images": 3}


@pytest.fixture
def admin(app: Flask) -> FlaskClient:
    """A browser signed in as the administrator."""
    browser = app.test_client()
    assert sign_in(browser, ADMIN).status_code == 302
    return browser


def _token(backends: Backends, client: FlaskClient) -> dict[str, str]:
    _, secret = create_token(backends, user_id_of(client), "curl")
    return {"Authorization": f"Bearer {secret}"}


def _photo_with_link(client: FlaskClient, auth: dict[str, str], seed: int = 0) -> tuple[str, str]:
    """Upload a photo with a token and share it; return (image id, share path)."""
    created = upload(client, imagefiles.noise_png((64, 48), seed=seed + 1), "x.png", **auth)
    assert created.status_code == 201, created.data
    image_id = json_of(created)["id"]
    share = client.post(
        f"/api/v1/images/{image_id}/shares", json={"expires": "never"}, headers=auth
    )
    assert share.status_code == 201, share.data
    return image_id, path_of(json_of(share)["share_url"])


def _post(client: FlaskClient, path: str, **form: str) -> Any:
    return client.post(path, data={"csrf_token": csrf_token(client), **form})


# -- the allow-list, always ---------------------------------------------------------


def test_a_narrower_allow_list_locks_out_old_sessions_and_tokens_after_restart(
    app: Flask, settings: Settings, alice: FlaskClient, backends: Backends
) -> None:
    auth = _token(backends, alice)
    _, share_path = _photo_with_link(alice, auth)
    form_token = csrf_token(alice)  # a valid form, so only the account decides
    cookie = alice.get_cookie("picbucket_session")
    assert cookie is not None

    narrower = replace(settings, allowed_emails=(ADMIN,))
    restarted = create_app(narrower)
    try:
        browser = restarted.test_client()
        browser.set_cookie("picbucket_session", cookie.value)
        # The old session: signed out, with the reason on the next page.
        settings_page = browser.get("/settings")
        assert settings_page.status_code == 302
        landing = browser.get("/", follow_redirects=True).get_data(as_text=True)
        assert "no longer allowed" in landing
        assert browser.get("/settings").status_code == 302  # and it stays signed out
        # The old token: 401.
        api = restarted.test_client()
        refused = upload(api, imagefiles.png(), "b.png", **auth)
        assert refused.status_code == 401
        assert api.get("/api/v1/images", headers=auth).status_code == 401
        # Her share link: it stops with her account.
        assert api.get(share_path).status_code == 404
        # Creating a token from the old session: refused, and no token is made.
        again = restarted.test_client()
        again.set_cookie("picbucket_session", cookie.value)
        made = again.post("/settings/tokens", data={"name": "sneaky", "csrf_token": form_token})
        assert made.status_code == 302 and "/login" in made.headers["Location"]
        assert [t.name for t in backends.tokens.for_owner(user_id_of(alice))] == ["curl"]
        # Signing in again is refused too.
        assert sign_in(restarted.test_client(), "alice@example.com").status_code == 403
    finally:
        restarted.extensions["picbucket"].close()


def test_google_domains_follow_the_hd_claim_other_issuers_the_email(
    settings: Settings, backends: Backends
) -> None:
    work = replace(settings, allowed_domains=("work.example",))
    google = "https://accounts.google.com"
    claims = {"sub": "1", "email": "ann@work.example", "email_verified": True}
    # A personal Google account that carries a work address: no hd, not admitted.
    with pytest.raises(accounts.SignInRefused):
        accounts.sign_in(backends, work, google, claims)
    # The Workspace vouches for it: admitted, and the domain is remembered per request.
    user = accounts.sign_in(backends, work, google, {**claims, "hd": "work.example"})
    assert user.hosted_domain == "work.example"
    assert accounts.refusal(work, user) is None
    assert accounts.refusal(replace(work, allowed_domains=("other.example",)), user)
    # Another issuer: the email's domain is what counts.
    other = accounts.sign_in(backends, work, "https://idp.example", {**claims, "sub": "2"})
    assert other.hosted_domain == ""
    with pytest.raises(accounts.SignInRefused):
        accounts.sign_in(
            backends,
            work,
            "https://idp.example",
            {"sub": "3", "email": "eve@home.example", "email_verified": True},
        )


# -- administrators ------------------------------------------------------------------


def _admin_paths(app: Flask, user_id: str) -> list[tuple[str, str]]:
    paths = []
    for rule in app.url_map.iter_rules():
        if rule.endpoint.startswith("admin."):
            path = rule.rule.replace("<user_id>", user_id)
            methods = sorted((rule.methods or set()) - {"HEAD", "OPTIONS"})
            paths += [(method, path) for method in methods]
    return paths


def test_every_admin_route_is_404_for_visitors_and_non_admins(
    app: Flask, admin: FlaskClient, alice: FlaskClient, client: FlaskClient
) -> None:
    paths = _admin_paths(app, user_id_of(alice))
    assert len(paths) >= 7
    for method, path in paths:
        for who in (client, alice):
            # No CSRF token sent: the answer is about who asks, not about the form.
            answer = who.open(path, method=method)
            assert answer.status_code == 404, (method, path, answer.status_code)
    # The admin nav link is shown to administrators only.
    assert "/admin" not in alice.get("/settings").get_data(as_text=True)
    assert 'href="/admin"' in admin.get("/settings").get_data(as_text=True)
    # Nothing changed for alice.
    assert alice.get("/settings").status_code == 200


def test_admin_lists_people_with_usage_and_never_their_photos(
    admin: FlaskClient, alice: FlaskClient, bob: FlaskClient, backends: Backends
) -> None:
    auth = _token(backends, alice)
    created = upload(alice, imagefiles.png(), "Secret holiday.png", **auth)
    image_id = json_of(created)["id"]
    alice.post(f"/api/v1/images/{image_id}/shares", json={"expires": "never"}, headers=auth)

    listing = admin.get("/admin").get_data(as_text=True)
    assert "alice@example.com" in listing and "bob@example.org" in listing
    searched = admin.get("/admin?q=ali").get_data(as_text=True)
    assert "alice@example.com" in searched and "bob@example.org" not in searched
    person = admin.get(f"/admin/people/{user_id_of(alice)}").get_data(as_text=True)
    assert 'id="usage-images">1 of 3' in person
    for page in (listing, searched, person):
        assert "Secret holiday" not in page and image_id not in page
        assert "/i/" not in page and "thumb" not in page


def test_quota_override_is_used_by_uploads_and_can_be_cleared(
    admin: FlaskClient, alice: FlaskClient, backends: Backends
) -> None:
    auth = _token(backends, alice)
    alice_id = user_id_of(alice)
    assert _post(admin, f"/admin/people/{alice_id}/quota", images="1").status_code == 302
    assert upload(alice, imagefiles.png(), "1.png", **auth).status_code == 201
    assert upload(alice, imagefiles.png((20, 20)), "2.png", **auth).status_code == 413
    bad = _post(admin, f"/admin/people/{alice_id}/quota", images="-4")
    assert "whole number" in admin.get(bad.headers["Location"]).get_data(as_text=True)
    assert _post(admin, f"/admin/people/{alice_id}/quota").status_code == 302  # default again
    assert upload(alice, imagefiles.png((20, 20)), "2.png", **auth).status_code == 201
    stored = backends.users.get(alice_id)
    assert stored is not None and stored.quota is None


def test_disable_stops_session_token_and_links_at_once_and_enable_restores_them(
    admin: FlaskClient,
    alice: FlaskClient,
    client: FlaskClient,
    backends: Backends,
    caplog: pytest.LogCaptureFixture,
) -> None:
    auth = _token(backends, alice)
    image_id, share_path = _photo_with_link(alice, auth)
    alice_id = user_id_of(alice)
    other_tab = alice.application.test_client()
    other_tab.set_cookie("picbucket_session", alice.get_cookie("picbucket_session").value)  # type: ignore[union-attr]

    with caplog.at_level(logging.INFO, logger="picbucket.events"):
        assert _post(admin, f"/admin/people/{alice_id}/disable").status_code == 302
    assert alice.get("/settings").status_code == 302
    assert "disabled by an administrator" in alice.get("/").get_data(as_text=True)
    assert client.get("/api/v1/images", headers=auth).status_code == 401
    assert client.get(share_path).status_code == 404
    assert sign_in(alice.application.test_client(), "alice@example.com").status_code == 403
    # Nothing was deleted.
    assert backends.images.get(alice_id, image_id) is not None

    assert _post(admin, f"/admin/people/{alice_id}/enable").status_code == 302
    assert client.get("/api/v1/images", headers=auth).status_code == 200
    assert client.get(share_path).status_code == 200
    assert other_tab.get("/settings").status_code == 200  # a session not used meanwhile
    assert sign_in(alice.application.test_client(), "alice@example.com").status_code == 302

    audit = admin.get("/admin/audit").get_data(as_text=True)
    assert audit.count('<td class="text-break">alice@example.com</td>') == 2
    assert audit.count(f'<td class="text-break">{ADMIN}</td>') == 2
    assert audit.index("enable") < audit.index("disable")  # newest first
    page = backends.users.audit_page(None, 10)
    assert [(e.action, e.actor_email, e.target_id) for e in page.items] == [
        ("enable", ADMIN, alice_id),
        ("disable", ADMIN, alice_id),
    ]
    logged = [r for r in caplog.records if getattr(r, "event", "") == "admin_action"]
    assert [(r.action, r.target_email) for r in logged] == [  # type: ignore[attr-defined]
        ("disable", "alice@example.com"),
        ("enable", "alice@example.com"),
    ]


def test_admin_cannot_disable_or_delete_themselves(admin: FlaskClient) -> None:
    own = user_id_of(admin)
    assert _post(admin, f"/admin/people/{own}/disable").status_code == 400
    assert admin.get("/admin").status_code == 200


def _wait_gone(backends: Backends, user_id: str) -> None:
    deadline = time.monotonic() + 30
    while backends.users.get(user_id) is not None:
        assert time.monotonic() < deadline, "account deletion did not finish"
        time.sleep(0.05)


def _everything_of(backends: Backends, user_id: str) -> list[object]:
    left: list[object] = [b for b in stored_blob_keys(backends) if f"/{user_id}/" in b]
    left += backends.tokens.for_owner(user_id)
    left += backends.shares.for_owner(user_id)
    left += backends.albums.for_owner(user_id)
    left += backends.images.page(user_id, None, 10).items
    left += [u for u in [backends.users.get(user_id)] if u is not None]
    return left


def test_admin_deletes_an_account_and_nothing_of_anyone_else(
    admin: FlaskClient,
    alice: FlaskClient,
    bob: FlaskClient,
    client: FlaskClient,
    backends: Backends,
) -> None:
    alice_auth, bob_auth = _token(backends, alice), _token(backends, bob)
    _, alice_link = _photo_with_link(alice, alice_auth, seed=1)
    _, bob_link = _photo_with_link(bob, bob_auth, seed=2)
    alice_id, bob_id = user_id_of(alice), user_id_of(bob)
    bob_before = sorted(b for b in stored_blob_keys(backends) if bob_id in b)

    wrong = _post(admin, f"/admin/people/{alice_id}/delete", confirm_email="bob@example.org")
    assert wrong.status_code == 302 and backends.users.get(alice_id) is not None
    done = _post(admin, f"/admin/people/{alice_id}/delete", confirm_email="alice@example.com")
    assert done.status_code == 302
    assert client.get(alice_link).status_code == 404  # at once, even before the rest goes
    _wait_gone(backends, alice_id)
    assert _everything_of(backends, alice_id) == []
    assert sorted(b for b in stored_blob_keys(backends) if bob_id in b) == bob_before
    assert client.get(bob_link).status_code == 200
    assert client.get("/api/v1/images", headers=bob_auth).status_code == 200
    assert "delete account" in admin.get("/admin/audit").get_data(as_text=True)


# -- leaving -------------------------------------------------------------------------


def test_export_is_a_zip_of_originals_with_a_manifest(
    alice: FlaskClient, backends: Backends
) -> None:
    auth = _token(backends, alice)
    first = json_of(upload(alice, imagefiles.png(), "Beach.png", **auth))
    second = json_of(upload(alice, imagefiles.jpeg(), "Hills.jpg", **auth))
    answer = alice.get("/settings/export.zip")
    assert answer.status_code == 200 and answer.mimetype == "application/zip"
    archive = zipfile.ZipFile(io.BytesIO(answer.data))
    manifest = json.loads(archive.read("manifest.json"))
    assert {p["id"] for p in manifest["photos"]} == {first["id"], second["id"]}
    for photo in manifest["photos"]:
        image = backends.images.get(user_id_of(alice), photo["id"])
        assert image is not None
        with backends.blobs.open(image.original.key) as stored:
            assert archive.read(photo["file"]) == stored.read()
    assert "Download everything" in alice.get("/settings").get_data(as_text=True)


def test_delete_my_account_removes_everything_and_the_email_can_sign_up_fresh(
    app: Flask, alice: FlaskClient, bob: FlaskClient, client: FlaskClient, backends: Backends
) -> None:
    auth = _token(backends, alice)
    _, link = _photo_with_link(alice, auth)
    bob_auth = _token(backends, bob)
    _, bob_link = _photo_with_link(bob, bob_auth, seed=5)
    alice_id = user_id_of(alice)
    assert backends.users.get(alice_id).usage.images == 1  # type: ignore[union-attr]

    wrong = _post(alice, "/settings/delete-account", confirm_email="alice@example")
    assert wrong.status_code == 302 and backends.users.get(alice_id) is not None
    gone = _post(alice, "/settings/delete-account", confirm_email="Alice@example.com ")
    assert gone.status_code == 302
    assert "being deleted" in alice.get("/").get_data(as_text=True)
    assert alice.get("/settings").status_code == 302
    assert client.get(link).status_code == 404
    assert client.get("/api/v1/images", headers=auth).status_code == 401
    _wait_gone(backends, alice_id)
    assert _everything_of(backends, alice_id) == []
    assert client.get(bob_link).status_code == 200

    fresh = app.test_client()
    assert sign_in(fresh, "alice@example.com").status_code == 302
    user = backends.users.get(user_id_of(fresh))
    assert user is not None and user.usage.images == 0 and user.usage.bytes == 0
    assert backends.images.page(user.id, None, 10).items == []
