"""A client-chosen host never reaches a generated URL; the service URL decides them."""

from __future__ import annotations

import io
import json
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from flask.testing import FlaskClient

import imagefiles
from conftest import csrf_token

EVIL = "evil.example"
# What an attacker sends: every header that could pick the host, port or prefix.
FORGED = {
    "X-Forwarded-Host": EVIL,
    "X-Forwarded-Port": "8443",
    "X-Forwarded-Prefix": "/evil",
    "X-Forwarded-Proto": "https",
}


@pytest.fixture
def backend_overrides() -> dict[str, Any]:
    """URL building does not depend on the storage backend: local only."""
    return {}


def _external_urls(client: FlaskClient, headers: dict[str, str], host: str = "") -> list[str]:
    """Collect every absolute URL a user gets: OAuth redirect, share links, ShareX, API.

    ``host`` forges the Host header too, on the anonymous sign-in start only: the test
    client picks the cookies it sends by that header.
    """
    anonymous = client.application.test_client()
    login = anonymous.get("/login", headers={**headers, **({"Host": host} if host else {})})
    redirect_uri = parse_qs(urlsplit(login.headers["Location"]).query)["redirect_uri"][0]

    uploaded = client.post(
        "/api/v1/images?share=7d",
        data={"file": (io.BytesIO(imagefiles.png()), "photo.png")},
        headers={"X-CSRFToken": csrf_token(client), **headers},
        content_type="multipart/form-data",
    )
    assert uploaded.status_code == 201, uploaded.json
    sharex = client.post(
        "/settings/sharex",
        data={"csrf_token": csrf_token(client), "expires": "1d"},
        headers=headers,
    )
    assert sharex.status_code == 200
    config = json.loads(sharex.get_data(as_text=True))
    listed = client.get("/api/v1/images", headers=headers).json
    body: dict[str, Any] = uploaded.json or {}
    return [
        redirect_uri,
        body["share"]["share_url"],
        body["share"]["share_image_url"],
        config["RequestURL"],
        config["Name"],
        *_strings(body),
        *_strings(listed),
    ]


def _strings(value: object) -> list[str]:
    if isinstance(value, dict):
        return [s for v in value.values() for s in _strings(v)]
    if isinstance(value, list):
        return [s for v in value for s in _strings(v)]
    return [value] if isinstance(value, str) else []


@pytest.mark.parametrize("settings_overrides", [{"proxy_hops": 1}])
def test_forwarded_host_is_ignored_behind_a_trusted_proxy(alice: FlaskClient) -> None:
    urls = _external_urls(alice, FORGED)
    assert not [u for u in urls if EVIL in u or "8443" in u or "/evil" in u]
    # X-Forwarded-Proto is within what one trusted hop covers: URLs are https.
    assert urls[0] == "https://localhost/auth/callback"
    assert urls[1].startswith("https://localhost/s/")


@pytest.mark.parametrize(
    "settings_overrides", [{"proxy_hops": 1, "service_url": "https://pics.example.com"}]
)
def test_service_url_builds_every_external_url(alice: FlaskClient) -> None:
    urls = _external_urls(alice, FORGED, host=EVIL)
    assert not [u for u in urls if EVIL in u]
    assert urls[0] == "https://pics.example.com/auth/callback"
    assert urls[1].startswith("https://pics.example.com/s/")
    assert urls[2].startswith("https://pics.example.com/s/")
    assert urls[3].startswith("https://pics.example.com/api/v1/images?share=1d")
    assert urls[4] == "Picbucket (pics.example.com)"
    absolute = [u for u in urls[5:] if "://" in u]
    assert absolute and all(u.startswith("https://pics.example.com/") for u in absolute)


@pytest.mark.parametrize("settings_overrides", [{"service_url": "http://127.0.0.1:8000"}])
def test_service_url_keeps_its_port_and_scheme(client: FlaskClient) -> None:
    login = client.get("/login", headers={"Host": EVIL, "X-Forwarded-Proto": "https"})
    redirect_uri = parse_qs(urlsplit(login.headers["Location"]).query)["redirect_uri"][0]
    assert redirect_uri == "http://127.0.0.1:8000/auth/callback"
