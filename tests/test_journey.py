"""The whole product over HTTP: upload → gallery → image → share → view → revoke → delete."""

from __future__ import annotations

from flask.testing import FlaskClient

import imagefiles
from conftest import csrf_token
from helpers import attribute, path_of, stored_blob_keys, upload, user_id_of
from picbucket.ports import Backends


def test_upload_share_revoke_delete(
    alice: FlaskClient, client: FlaskClient, backends: Backends
) -> None:
    response = upload(alice, imagefiles.jpeg((800, 600)), "Beach <img src=x onerror=alert(1)>.jpg")
    assert response.status_code == 201, response.json
    image = response.json
    assert image["title"] == "Beach <img src=x onerror=alert(1)>"
    assert (image["width"], image["height"]) == (800, 600)

    gallery = alice.get("/").get_data(as_text=True)
    assert path_of(image["thumbnail_url"]) in gallery
    assert "Beach &lt;img src=x onerror=alert(1)&gt;" in gallery  # titles are escaped
    assert "<img src=x" not in gallery

    page = alice.get(path_of(image["page_url"]))
    assert page.status_code == 200
    assert "800 × 600 px" in page.get_data(as_text=True)
    original = alice.get(path_of(image["image_url"]))
    assert original.status_code == 200
    assert original.data[:2] == b"\xff\xd8"

    token = csrf_token(alice)
    created = alice.post(
        f"/images/{image['id']}/shares", data={"csrf_token": token, "expires": "1d"}
    )
    assert created.status_code == 302  # POST/redirect/GET: the link is shown on the GET
    html = alice.get(created.headers["Location"]).get_data(as_text=True)
    share_path = path_of(attribute(html, "input", "value", id="snippet-1"))
    assert share_path.startswith("/s/")

    # Anyone, signed out, can view the shared image.
    public = client.get(share_path)
    assert public.status_code == 200
    assert public.headers["Referrer-Policy"] == "no-referrer"
    public_html = public.get_data(as_text=True)
    assert attribute(public_html, "meta", "content", name="twitter:card") == "summary_large_image"
    image_path = path_of(attribute(public_html, "meta", "content", property="og:image"))
    shared_bytes = client.get(image_path)
    assert shared_bytes.status_code == 200
    assert shared_bytes.data == original.data

    # Revoke: the link and its image now 404.
    owner = user_id_of(alice)
    share_id = backends.shares.for_owner(owner)[0].id
    assert alice.post(f"/shares/{share_id}/revoke", data={"csrf_token": token}).status_code == 302
    assert client.get(share_path).status_code == 404
    assert client.get(image_path).status_code == 404
    assert "revoked" in client.get(share_path).get_data(as_text=True)

    # Delete: gone from the gallery into the trash; emptying it removes the bytes and
    # gives the quota back.
    assert (
        alice.post(f"/images/{image['id']}/delete", data={"csrf_token": token}).status_code == 302
    )
    assert path_of(image["thumbnail_url"]) not in alice.get("/").get_data(as_text=True)
    assert alice.get(path_of(image["image_url"])).status_code == 404
    assert alice.post("/trash/empty", data={"csrf_token": token}).status_code == 303
    assert stored_blob_keys(backends) == []
    assert backends.images.usage(owner).bytes == 0
    assert backends.shares.for_owner(owner) == []
