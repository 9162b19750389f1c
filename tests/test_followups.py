"""Follow-ups across features, over HTTP on both stacks: a person's own quota everywhere,
links that stop with their owner, trash wording, link options, export links, idempotency."""

from __future__ import annotations

import io
import json
import zipfile
from datetime import timedelta
from typing import Any

from flask.testing import FlaskClient

import imagefiles
from conftest import csrf_token
from helpers import elements, json_of, path_of, upload, user_id_of
from picbucket.domain import human_bytes
from picbucket.ports import Backends
from picbucket.services.reconcile import reconcile
from picbucket.settings import MIB
from test_people import admin, settings_overrides

# An administrator, and a default quota of 3 photos so an override is visible.
__all__ = ["admin", "settings_overrides"]  # fixtures used by name


def _post(client: FlaskClient, path: str, **form: str) -> Any:
    return client.post(path, data={"csrf_token": csrf_token(client), **form})


def _api(client: FlaskClient, method: str, path: str, body: object | None = None) -> Any:
    return client.open(
        f"/api/v1{path}", method=method, json=body, headers={"X-CSRFToken": csrf_token(client)}
    )


def _photo(client: FlaskClient, seed: int = 1) -> str:
    created = upload(client, imagefiles.noise_png((64, 48), seed=seed), "x.png")
    assert created.status_code == 201, created.data
    return str(json_of(created)["id"])


# -- 1. a person's own quota ----------------------------------------------------------


def test_own_quota_is_what_the_gallery_api_and_direct_uploads_use(
    admin: FlaskClient, alice: FlaskClient
) -> None:
    alice_id = user_id_of(alice)
    assert _post(admin, f"/admin/people/{alice_id}/quota", megabytes="7", images="1").status_code
    _photo(alice)

    me = json_of(_api(alice, "GET", "/me"))["quota"]
    assert (me["max_bytes"], me["max_images"], me["used_images"]) == (7 * MIB, 1, 1)
    # The gallery's quota line says 7 MB, not the default.
    [line] = elements(alice.get("/").get_data(as_text=True), "p", id="quota")
    assert f"of {human_bytes(7 * MIB)} used" in " ".join(line.text.split())
    # A direct upload is refused by her quota of 1 photo (the default would allow 3).
    started = _api(alice, "POST", "/uploads", {"size": 1000, "content_type": "image/png"})
    assert started.status_code == 413, started.data
    assert "quota of 1 images" in json_of(started)["error"]["message"]


# -- 2. links stop with their owner ----------------------------------------------------


def test_album_and_image_links_of_a_disabled_owner_answer_404_until_enabled(
    admin: FlaskClient, alice: FlaskClient, client: FlaskClient
) -> None:
    photo = _photo(alice)
    image_link = json_of(_api(alice, "POST", f"/images/{photo}/shares", {}))
    album = json_of(_api(alice, "POST", "/albums", {"title": "Trip"}))
    added = _api(
        alice,
        "POST",
        "/images/bulk",
        {"action": "add_to_album", "image_ids": [photo], "album_id": album["id"]},
    )
    assert added.status_code == 200, added.data
    album_link = json_of(_api(alice, "POST", f"/albums/{album['id']}/shares", {}))
    pages = [path_of(image_link["share_url"]), path_of(album_link["share_url"])]
    assert [client.get(page).status_code for page in pages] == [200, 200]
    image_bytes = path_of(image_link["share_image_url"])
    assert client.get(image_bytes).status_code == 200
    locked = json_of(_api(alice, "POST", f"/images/{photo}/shares", {"password": "gull"}))
    unlock = "/unlock/" + path_of(locked["share_url"]).rsplit("/", 1)[-1]

    alice_id = user_id_of(alice)
    assert _post(admin, f"/admin/people/{alice_id}/disable").status_code == 302
    assert [client.get(page).status_code for page in pages] == [404, 404]
    assert client.get(image_bytes).status_code == 404
    # Even the right password learns nothing: the same 404 as an unknown link.
    assert client.post(unlock, data={"password": "gull"}).status_code == 404

    assert _post(admin, f"/admin/people/{alice_id}/enable").status_code == 302
    assert [client.get(page).status_code for page in pages] == [200, 200]
    assert client.post(unlock, data={"password": "gull"}).status_code == 303


# -- 3. the trash, in words --------------------------------------------------------------


def test_delete_says_the_photo_went_to_the_trash_and_links_there(alice: FlaskClient) -> None:
    created = upload(alice, imagefiles.noise_png((64, 48), seed=3), "Sun & <i>sea.png")
    photo = json_of(created)["id"]
    page = alice.get(f"/images/{photo}").get_data(as_text=True)
    [form] = elements(page, "form", action=f"/images/{photo}/delete")
    assert "cannot be undone" not in form["data-confirm"]
    assert "to the trash" in form["data-confirm"] and "for 30 days" in form["data-confirm"]

    deleted = _post(alice, f"/images/{photo}/delete")
    assert deleted.status_code == 302
    gallery = alice.get(deleted.headers["Location"]).get_data(as_text=True)
    [note] = elements(gallery, "div", class_="alert-success")
    assert " ".join(note.text.split()).startswith("Moved Sun & <i>sea to the trash.")
    assert [a["href"] for a in note.find("a")] == ["/trash"]  # the title stayed text
    [link] = elements(alice.get("/settings").get_data(as_text=True), "a", id="trash-link")
    assert link["href"] == "/trash"


# -- 4. link options on the image page, album links on Shared links, private caching -----


def _copied_links(client: FlaskClient) -> list[str]:
    listing = client.get("/shares").get_data(as_text=True)
    return [button["data-copy"] for button in elements(listing, "button") if "data-copy" in button]


def test_image_page_link_with_password_and_view_limit_is_cached_privately(
    alice: FlaskClient, client: FlaskClient
) -> None:
    photo = _photo(alice, seed=4)
    short = _post(alice, f"/images/{photo}/shares", expires="1d", password="abc")
    assert short.status_code == 400
    assert "4 to 200 characters" in short.get_data(as_text=True)
    created = _post(
        alice, f"/images/{photo}/shares", expires="1d", password="open sesame", max_views="1"
    )
    assert created.status_code == 302
    page = alice.get(f"/images/{photo}").get_data(as_text=True)
    [row] = elements(page, "ul", id="share-list")
    assert "0 views of 1" in " ".join(row.text.split()) and "Password" in row.text
    [link] = _copied_links(alice)
    token = path_of(link).rsplit("/", 1)[-1]

    assert client.get(path_of(link)).status_code == 401  # the password form
    unlocked = client.post(f"/unlock/{token}", data={"password": "open sesame"})
    assert unlocked.status_code == 303
    opened = client.get(path_of(link))
    assert opened.status_code == 200
    assert opened.headers["Cache-Control"] == "private, no-store"
    [original] = elements(opened.get_data(as_text=True), "meta", property="og:image")
    served = client.get(path_of(original["content"]))
    assert served.status_code == 200
    assert served.headers["Cache-Control"] == "private, max-age=300"
    assert client.get(path_of(link)).status_code == 404  # the one view is used

    _post(alice, f"/images/{photo}/shares", expires="1d")
    [plain] = _copied_links(alice)
    page_response = client.get(path_of(plain))
    assert page_response.headers["Cache-Control"] == "no-cache"
    [preview] = elements(page_response.get_data(as_text=True), "meta", property="og:image")
    assert client.get(path_of(preview["content"])).headers["Cache-Control"] == "public, max-age=300"


def test_shared_links_page_revokes_an_album_link_through_the_album_route(
    alice: FlaskClient, client: FlaskClient
) -> None:
    album = json_of(_api(alice, "POST", "/albums", {"title": "Lisbon"}))
    link = json_of(_api(alice, "POST", f"/albums/{album['id']}/shares", {"password": "azulejo"}))
    listing = alice.get("/shares").get_data(as_text=True)
    revoke_path = f"/albums/{album['id']}/share/{link['id']}/revoke"
    [form] = elements(listing, "form", action=revoke_path)
    assert [field["value"] for field in form.find("input", name="next")] == ["/shares"]

    revoked = _post(alice, revoke_path, next="/shares")
    assert revoked.headers["Location"] == "/shares"
    assert "Lisbon" not in alice.get("/shares").get_data(as_text=True)
    assert client.get(path_of(link["share_url"])).status_code == 404


# -- 5. the export lists links, never their tokens -------------------------------------


def test_export_manifest_lists_links_without_tokens(alice: FlaskClient) -> None:
    photo = _photo(alice, seed=5)
    image_link = json_of(_api(alice, "POST", f"/images/{photo}/shares", {"max_views": 3}))
    album = json_of(_api(alice, "POST", "/albums", {"title": "Porto"}))
    album_body = {"password": "ribeira", "allow_originals": True}
    album_link = json_of(_api(alice, "POST", f"/albums/{album['id']}/shares", album_body))
    _api(alice, "DELETE", f"/shares/{image_link['id']}")

    answer = alice.get("/settings/export.zip")
    assert answer.status_code == 200
    archive = zipfile.ZipFile(io.BytesIO(answer.data))
    assert archive.testzip() is None  # every CRC checks out
    raw = archive.read("manifest.json").decode()
    manifest = json.loads(raw)
    links = {link["id"]: link for link in manifest["links"]}
    assert set(links) == {image_link["id"], album_link["id"]}
    assert links[image_link["id"]]["image_id"] == photo
    assert links[image_link["id"]]["max_views"] == 3
    assert links[image_link["id"]]["revoked"] is not None
    assert links[album_link["id"]]["album_id"] == album["id"]
    assert links[album_link["id"]]["has_password"] is True
    assert links[album_link["id"]]["allow_originals"] is True
    for secret in (image_link["share_url"], album_link["share_url"]):
        assert path_of(secret).rsplit("/", 1)[-1] not in raw
    assert "scrypt" not in raw and "token" not in raw
    [entry] = manifest["photos"]
    assert archive.read(entry["file"]) == alice.get(f"/images/{photo}/download").data


# -- 6. reconcile forgets expired Idempotency-Keys and says how many ---------------------


def test_reconcile_purges_expired_idempotency_keys_and_counts_them(
    alice: FlaskClient, backends: Backends
) -> None:
    first = upload(alice, imagefiles.noise_png((40, 30), seed=6), **{"Idempotency-Key": "k-old"})
    assert first.status_code == 201
    soon = reconcile(backends, dry_run=False, now=backends.clock() + timedelta(hours=23))
    assert soon.expired_keys == 0
    dry = reconcile(backends, dry_run=True, now=backends.clock() + timedelta(hours=25))
    assert "expired idempotency keys removed: not counted in a dry run" in dry.summary()

    later = reconcile(backends, dry_run=False, now=backends.clock() + timedelta(hours=25))
    assert later.expired_keys == 1 and not later.errors
    assert "expired idempotency keys removed: 1" in later.summary()
    again = reconcile(backends, dry_run=False, now=backends.clock() + timedelta(hours=26))
    assert again.expired_keys == 0
    # Forgotten: the same key now stores a new upload instead of answering the old one.
    reused = upload(alice, imagefiles.noise_png((40, 30), seed=7), **{"Idempotency-Key": "k-old"})
    assert reused.status_code == 201 and "Idempotent-Replayed" not in reused.headers


def test_shared_links_page_sets_and_removes_a_links_password(
    alice: FlaskClient, client: FlaskClient
) -> None:
    photo = _photo(alice, seed=8)
    link = json_of(_api(alice, "POST", f"/images/{photo}/shares", {}))
    target = f"/links/{link['id']}/password"
    [form] = elements(alice.get("/shares").get_data(as_text=True), "form", action=target)
    assert [field["value"] for field in form.find("input", name="next")] == ["/shares"]

    short = _post(alice, target, password="abc", next="/shares")
    assert "4 to 200 characters" in alice.get(short.headers["Location"]).get_data(as_text=True)
    assert client.get(path_of(link["share_url"])).status_code == 200
    assert _post(alice, target, password="seagull", next="/shares").headers["Location"] == "/shares"
    assert client.get(path_of(link["share_url"])).status_code == 401
    listing = alice.get("/shares").get_data(as_text=True)
    assert "Change or remove the password" in listing
    assert _post(alice, target, password="", next="/shares").status_code == 303
    assert client.get(path_of(link["share_url"])).status_code == 200
