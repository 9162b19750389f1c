"""JSON API with personal tokens and with session + CSRF header."""

from __future__ import annotations

import io
import json

from flask.testing import FlaskClient

import imagefiles
from conftest import csrf_token
from helpers import attribute, elements, json_of, path_of, upload
from picbucket.ports import Backends


def _new_token(client: FlaskClient, name: str = "curl") -> str:
    page = client.post(
        "/settings/tokens",
        data={"csrf_token": csrf_token(client), "name": name},
        follow_redirects=True,
    ).get_data(as_text=True)
    return attribute(page, "input", "value", id="new-token")


def test_token_lifecycle_and_full_api(alice: FlaskClient, client: FlaskClient) -> None:
    secret = _new_token(alice)
    assert secret.startswith("pb_")
    # Shown once: the settings page does not show it again.
    assert secret not in alice.get("/settings").get_data(as_text=True)
    auth = {"Authorization": f"Bearer {secret}"}

    created = upload(client, imagefiles.jpeg(), "api.jpg", **auth)
    assert created.status_code == 201
    body = json_of(created)
    assert set(body) >= {"id", "page_url", "image_url", "thumbnail_url"}
    assert created.headers["Location"] == body["page_url"]
    image_id = body["id"]

    listed = json_of(client.get("/api/v1/images", headers=auth))
    assert [item["id"] for item in listed["items"]] == [image_id]
    assert listed["next_cursor"] is None

    renamed = client.patch(f"/api/v1/images/{image_id}", json={"title": "Renamed"}, headers=auth)
    assert renamed.status_code == 200 and json_of(renamed)["title"] == "Renamed"
    assert json_of(client.get(f"/api/v1/images/{image_id}", headers=auth))["title"] == "Renamed"

    share = client.post(f"/api/v1/images/{image_id}/shares", json={"expires": "1h"}, headers=auth)
    assert share.status_code == 201
    assert json_of(share)["expires"] is not None
    assert client.get(path_of(json_of(share)["share_url"])).status_code == 200
    shares = json_of(client.get("/api/v1/shares", headers=auth))["items"]
    assert [s["id"] for s in shares] == [json_of(share)["id"]]
    assert client.delete(f"/api/v1/shares/{json_of(share)['id']}", headers=auth).status_code == 204
    assert client.get(path_of(json_of(share)["share_url"])).status_code == 404

    assert client.delete(f"/api/v1/images/{image_id}", headers=auth).status_code == 204
    assert client.get(f"/api/v1/images/{image_id}", headers=auth).status_code == 404

    # The browser sees the token was used; revoking it locks the API out.
    settings_page = alice.get("/settings").get_data(as_text=True)
    assert "last used" in settings_page
    (revoke,) = [
        form["action"]
        for form in elements(settings_page, "form")
        if form.get("action", "").endswith("/revoke")
    ]
    token_id = revoke.removeprefix("/settings/tokens/").removesuffix("/revoke")
    alice.post(f"/settings/tokens/{token_id}/revoke", data={"csrf_token": csrf_token(alice)})
    assert client.get("/api/v1/images", headers=auth).status_code == 401


def test_upload_with_share_returns_a_public_link(alice: FlaskClient, client: FlaskClient) -> None:
    auth = {"Authorization": f"Bearer {_new_token(alice)}"}
    response = client.post(
        "/api/v1/images?share=7d",
        data={"file": (io.BytesIO(imagefiles.png()), "x.png")},
        headers=auth,
    )
    assert response.status_code == 201
    image = client.get(path_of(json_of(response)["share"]["share_image_url"]))
    assert image.status_code == 200 and image.mimetype == "image/png"


def test_bad_tokens_get_401_json(client: FlaskClient) -> None:
    for header in ("Bearer pb_wrong", "Bearer ", "Basic dXNlcjpwYXNz", "pb_x"):
        response = client.get("/api/v1/images", headers={"Authorization": header})
        assert response.status_code == 401
        assert json_of(response)["error"]["code"] == "unauthorized"
        assert response.headers["WWW-Authenticate"].startswith("Bearer")
    assert client.get("/api/v1/images").status_code == 401


def test_session_needs_csrf_header_for_changes(alice: FlaskClient) -> None:
    image_id = json_of(upload(alice, imagefiles.png(), "s.png"))["id"]
    assert alice.get("/api/v1/images").status_code == 200  # reads need no header
    no_header = alice.patch(f"/api/v1/images/{image_id}", json={"title": "x"})
    assert no_header.status_code == 403
    assert json_of(no_header)["error"]["code"] == "csrf_failed"
    wrong = alice.delete(f"/api/v1/images/{image_id}", headers={"X-CSRFToken": "forged"})
    assert wrong.status_code == 403
    ok = alice.patch(
        f"/api/v1/images/{image_id}",
        json={"title": "ok"},
        headers={"X-CSRFToken": csrf_token(alice)},
    )
    assert ok.status_code == 200


def test_bad_input_is_a_clear_400(alice: FlaskClient) -> None:
    headers = {"X-CSRFToken": csrf_token(alice)}
    image_id = json_of(upload(alice, imagefiles.png(), "s.png"))["id"]
    blank = alice.patch(f"/api/v1/images/{image_id}", json={"title": "   "}, headers=headers)
    assert blank.status_code == 400
    not_json = alice.patch(f"/api/v1/images/{image_id}", data="title=x", headers=headers)
    assert not_json.status_code == 400
    bad_expiry = alice.post(
        f"/api/v1/images/{image_id}/shares", json={"expires": "forever"}, headers=headers
    )
    assert bad_expiry.status_code == 400
    assert "1h, 1d, 7d, 30d, never" in json_of(bad_expiry)["error"]["message"]
    assert json_of(alice.get(f"/api/v1/images/{image_id}"))["title"] == "s"
    assert json_of(alice.get("/api/v1/shares"))["items"] == []


def test_sharex_file_uploads_and_returns_a_public_link(
    alice: FlaskClient, client: FlaskClient
) -> None:
    response = alice.post(
        "/settings/sharex", data={"csrf_token": csrf_token(alice), "expires": "1d"}
    )
    assert response.status_code == 200
    assert "picbucket.sxcu" in response.headers["Content-Disposition"]
    config = json.loads(response.data)
    assert config["FileFormName"] == "file"
    assert config["Body"] == "MultipartFormData"
    upload_path = path_of(config["RequestURL"])
    sent = client.post(
        upload_path,
        data={"file": (io.BytesIO(imagefiles.png()), "screenshot.png")},
        headers=config["Headers"],
    )
    assert sent.status_code == 201
    assert json_of(sent)["share"]["share_image_url"]


def test_direct_upload_needs_cloud_storage_on_local_disk(alice: FlaskClient) -> None:
    response = alice.post(
        "/api/v1/uploads",
        json={"size": 40 * 1024 * 1024, "content_type": "image/jpeg"},
        headers={"X-CSRFToken": csrf_token(alice)},
    )
    # Local disk, and the emulated bucket without a signing key, cannot take direct uploads.
    assert response.status_code == 400
    assert "needs Cloud Storage with URL signing" in json_of(response)["error"]["message"]


def test_upload_with_an_unknown_share_choice_stores_nothing(
    alice: FlaskClient, backends: Backends
) -> None:
    response = alice.post(
        "/api/v1/images?share=forever",
        data={"file": (io.BytesIO(imagefiles.png()), "x.png")},
        headers={"X-CSRFToken": csrf_token(alice)},
    )
    assert response.status_code == 400
    assert "1h, 1d, 7d, 30d, never" in json_of(response)["error"]["message"]
    assert json_of(alice.get("/api/v1/images"))["items"] == []
    assert list(backends.blobs.scan("")) == []
