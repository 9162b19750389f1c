"""Sign-in through the real local OIDC provider: no patching of Authlib."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from flask.testing import FlaskClient

from conftest import csrf_token, provider_callback, sign_in


def test_sign_in_greets_the_user_by_name(client: FlaskClient) -> None:
    response = sign_in(client, "alice@example.com")
    assert response.status_code == 302
    assert response.headers["Location"] == "/"
    page = client.get("/").get_data(as_text=True)
    assert "Hello, Alice" in page


def test_sign_in_uses_pkce_state_and_nonce(client: FlaskClient) -> None:
    start = client.get("/login")
    query = parse_qs(urlsplit(start.headers["Location"]).query)
    assert query["code_challenge_method"] == ["S256"]
    assert len(query["code_challenge"][0]) >= 43
    assert query["state"][0] and query["nonce"][0]
    assert "openid" in query["scope"][0].split()


def test_wrong_state_is_refused_and_signs_nobody_in(client: FlaskClient) -> None:
    callback = urlsplit(provider_callback(client, "mallory@example.com"))
    code = parse_qs(callback.query)["code"][0]
    response = client.get(f"{callback.path}?code={code}&state=forged-state")
    assert response.status_code == 400
    assert "sign in again" in response.get_data(as_text=True)
    assert "Hello," not in client.get("/").get_data(as_text=True)


def test_callback_without_a_login_in_this_browser_is_refused(client: FlaskClient, app: Any) -> None:
    # A code obtained in one browser cannot be replayed into another's session.
    callback = provider_callback(client, "alice@example.com")
    other = app.test_client()
    response = other.get(callback)
    assert response.status_code == 400
    assert "Hello," not in other.get("/").get_data(as_text=True)


@pytest.mark.parametrize(
    "settings_overrides",
    [{"allowed_emails": ("alice@example.com",), "allowed_domains": ("example.net",)}],
)
def test_allow_list_refuses_others_with_a_clear_page(client: FlaskClient, app: Any) -> None:
    refused = sign_in(client, "mallory@evil.test")
    assert refused.status_code == 403
    assert "mallory@evil.test is not allowed" in refused.get_data(as_text=True)
    assert "Hello," not in client.get("/").get_data(as_text=True)
    assert sign_in(app.test_client(), "alice@example.com").status_code == 302
    assert sign_in(app.test_client(), "carol@example.net").status_code == 302


def test_unverified_email_is_refused(client: FlaskClient, issuer: str) -> None:
    requests.put(
        f"{issuer}/users/unverified-sub",
        json={"email": "eve@example.com", "email_verified": False},
        timeout=10,
    ).raise_for_status()
    response = sign_in(client, "unverified-sub")
    assert response.status_code == 403
    assert "not verified" in response.get_data(as_text=True)


def test_logout_is_post_only_and_kills_copied_cookies(alice: FlaskClient, app: Any) -> None:
    cookie = alice.get_cookie("picbucket_session")
    assert cookie is not None
    assert alice.get("/logout").status_code == 405
    token = csrf_token(alice)
    assert alice.post("/logout", data={"csrf_token": token}).status_code == 302
    assert "Hello," not in alice.get("/").get_data(as_text=True)
    # Someone who copied the cookie before sign-out gets nothing either.
    thief = app.test_client()
    thief.set_cookie("picbucket_session", cookie.value)
    assert thief.get("/settings").status_code == 302
    assert thief.get("/api/v1/images").status_code == 401


def test_logout_without_csrf_token_is_refused(alice: FlaskClient) -> None:
    assert alice.post("/logout").status_code == 400
    assert "Hello, Alice" in alice.get("/").get_data(as_text=True)


def test_session_is_reissued_at_sign_in(client: FlaskClient) -> None:
    client.get("/login")
    before = client.get_cookie("picbucket_session")
    assert before is not None
    sign_in(client, "alice@example.com")
    after = client.get_cookie("picbucket_session")
    assert after is not None and after.value != before.value
    assert after.http_only
    assert after.same_site == "Lax"


@pytest.mark.parametrize(
    ("target", "expected"),
    [
        ("/settings", "/settings"),
        ("https://evil.test/", "/"),
        ("//evil.test/", "/"),
        ("/\\evil.test", "/"),
    ],
)
def test_next_only_redirects_within_the_site(
    client: FlaskClient, target: str, expected: str
) -> None:
    response = client.get(provider_callback(client, "alice@example.com", next=target))
    assert response.headers["Location"] == expected


def test_pages_need_sign_in(client: FlaskClient) -> None:
    response = client.get("/settings")
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/login")


@pytest.mark.parametrize("settings_overrides", [{"oidc_issuer": "http://127.0.0.1:9"}])
def test_unreachable_provider_gets_a_clear_503(client: FlaskClient) -> None:
    response = client.get("/login")
    assert response.status_code == 503
    assert "identity provider cannot be reached" in response.get_data(as_text=True)
