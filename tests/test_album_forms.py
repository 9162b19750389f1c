"""Album, trash and link-password forms over HTTP, both stacks: where they send you back.

The redirect test failed before the fix: ``/\\evil.com`` and ``/\\t/evil`` passed the
forms' own check, and browsers read both as another site.
"""

from __future__ import annotations

import pytest
from flask.testing import FlaskClient

import imagefiles
from conftest import csrf_token
from helpers import json_of, upload
from picbucket.domain import InvalidInput
from picbucket.services.links import LinkOptions, check_options


@pytest.mark.parametrize("target", ["/\\evil.com", "/\t/evil", "//evil.com", "https://evil.com"])
def test_forms_never_send_you_to_another_site(alice: FlaskClient, target: str) -> None:
    made = json_of(upload(alice, imagefiles.png((20, 20)), "a.png"))
    created = alice.post(
        "/albums",
        data={"csrf_token": csrf_token(alice), "title": "Trip", "next": target},
    )
    assert created.status_code == 303
    assert created.headers["Location"].startswith("/albums/")
    trashed = alice.open(
        f"/api/v1/images/{made['id']}", method="DELETE", headers={"X-CSRFToken": csrf_token(alice)}
    )
    assert trashed.status_code == 204
    restored = alice.post(
        "/trash/restore",
        data={"csrf_token": csrf_token(alice), "image_id": made["id"], "next": target},
    )
    assert restored.status_code == 303 and restored.headers["Location"] == "/trash"


def test_forms_go_back_to_a_page_of_this_site(alice: FlaskClient) -> None:
    created = alice.post(
        "/albums", data={"csrf_token": csrf_token(alice), "title": "Trip", "next": "/?from=x"}
    )
    assert created.headers["Location"] == "/?from=x"


def test_link_password_form_still_answers_at_its_address(alice: FlaskClient) -> None:
    made = json_of(upload(alice, imagefiles.png((20, 20)), "a.png"))
    headers = {"X-CSRFToken": csrf_token(alice)}
    link = json_of(alice.post(f"/api/v1/images/{made['id']}/shares", json={}, headers=headers))
    changed = alice.post(
        f"/links/{link['id']}/password",
        data={"csrf_token": csrf_token(alice), "password": "open sesame", "next": "/\\evil.com"},
    )
    assert changed.status_code == 303 and changed.headers["Location"] == "/shares"
    listed = json_of(alice.get("/api/v1/shares"))["items"]
    assert [item["has_password"] for item in listed] == [True]


@pytest.mark.parametrize(
    "options",
    [LinkOptions(expiry="2w"), LinkOptions(max_views=0), LinkOptions(password="abc")],
)
def test_link_options_are_refused_before_anything_is_made(options: LinkOptions) -> None:
    with pytest.raises(InvalidInput):
        check_options(options)


def test_the_api_says_delete_moves_an_image_to_the_trash(client: FlaskClient) -> None:
    spec = json_of(client.get("/api/v1/openapi.json"))
    delete = spec["paths"]["/images/{image_id}"]["delete"]
    assert delete["summary"] == "Move an image to the trash"
    assert "restored" in delete["description"]
