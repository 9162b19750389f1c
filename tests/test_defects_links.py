"""Issue 11 defects over HTTP: reload-safe forms, copyable share links, private-link labels.

Each test failed on the code before the fix (the defect named in its docstring).
"""

from __future__ import annotations

import re
from datetime import timedelta

from flask.testing import FlaskClient

import imagefiles
from conftest import csrf_token
from helpers import Element, attribute, elements, parse, path_of, upload, user_id_of
from picbucket.domain import Share, hash_secret, new_id
from picbucket.ports import Backends


def _image(client: FlaskClient, title: str = "harbour") -> dict[str, str]:
    made = upload(client, imagefiles.jpeg((320, 240)), f"{title}.jpg")
    assert made.status_code == 201, made.json
    result: dict[str, str] = made.json
    return result


def _share_urls(html: str) -> list[str]:
    """Return the share-page URLs a page offers to copy."""
    return _share_links(parse(html))


def _share_links(within: Element) -> list[str]:
    found = [el["data-copy"] for el in within.descendants if "data-copy" in el]
    return [url for url in found if re.fullmatch(r"https?://\S+/s/[A-Za-z0-9_-]{22}", url)]


def test_reloading_after_create_link_makes_no_second_link(
    alice: FlaskClient, backends: Backends
) -> None:
    """Defect: "Create link" answered the POST with a page; a reload posted it again."""
    image = _image(alice)
    created = alice.post(
        f"/images/{image['id']}/shares", data={"csrf_token": csrf_token(alice), "expires": "1d"}
    )
    assert created.status_code == 302
    assert created.headers["Location"] == f"/images/{image['id']}#new-share"
    first = alice.get(f"/images/{image['id']}").get_data(as_text=True)
    assert "Link created" in first
    # A reload is a GET of the image page: no new link, no "created" banner again.
    again = alice.get(f"/images/{image['id']}").get_data(as_text=True)
    assert "Link created" not in again
    assert len(backends.shares.for_owner(user_id_of(alice))) == 1
    # The new link is still there to copy, in the list.
    assert len(_share_urls(again)) >= 1


def test_reloading_after_create_token_makes_no_second_token(
    alice: FlaskClient, backends: Backends
) -> None:
    """Defect: "Create token" answered the POST with a page; a reload minted another."""
    created = alice.post(
        "/settings/tokens", data={"csrf_token": csrf_token(alice), "name": "laptop"}
    )
    assert created.status_code == 302
    page = alice.get("/settings").get_data(as_text=True)
    secret = attribute(page, "input", "value", id="new-token")
    assert secret.startswith("pb_")
    # The secret is not in the session cookie in the clear.
    cookie = alice.get_cookie("picbucket_session")
    assert cookie is None or secret not in cookie.value
    reloaded = alice.get("/settings").get_data(as_text=True)
    assert secret not in reloaded  # shown once
    assert 'id="new-token"' not in reloaded
    assert [t.name for t in backends.tokens.for_owner(user_id_of(alice))] == ["laptop"]
    # The token shown works.
    assert alice.get("/api/v1/images", headers={"Authorization": f"Bearer {secret}"}).json


def test_get_of_a_form_url_goes_to_its_page_not_405(alice: FlaskClient) -> None:
    """Defect: opening a form's URL (reload, bookmark) showed a bare 405 page."""
    image = _image(alice)
    share_id = new_id()
    expected = {
        f"/images/{image['id']}/shares": f"/images/{image['id']}",
        f"/images/{image['id']}/title": f"/images/{image['id']}",
        f"/images/{image['id']}/delete": f"/images/{image['id']}",
        f"/shares/{share_id}/revoke": "/shares",
        "/settings/tokens": "/settings",
        "/settings/sharex": "/settings",
        f"/settings/tokens/{share_id}/revoke": "/settings",
        "/upload": "/",
        "/logout": "/",
    }
    for url, target in expected.items():
        answer = alice.get(url)
        assert answer.status_code == 302, url
        assert answer.headers["Location"] == target, url
    # Nothing was deleted by the GET of the delete URL.
    assert alice.get(f"/images/{image['id']}").status_code == 200


def test_private_links_are_labelled_and_the_share_link_is_offered(alice: FlaskClient) -> None:
    """Defect: "Copy page link" copied a sign-in-only URL and nothing said so."""
    image = _image(alice)
    before = alice.get(f"/images/{image['id']}").get_data(as_text=True)
    assert "Copy page link <span" in before and "(private)" in before
    assert "open only for you, signed in" in before
    assert "Copy share link" not in before
    alice.post(
        f"/images/{image['id']}/shares", data={"csrf_token": csrf_token(alice), "expires": "7d"}
    )
    after = alice.get(f"/images/{image['id']}").get_data(as_text=True)
    (share_button,) = elements(after, "div", id="copy-links")
    assert "Copy share link" in share_button.text
    (url,) = _share_links(share_button)
    # The offered link opens for anyone, without signing in.
    assert alice.application.test_client().get(path_of(url)).status_code == 200


def test_shared_links_page_lists_copy_views_expiry_and_revokes(
    alice: FlaskClient, client: FlaskClient, backends: Backends
) -> None:
    """Defect: a share link could not be copied again once its page was left."""
    first, second = _image(alice, "first"), _image(alice, "second")
    token = csrf_token(alice)
    alice.post(f"/images/{first['id']}/shares", data={"csrf_token": token, "expires": "1d"})
    alice.post(f"/images/{second['id']}/shares", data={"csrf_token": token, "expires": "never"})
    # Consume the "just created" banner, as the redirect's GET would.
    alice.get(f"/images/{second['id']}")

    listing = alice.get("/shares").get_data(as_text=True)
    assert "first" in listing and "second" in listing
    assert "never expires" in listing and "expires <time" in listing
    urls = _share_urls(listing)
    assert len(urls) == 2
    # Each copied link opens its own image; each opening is counted.
    for _ in range(3):
        assert client.get(path_of(urls[0])).status_code == 200
    listing = alice.get("/shares").get_data(as_text=True)
    assert "3 views" in listing and "0 views" in listing
    api_items = alice.get("/api/v1/shares").json
    assert api_items is not None
    assert sorted(item["views"] for item in api_items["items"]) == [0, 3]
    # The image page lists the same link, copyable.
    assert urls[0] in alice.get(f"/images/{second['id']}").get_data(as_text=True)

    share_id = next(
        s.id for s in backends.shares.for_owner(user_id_of(alice)) if s.image_id == second["id"]
    )
    revoked = alice.post(
        f"/shares/{share_id}/revoke", data={"csrf_token": token, "next": "/shares"}
    )
    assert revoked.headers["Location"] == "/shares"
    listing = alice.get("/shares").get_data(as_text=True)
    assert _share_urls(listing) == [urls[1]]
    assert client.get(path_of(urls[0])).status_code == 404


def test_old_links_keep_working_and_say_re_create_to_copy(
    alice: FlaskClient, client: FlaskClient, backends: Backends
) -> None:
    """A link made before tokens were derived still opens, but cannot be shown again."""
    image = _image(alice)
    old_token = new_id()  # random, as before: only its hash was stored
    now = backends.clock()
    backends.shares.add(
        Share(
            id=new_id(),
            owner_id=user_id_of(alice),
            image_id=image["id"],
            token_hash=hash_secret(old_token),
            created=now,
            expires=now + timedelta(days=1),
        )
    )
    assert client.get(f"/s/{old_token}").status_code == 200
    listing = alice.get("/shares").get_data(as_text=True)
    assert "re-create it on the image page to copy it" in listing
    assert _share_urls(listing) == []
    page = alice.get(f"/images/{image['id']}").get_data(as_text=True)
    assert "create a new link to copy one" in page


def test_other_people_see_none_of_my_links(alice: FlaskClient, bob: FlaskClient) -> None:
    image = _image(alice)
    alice.post(
        f"/images/{image['id']}/shares", data={"csrf_token": csrf_token(alice), "expires": "1d"}
    )
    assert _share_urls(alice.get("/shares").get_data(as_text=True))
    assert _share_urls(bob.get("/shares").get_data(as_text=True)) == []
    assert "You have no working share links" in bob.get("/shares").get_data(as_text=True)


def test_album_links_are_listed_with_copy_views_and_limits(
    alice: FlaskClient, client: FlaskClient
) -> None:
    """The "Shared links" page lists album links too, copyable, with their limits."""
    made = _image(alice, "cover")
    headers = {"X-CSRFToken": csrf_token(alice)}
    album = alice.post("/api/v1/albums", json={"title": "Lisbon trip"}, headers=headers).json
    assert album is not None
    alice.post(
        "/api/v1/images/bulk",
        json={"action": "add_to_album", "album_id": album["id"], "image_ids": [made["id"]]},
        headers=headers,
    )
    link = alice.post(
        f"/api/v1/albums/{album['id']}/shares",
        json={"expires": "1d", "max_views": 5, "password": "correct horse"},
        headers=headers,
    ).json
    assert link is not None
    listing = alice.get("/shares").get_data(as_text=True)
    assert "Lisbon trip" in listing and ">Album<" in listing and ">Password<" in listing
    assert "0 views of 5" in listing
    assert f'data-copy="{link["share_url"]}"' in listing
    share_id = link["id"]
    revoked = alice.post(
        f"/shares/{share_id}/revoke", data={"csrf_token": csrf_token(alice), "next": "/shares"}
    )
    assert revoked.headers["Location"] == "/shares"
    assert "Lisbon trip" not in alice.get("/shares").get_data(as_text=True)
    assert client.get(path_of(link["share_url"])).status_code == 404
