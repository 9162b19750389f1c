"""Two users: every cross-user access by id fails with 404; pagination is exact."""

from __future__ import annotations

from typing import Any

import pytest
from flask.testing import FlaskClient

import imagefiles
from conftest import csrf_token
from helpers import attribute, elements, json_of, path_of, upload, user_id_of
from picbucket.ports import Backends


def test_bob_cannot_touch_alices_image(
    alice: FlaskClient, bob: FlaskClient, backends: Backends
) -> None:
    image = upload(alice, imagefiles.jpeg(), "alice-private.jpg").json
    image_id = image["id"]
    bob_token = csrf_token(bob)
    bob_api = {"X-CSRFToken": bob_token}

    assert "alice-private" not in bob.get("/").get_data(as_text=True)
    assert bob.get(f"/images/{image_id}").status_code == 404
    assert bob.get(path_of(image["image_url"])).status_code == 404
    assert bob.get(path_of(image["thumbnail_url"])).status_code == 404
    assert (
        bob.post(
            f"/images/{image_id}/title", data={"csrf_token": bob_token, "title": "x"}
        ).status_code
        == 404
    )
    assert bob.post(f"/images/{image_id}/delete", data={"csrf_token": bob_token}).status_code == 404
    assert (
        bob.post(
            f"/images/{image_id}/shares", data={"csrf_token": bob_token, "expires": "never"}
        ).status_code
        == 404
    )
    assert bob.get(f"/api/v1/images/{image_id}").status_code == 404
    assert (
        bob.patch(f"/api/v1/images/{image_id}", json={"title": "x"}, headers=bob_api).status_code
        == 404
    )
    assert bob.delete(f"/api/v1/images/{image_id}", headers=bob_api).status_code == 404
    assert (
        bob.post(f"/api/v1/images/{image_id}/shares", json={}, headers=bob_api).status_code == 404
    )
    assert json_of(bob.get("/api/v1/images"))["items"] == []

    # Alice's share and token cannot be revoked by Bob either.
    alice_token = csrf_token(alice)
    alice.post(f"/images/{image_id}/shares", data={"csrf_token": alice_token, "expires": "never"})
    share_id = backends.shares.for_owner(user_id_of(alice))[0].id
    assert bob.post(f"/shares/{share_id}/revoke", data={"csrf_token": bob_token}).status_code == 404
    assert bob.delete(f"/api/v1/shares/{share_id}", headers=bob_api).status_code == 404
    assert json_of(bob.get("/api/v1/shares"))["items"] == []
    alice.post("/settings/tokens", data={"csrf_token": alice_token, "name": "laptop"})
    token_id = backends.tokens.for_owner(user_id_of(alice))[0].id
    assert (
        bob.post(f"/settings/tokens/{token_id}/revoke", data={"csrf_token": bob_token}).status_code
        == 404
    )

    # Everything of Alice's is intact.
    assert json_of(alice.get(f"/api/v1/images/{image_id}"))["title"] == "alice-private"
    assert backends.shares.for_owner(user_id_of(alice))[0].revoked is None
    assert len(backends.tokens.for_owner(user_id_of(alice))) == 1


@pytest.mark.parametrize("settings_overrides", [{"page_size": 4}])
def test_cursor_pagination_returns_every_image_exactly_once(alice: FlaskClient) -> None:
    uploaded = {
        json_of(upload(alice, imagefiles.png((20 + i, 20)), f"img{i}.png"))["id"] for i in range(11)
    }
    seen: list[str] = []
    cursor: str | None = None
    pages = 0
    while True:
        query: dict[str, Any] = {"limit": 3}
        if cursor:
            query["cursor"] = cursor
        page = json_of(alice.get("/api/v1/images", query_string=query))
        seen += [item["id"] for item in page["items"]]
        cursor = page["next_cursor"]
        pages += 1
        if not cursor:
            break
    assert pages == 4
    assert len(seen) == len(set(seen)) == 11
    assert set(seen) == uploaded
    # Newest first.
    created = [json_of(alice.get(f"/api/v1/images/{i}"))["created"] for i in seen]
    assert created == sorted(created, reverse=True)

    # The HTML gallery pages with the same cursors (page size 4 here).
    html_seen = 0
    html = alice.get("/").get_data(as_text=True)
    while True:
        html_seen += len(elements(html, "li", class_="gallery-item"))
        if not elements(html, "a", id="load-more"):
            break
        cursor = attribute(html, "a", "data-cursor", id="load-more")
        html = alice.get("/", query_string={"cursor": cursor}).get_data(as_text=True)
    assert html_seen == 11


def test_tampered_cursor_is_a_clear_400(alice: FlaskClient) -> None:
    response = alice.get("/api/v1/images", query_string={"cursor": "not-a-cursor!!"})
    assert response.status_code == 400
    assert json_of(response)["error"]["code"] == "invalid_cursor"


@pytest.mark.parametrize("bad_id", ["..", ".", "__x__", "a" * 23, "a/b", "%2e%2e"])
def test_malformed_ids_are_not_found_on_every_backend(alice: FlaskClient, bad_id: str) -> None:
    headers = {"X-CSRFToken": csrf_token(alice)}
    token = csrf_token(alice)
    assert alice.get(f"/api/v1/images/{bad_id}").status_code == 404
    assert alice.delete(f"/api/v1/images/{bad_id}", headers=headers).status_code == 404
    assert (
        alice.patch(f"/api/v1/images/{bad_id}", json={"title": "x"}, headers=headers).status_code
        == 404
    )
    assert alice.delete(f"/api/v1/shares/{bad_id}", headers=headers).status_code == 404
    assert (
        alice.post(f"/settings/tokens/{bad_id}/revoke", data={"csrf_token": token}).status_code
        == 404
    )
    assert alice.get(f"/s/{bad_id}").status_code == 404
