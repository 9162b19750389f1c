"""Sign-in through the real local OIDC provider: no patching of Authlib."""

from __future__ import annotations

import base64
import json
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from flask.testing import FlaskClient
from werkzeug.serving import make_server
from werkzeug.wrappers import Request

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


def test_logout_everywhere_is_post_only_and_kills_copied_cookies(
    alice: FlaskClient, app: Any
) -> None:
    cookie = alice.get_cookie("picbucket_session")
    assert cookie is not None
    # A GET (a reload, a link) signs nobody out: it lands on the gallery.
    assert alice.get("/logout/everywhere").headers["Location"] == "/"
    assert "Hello, Alice" in alice.get("/").get_data(as_text=True)
    token = csrf_token(alice)
    assert alice.post("/logout/everywhere", data={"csrf_token": token}).status_code == 302
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
        ("/settings\r\nSet-Cookie: picbucket_session=stolen", "/"),
        ("/settings\nLocation: https://evil.test/", "/"),
        ("/\t/evil.test", "/"),
        ("/\x00", "/"),
        ("/\x7f", "/"),
        ("/settings\\..\\", "/"),
        ("/search?q=a%0d%0ab", "/search?q=a%0d%0ab"),
    ],
)
def test_next_only_redirects_within_the_site(
    client: FlaskClient, target: str, expected: str
) -> None:
    response = client.get(provider_callback(client, "alice@example.com", next=target))
    assert response.status_code == 302
    assert response.headers["Location"] == expected
    assert "Hello, Alice" in client.get("/").get_data(as_text=True)


@pytest.mark.parametrize("target", ["/settings\r\nX-Injected: 1", "//evil.test/", "/\t/evil.test"])
def test_next_is_ignored_for_someone_already_signed_in(alice: FlaskClient, target: str) -> None:
    response = alice.get("/login", query_string={"next": target})
    assert response.status_code == 302
    assert response.headers["Location"] == "/"
    assert "X-Injected" not in response.headers


def test_pages_need_sign_in(client: FlaskClient) -> None:
    response = client.get("/settings")
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/login")


@pytest.mark.parametrize("settings_overrides", [{"oidc_issuer": "http://127.0.0.1:9"}])
def test_unreachable_provider_gets_a_clear_503(client: FlaskClient) -> None:
    response = client.get("/login")
    assert response.status_code == 503
    assert "identity provider cannot be reached" in response.get_data(as_text=True)


# -- ID tokens that are not for this sign-in -------------------------------------------
# Each token below is minted and signed by the real provider; only the one claim under
# test is wrong. Authlib checks them and raises; the app must answer 400, not 500.


def _start_sign_in(client: FlaskClient, email: str) -> tuple[str, dict[str, str]]:
    """Start sign-in and approve it; return the callback path and the authorize query."""
    start = client.get("/login")
    assert start.status_code == 302
    authorize = start.headers["Location"]
    query = {k: v[0] for k, v in parse_qs(urlsplit(authorize).query).items()}
    answer = requests.post(authorize, data={"sub": email}, allow_redirects=False, timeout=10)
    assert answer.status_code == 302, answer.text
    callback = urlsplit(answer.headers["Location"])
    return f"{callback.path}?{callback.query}", query


@contextmanager
def _token_endpoint(answer: Callable[[Request], dict[str, Any]]) -> Iterator[str]:
    """Serve a stand-in token endpoint (the one simulated part) that answers ``answer``."""

    def wsgi(environ: Any, start_response: Any) -> list[bytes]:
        body = json.dumps(answer(Request(environ))).encode()
        start_response("200 OK", [("Content-Type", "application/json")])
        return [body]

    server = make_server("127.0.0.1", 0, wsgi, threaded=True)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.1})
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}/oauth2/token"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def _use_token_endpoint(app: Any, url: str) -> None:
    """Point the app's (already discovered) provider metadata at another token endpoint."""
    client = app.extensions["authlib.integrations.flask_client"].oidc
    client.server_metadata["token_endpoint"] = url


def _assert_refused(response: Any, client: FlaskClient) -> None:
    assert response.status_code == 400
    page = response.get_data(as_text=True)
    assert "could not be verified" in page
    assert "Hello," not in client.get("/").get_data(as_text=True)


def test_id_token_with_a_wrong_nonce_is_refused(client: FlaskClient) -> None:
    callback, _ = _start_sign_in(client, "alice@example.com")
    # As if the token answered another sign-in attempt: the nonce this browser expects changes.
    with client.session_transaction() as session:
        [key] = [k for k in session if k.startswith("_state_oidc_")]
        state = dict(session[key])
        state["data"] = {**state["data"], "nonce": "a-nonce-from-another-attempt"}
        session[key] = state
    _assert_refused(client.get(callback), client)


def test_id_token_from_another_issuer_name_is_refused(
    client: FlaskClient, app: Any, issuer: str
) -> None:
    """The real token for this code, but issued as http://localhost:… (iss differs)."""
    other_name = issuer.replace("127.0.0.1", "localhost")

    def relay(request: Request) -> dict[str, Any]:
        forwarded = requests.post(
            f"{other_name}/oauth2/token",
            data=request.form.to_dict(),
            headers={"Authorization": request.headers.get("Authorization", "")},
            timeout=10,
        )
        token: dict[str, Any] = forwarded.json()
        assert _claims(token["id_token"])["iss"] == other_name
        return token

    callback, _ = _start_sign_in(client, "alice@example.com")
    with _token_endpoint(relay) as url:
        _use_token_endpoint(app, url)
        _assert_refused(client.get(callback), client)


def test_id_token_for_another_client_is_refused(client: FlaskClient, app: Any, issuer: str) -> None:
    """A token the provider issued to another app (aud differs), with the right nonce."""
    callback, query = _start_sign_in(client, "alice@example.com")
    other = "another-app"
    approve = requests.post(
        f"{issuer}/oauth2/authorize",
        params={
            "response_type": "code",
            "client_id": other,
            "redirect_uri": "http://127.0.0.1/elsewhere",
            "scope": "openid email profile",
            "state": "s",
            "nonce": query["nonce"],
        },
        data={"sub": "alice@example.com"},
        allow_redirects=False,
        timeout=10,
    )
    code = parse_qs(urlsplit(approve.headers["Location"]).query)["code"][0]
    minted = requests.post(
        f"{issuer}/oauth2/token",
        data={
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": "http://127.0.0.1/elsewhere",
        },
        auth=(other, "secret"),
        timeout=10,
    ).json()
    assert _claims(minted["id_token"])["aud"] in (other, [other])
    with _token_endpoint(lambda _request: minted) as url:
        _use_token_endpoint(app, url)
        _assert_refused(client.get(callback), client)


def _claims(id_token: str) -> dict[str, Any]:
    payload = id_token.split(".")[1]
    decoded: dict[str, Any] = json.loads(
        base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))
    )
    return decoded
