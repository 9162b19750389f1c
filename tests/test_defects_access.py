"""Issue 11 defects over HTTP: token-readable image bytes, inline title errors, sign-out
per device, named ShareX tokens, the share page's expiry.

Each test failed on the code before the fix (the defect named in its docstring).
"""

from __future__ import annotations

from typing import Any

from flask.testing import FlaskClient

import imagefiles
from conftest import csrf_token, sign_in
from helpers import attribute, elements, path_of, upload, user_id_of
from picbucket.ports import Backends


def _token(client: FlaskClient, name: str = "script") -> str:
    page = client.post(
        "/settings/tokens",
        data={"csrf_token": csrf_token(client), "name": name},
        follow_redirects=True,
    ).get_data(as_text=True)
    return attribute(page, "input", "value", id="new-token")


def test_api_image_urls_can_be_fetched_with_the_api_token(
    alice: FlaskClient, bob: FlaskClient, client: FlaskClient
) -> None:
    """Defect: the API's image_url answered the token holder with a 302 to /login."""
    secret = _token(alice)
    auth = {"Authorization": f"Bearer {secret}"}
    made = upload(client, imagefiles.jpeg((640, 480)), "pier.jpg", **auth)
    assert made.status_code == 201, made.json
    for field in ("image_url", "display_url", "thumbnail_url"):
        answer = client.get(path_of(made.json[field]), headers=auth)
        assert answer.status_code == 200, field
        assert answer.data[:2] == b"\xff\xd8", field
        assert answer.headers["X-Content-Type-Options"] == "nosniff"
    original = client.get(path_of(made.json["image_url"]), headers=auth)
    assert len(original.data) == made.json["bytes"]
    # Without the token: still a sign-in redirect for browsers.
    assert client.get(path_of(made.json["image_url"])).status_code == 302
    # A wrong or revoked token is refused outright, never treated as a visitor.
    bad = client.get(path_of(made.json["image_url"]), headers={"Authorization": "Bearer pb_x"})
    assert bad.status_code == 401
    assert bad.headers["WWW-Authenticate"].startswith("Bearer")
    # Someone else's token reads only its own owner's images.
    bob_auth = {"Authorization": f"Bearer {_token(bob)}"}
    assert client.get(path_of(made.json["image_url"]), headers=bob_auth).status_code == 404


def test_whitespace_title_is_an_inline_message(alice: FlaskClient) -> None:
    """Defect: a whitespace-only title gave a full-page 400."""
    made = upload(alice, imagefiles.jpeg((200, 100)), "quay.jpg").json
    answer = alice.post(
        f"/images/{made['id']}/title", data={"csrf_token": csrf_token(alice), "title": "   "}
    )
    assert answer.status_code == 400
    html = answer.get_data(as_text=True)
    # The image page itself, with the message beside the field.
    assert 'id="title-error"' in html
    (error,) = elements(html, "div", id="title-error")
    assert "at least one visible character" in error.text
    assert 'aria-invalid="true"' in html and "Delete image" in html
    assert "quay" in alice.get(f"/images/{made['id']}").get_data(as_text=True)


def test_sign_out_ends_this_device_only(app: Any) -> None:
    """Defect: "Sign out" signed out every device."""
    laptop, phone = app.test_client(), app.test_client()
    sign_in(laptop, "carol@example.com")
    sign_in(phone, "carol@example.com")
    answer = laptop.post("/logout", data={"csrf_token": csrf_token(laptop)})
    assert answer.status_code == 302
    assert "signed out on this device" in laptop.get("/").get_data(as_text=True)
    assert laptop.get("/settings").status_code == 302
    assert phone.get("/settings").status_code == 200  # still signed in


def test_sign_out_everywhere_tells_the_other_device_why(app: Any) -> None:
    """Defect: the other device was signed out with no word why."""
    laptop, phone = app.test_client(), app.test_client()
    sign_in(laptop, "carol@example.com")
    sign_in(phone, "carol@example.com")
    assert 'action="/logout/everywhere"' in laptop.get("/settings").get_data(as_text=True)
    laptop.post("/logout/everywhere", data={"csrf_token": csrf_token(laptop)})
    assert laptop.get("/settings").status_code == 302
    # The phone's next page goes to sign-in, which first says what happened.
    to_login = phone.get("/settings")
    assert to_login.headers["Location"].startswith("/login")
    to_landing = phone.get(to_login.headers["Location"])
    assert to_landing.headers["Location"] == "/"
    landing = phone.get("/").get_data(as_text=True)
    assert "Sign out everywhere” was chosen on another device" in landing
    # Said once; the next sign-in goes straight to the provider, and ends on the page
    # the phone asked for.
    assert "another device" not in phone.get("/").get_data(as_text=True)
    assert phone.get("/login").headers["Location"].startswith("http")
    with phone.session_transaction() as session:
        assert session["next"] == "/settings"


def test_sharex_download_says_it_makes_a_token_and_names_it(
    alice: FlaskClient, backends: Backends
) -> None:
    """Defect: each ShareX download silently created another token named "ShareX"."""
    settings_page = alice.get("/settings").get_data(as_text=True)
    (button,) = elements(settings_page, "button", id="sharex-download")
    assert "new token" in button.text
    token = csrf_token(alice)
    for _ in range(2):
        answer = alice.post("/settings/sharex", data={"csrf_token": token, "expires": "1d"})
        assert answer.status_code == 200
    names = [t.name for t in backends.tokens.for_owner(user_id_of(alice))]
    today = backends.clock().strftime("%Y-%m-%d")
    assert len(names) == 2
    assert all(name.startswith(f"ShareX on {today}") for name in names)
    assert "ShareX on " in alice.get("/settings").get_data(as_text=True)


def test_share_page_shows_when_the_link_expires(alice: FlaskClient, client: FlaskClient) -> None:
    """Defect: the share page did not say when the link stops working."""
    made = upload(alice, imagefiles.jpeg((200, 100)), "dune.jpg").json
    auth = {"X-CSRFToken": csrf_token(alice)}

    def share(expires: str) -> dict[str, str]:
        answer = alice.post(
            f"/api/v1/images/{made['id']}/shares", json={"expires": expires}, headers=auth
        )
        assert answer.status_code == 201, answer.json
        body = answer.json
        assert isinstance(body, dict)
        return body

    timed, forever = share("1d"), share("never")
    page = client.get(path_of(timed["share_url"])).get_data(as_text=True)
    expires = timed["expires"]
    assert f'<time datetime="{expires}"' in page
    assert "This link works until" in page
    (shown,) = elements(page, "time", datetime=expires)
    assert "UTC" in shown.text
    never = client.get(path_of(forever["share_url"])).get_data(as_text=True)
    assert "until its owner revokes it" in never
