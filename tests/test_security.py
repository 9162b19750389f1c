"""Headers, CSRF on forms, rate limits, safe media responses, conditional GET and Range."""

from __future__ import annotations

import json
import logging

import pytest
from flask.testing import FlaskClient

import imagefiles
from conftest import sign_in
from helpers import json_of, path_of, upload
from picbucket.ports import Backends
from picbucket.web.logs import CloudLoggingFormatter


def test_pages_carry_security_headers(client: FlaskClient) -> None:
    response = client.get("/")
    csp = response.headers["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp
    assert "frame-ancestors 'none'" in csp
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["X-Frame-Options"] == "DENY"
    assert "Strict-Transport-Security" not in response.headers  # development
    assert "<script>" not in response.get_data(as_text=True)  # no inline script


@pytest.mark.parametrize(
    "settings_overrides",
    [
        {
            "env": "production",
            "oidc_local": False,
            "oidc_issuer": "https://accounts.google.com",
            "oidc_client_id": "id",
            "oidc_client_secret": "s",
            "secret_key": "x" * 40,
        }
    ],
)
def test_production_adds_hsts_and_secure_cookies(client: FlaskClient) -> None:
    response = client.get("/healthz")
    assert response.headers["Strict-Transport-Security"].startswith("max-age=")
    assert client.application.config["SESSION_COOKIE_SECURE"] is True


def test_image_bytes_are_served_safely(alice: FlaskClient) -> None:
    image = upload(alice, imagefiles.jpeg(), "x.jpg").json
    response = alice.get(path_of(image["image_url"]))
    assert response.mimetype == "image/jpeg"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Content-Security-Policy"] == "default-src 'none'; sandbox"
    assert "immutable" in response.headers["Cache-Control"]
    disposition = response.headers["Content-Disposition"]
    assert "x.jpg" not in disposition and "original.jpg" in disposition


def test_conditional_get_and_range(alice: FlaskClient) -> None:
    image = upload(alice, imagefiles.jpeg((300, 200)), "x.jpg").json
    path = path_of(image["image_url"])
    full = alice.get(path)
    etag = full.headers["ETag"]
    assert alice.get(path, headers={"If-None-Match": etag}).status_code == 304
    part = alice.get(path, headers={"Range": "bytes=10-19"})
    assert part.status_code == 206
    assert part.data == full.data[10:20]
    assert part.headers["Content-Range"] == f"bytes 10-19/{len(full.data)}"
    tail = alice.get(path, headers={"Range": "bytes=-5"})
    assert tail.data == full.data[-5:]
    beyond = alice.get(path, headers={"Range": f"bytes={len(full.data) + 10}-"})
    assert beyond.status_code == 416


def test_forms_need_csrf_token(alice: FlaskClient) -> None:
    image = upload(alice, imagefiles.png(), "x.png").json
    response = alice.post(f"/images/{image['id']}/delete")
    assert response.status_code == 400
    assert "expired" in response.get_data(as_text=True)
    assert alice.get(f"/api/v1/images/{image['id']}").status_code == 200


def test_no_state_change_on_get(alice: FlaskClient) -> None:
    image = upload(alice, imagefiles.png(), "x.png").json
    # A GET of the delete form's URL only leads back to the image page.
    assert alice.get(f"/images/{image['id']}/delete").headers["Location"] == (
        f"/images/{image['id']}"
    )
    assert alice.get(f"/api/v1/images/{image['id']}").status_code == 200


@pytest.mark.parametrize("settings_overrides", [{"rate_limit_sign_in": "3 per minute"}])
def test_sign_in_is_rate_limited(client: FlaskClient) -> None:
    statuses = [client.get("/login").status_code for _ in range(5)]
    assert statuses[:3] == [302, 302, 302]
    assert statuses[3:] == [429, 429]
    page = client.get("/login")
    assert "too fast" in page.get_data(as_text=True)


@pytest.mark.parametrize("settings_overrides", [{"rate_limit_upload": "2 per minute"}])
def test_uploads_are_rate_limited(alice: FlaskClient) -> None:
    statuses = [upload(alice, imagefiles.png(), "x.png").status_code for _ in range(3)]
    assert statuses == [201, 201, 429]
    assert upload(alice, imagefiles.png(), "x.png").json["error"]["code"] == "rate_limited"


def test_error_pages_look_like_the_app(client: FlaskClient) -> None:
    page = client.get("/no/such/page")
    assert page.status_code == 404
    html = page.get_data(as_text=True)
    assert "Picbucket" in html and "Go to the gallery" in html
    api = client.get("/api/v1/nothing-here")
    assert api.status_code == 404 and json_of(api)["error"]["code"] == "not_found"


def test_health_and_readiness(client: FlaskClient) -> None:
    assert client.get("/healthz").json == {"status": "ok"}
    assert client.get("/readyz").status_code == 200


@pytest.mark.parametrize("settings_overrides", [{"proxy_hops": 1}])
def test_urls_are_https_behind_one_proxy(client: FlaskClient) -> None:
    # The proxy (Cloud Run's front end) passes the Host it was asked for and adds only
    # X-Forwarded-Proto; X-Forwarded-Host is not trusted (test_trusted_headers.py).
    response = client.get(
        "/login", base_url="http://pics.example.com", headers={"X-Forwarded-Proto": "https"}
    )
    assert (
        "redirect_uri=https%3A%2F%2Fpics.example.com%2Fauth%2Fcallback"
        in response.headers["Location"]
    )


def test_sign_in_event_is_logged_without_secrets(
    client: FlaskClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    sign_in(client, "alice@example.com")
    # Only the app's own lines (the provider's thread logs through werkzeug).
    lines = [
        json.loads(CloudLoggingFormatter().format(r))
        for r in caplog.records
        if r.name.startswith("picbucket")
    ]
    events = [line for line in lines if line.get("event") == "sign_in"]
    assert len(events) == 1 and events[0]["severity"] == "INFO"
    callback = [
        line for line in lines if line.get("httpRequest", {}).get("requestUrl") == "/auth/callback"
    ]
    assert callback, "one request line per request"
    assert callback[0]["httpRequest"]["status"] == 302
    text = json.dumps(lines)
    assert "code=" not in text and "state=" not in text


@pytest.mark.parametrize("settings_overrides", [{"gcp_project": "my-project"}])
def test_request_log_links_the_cloud_trace(
    client: FlaskClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    client.get("/healthz", headers={"X-Cloud-Trace-Context": "abc123/1;o=1"})
    lines = [json.loads(CloudLoggingFormatter().format(r)) for r in caplog.records]
    request_lines = [line for line in lines if "httpRequest" in line]
    assert request_lines[-1]["logging.googleapis.com/trace"] == "projects/my-project/traces/abc123"
    assert request_lines[-1]["httpRequest"]["requestMethod"] == "GET"


@pytest.mark.parametrize("settings_overrides", [{"max_upload_mb": 1}])
def test_too_large_form_upload_gets_the_app_page(alice: FlaskClient) -> None:
    import io

    from conftest import csrf_token

    response = alice.post(
        "/upload",
        data={"csrf_token": csrf_token(alice), "file": (io.BytesIO(b"x" * 3_000_000), "big.jpg")},
    )
    assert response.status_code == 413
    html = response.get_data(as_text=True)
    assert "Too large" in html and "Go to the gallery" in html


def test_unexpected_errors_get_a_friendly_500_without_details(
    alice: FlaskClient, backends: Backends
) -> None:
    real = backends.images

    class Broken:
        def __getattr__(self, name: str) -> object:
            raise RuntimeError("database exploded: secret internals")

    backends.images = Broken()  # type: ignore[assignment]
    page = alice.get("/")
    api = alice.get("/api/v1/images")
    backends.images = real
    assert page.status_code == 500
    html = page.get_data(as_text=True)
    assert "Something went wrong on our side" in html
    assert "exploded" not in html and "Traceback" not in html
    assert api.status_code == 500
    assert api.json == {
        "error": {
            "code": "internal",
            "message": "Something went wrong on our side. Please try again.",
        }
    }


def test_share_images_embed_anywhere_private_images_nowhere(
    alice: FlaskClient, client: FlaskClient
) -> None:
    image = upload(alice, imagefiles.png(), "x.png").json
    private = alice.get(path_of(image["image_url"]))
    assert private.headers["Cross-Origin-Resource-Policy"] == "same-origin"
    from conftest import csrf_token

    share = json_of(
        alice.post(
            f"/api/v1/images/{image['id']}/shares",
            json={},
            headers={"X-CSRFToken": csrf_token(alice)},
        )
    )
    public = client.get(path_of(share["share_image_url"]))
    assert public.status_code == 200
    assert public.headers["Cross-Origin-Resource-Policy"] == "cross-origin"


def test_several_ranges_get_the_whole_file(alice: FlaskClient) -> None:
    image = upload(alice, imagefiles.png(), "x.png").json
    path = path_of(image["image_url"])
    whole = alice.get(path)
    response = alice.get(path, headers={"Range": "bytes=0-1,5-6"})
    assert response.status_code == 200
    assert response.data == whole.data


@pytest.mark.parametrize(
    "cursor",
    [
        "MDAwMS0wMS0wMVQwMDowMDowMCsyMzo1OXx4",  # year 1 at +23:59: overflows in UTC
        "MjAyNi0wMS0wMVQwMDowMDowMHx4",  # no time zone
        "MjAyNi0wMS0wMVQwMDowMDowMCswMDowMHw",  # no id
        "%%%",
    ],
)
def test_crafted_cursors_are_a_clear_400(alice: FlaskClient, cursor: str) -> None:
    api = alice.get("/api/v1/images", query_string={"cursor": cursor})
    assert api.status_code == 400
    assert json_of(api)["error"]["code"] == "invalid_cursor"
    assert alice.get("/", query_string={"cursor": cursor}).status_code == 400


def test_share_tokens_never_reach_the_logs(
    alice: FlaskClient, client: FlaskClient, caplog: pytest.LogCaptureFixture
) -> None:
    from conftest import csrf_token

    image = upload(alice, imagefiles.png(), "x.png").json
    share = json_of(
        alice.post(
            f"/api/v1/images/{image['id']}/shares",
            json={},
            headers={"X-CSRFToken": csrf_token(alice)},
        )
    )
    token = share["share_url"].rsplit("/", 1)[1]
    caplog.clear()
    caplog.set_level(logging.INFO)
    assert client.get(path_of(share["share_url"])).status_code == 200
    assert client.get(path_of(share["share_image_url"])).status_code == 200
    lines = [
        CloudLoggingFormatter().format(r) for r in caplog.records if r.name.startswith("picbucket")
    ]
    assert any('"/s/<token>"' in line for line in lines)
    assert not [line for line in lines if token in line]


@pytest.mark.parametrize("settings_overrides", [{"rate_limit_api": "3 per minute"}])
def test_made_up_tokens_share_one_counter_per_address(client: FlaskClient) -> None:
    statuses = [
        client.get("/api/v1/images", headers={"Authorization": f"Bearer pb_fake{i}"}).status_code
        for i in range(5)
    ]
    assert statuses == [401, 401, 401, 429, 429]


def test_share_page_visitors_get_no_cookie(alice: FlaskClient, client: FlaskClient) -> None:
    from conftest import csrf_token

    image = upload(alice, imagefiles.png(), "x.png").json
    share = json_of(
        alice.post(
            f"/api/v1/images/{image['id']}/shares",
            json={},
            headers={"X-CSRFToken": csrf_token(alice)},
        )
    )
    page = client.get(path_of(share["share_url"]))
    assert page.status_code == 200
    assert "Set-Cookie" not in page.headers
    assert "Set-Cookie" not in client.get("/").headers
