"""Albums, album links, link passwords, view limits, trash and zips over HTTP, both stacks."""

from __future__ import annotations

import io
import logging
import zipfile
from typing import Any

import pytest
from flask.testing import FlaskClient

import imagefiles
from conftest import csrf_token
from helpers import elements, json_of, path_of, upload


def api(client: FlaskClient, method: str, path: str, body: Any = None) -> Any:
    """Call the API as the signed-in browser (session + CSRF header)."""
    headers = {"X-CSRFToken": csrf_token(client)}
    return client.open(f"/api/v1{path}", method=method, json=body, headers=headers)


def photos(client: FlaskClient, count: int) -> list[str]:
    """Upload ``count`` different photos; return their ids."""
    ids = []
    for n in range(count):
        created = upload(client, imagefiles.noise_png((40 + n, 30), seed=n), f"photo {n}.png")
        assert created.status_code == 201, created.data
        ids.append(json_of(created)["id"])
    return ids


def new_album(client: FlaskClient, ids: list[str], title: str = "Holiday") -> str:
    album = json_of(api(client, "POST", "/albums", {"title": title}))
    added = json_of(
        api(
            client,
            "POST",
            "/images/bulk",
            {"action": "add_to_album", "album_id": album["id"], "image_ids": ids},
        )
    )
    assert added["done"] == len(ids)
    return str(album["id"])


def album_link(client: FlaskClient, album_id: str, **options: Any) -> dict[str, Any]:
    created = api(client, "POST", f"/albums/{album_id}/shares", options)
    assert created.status_code == 201, created.data
    return dict(json_of(created))


def test_album_lifecycle_order_cover_and_zip(alice: FlaskClient) -> None:
    ids = photos(alice, 3)
    album_id = new_album(alice, ids)
    detail = json_of(api(alice, "GET", f"/albums/{album_id}"))
    assert [i["id"] for i in detail["images"]] == ids and detail["photo_count"] == 3

    # Move the last photo up once, from the album page's keyboard-friendly buttons.
    token = csrf_token(alice)
    moved = alice.post(
        f"/albums/{album_id}/move",
        data={"csrf_token": token, "image_id": ids[2], "direction": "up"},
    )
    assert moved.status_code == 303
    detail = json_of(api(alice, "GET", f"/albums/{album_id}"))
    assert [i["id"] for i in detail["images"]] == [ids[0], ids[2], ids[1]]

    patched = api(alice, "PATCH", f"/albums/{album_id}", {"cover_id": ids[1], "title": "Sea"})
    assert json_of(patched)["cover_id"] == ids[1] and json_of(patched)["title"] == "Sea"
    listing = alice.get("/albums").get_data(as_text=True)
    assert "Sea" in listing and "3 photos" in listing

    page = alice.get(f"/albums/{album_id}").get_data(as_text=True)
    assert len(elements(page, "li", class_="gallery-item")) == 3

    download = alice.get(f"/albums/{album_id}/download.zip")
    assert download.status_code == 200 and download.mimetype == "application/zip"
    archive = zipfile.ZipFile(io.BytesIO(download.data))
    assert archive.testzip() is None
    assert archive.namelist() == ["photo 0.png", "photo 2.png", "photo 1.png"]
    assert all(info.compress_type == zipfile.ZIP_STORED for info in archive.infolist())
    original = alice.get(path_of(detail["images"][0]["image_url"])).data
    assert archive.read("photo 0.png") == original

    # Deleting the album keeps its photos.
    assert api(alice, "DELETE", f"/albums/{album_id}").status_code == 204
    assert api(alice, "GET", f"/albums/{album_id}").status_code == 404
    assert len(json_of(api(alice, "GET", "/images"))["items"]) == 3


def test_another_persons_album_is_not_found_everywhere(
    alice: FlaskClient, bob: FlaskClient
) -> None:
    ids = photos(alice, 2)
    album_id = new_album(alice, ids)
    [bobs_photo] = photos(bob, 1)
    bobs_album = new_album(bob, [bobs_photo], "Bob's")
    token = csrf_token(bob)
    assert api(bob, "GET", f"/albums/{album_id}").status_code == 404
    assert api(bob, "PATCH", f"/albums/{album_id}", {"title": "x"}).status_code == 404
    assert api(bob, "DELETE", f"/albums/{album_id}").status_code == 404
    assert api(bob, "POST", f"/albums/{album_id}/shares", {}).status_code == 404
    bulk = {"action": "add_to_album", "album_id": album_id, "image_ids": [bobs_photo]}
    assert api(bob, "POST", "/images/bulk", bulk).status_code == 404
    for path in ("", "/share", "/download.zip"):
        assert bob.get(f"/albums/{album_id}{path}").status_code == 404
    for action in ("edit", "delete", "cover", "move", "add", "remove"):
        answer = bob.post(
            f"/albums/{album_id}/{action}",
            data={"csrf_token": token, "image_id": ids[0], "title": "x"},
        )
        assert answer.status_code == 404, action
    # Alice's photos cannot be put into Bob's album, trashed or zipped by Bob.
    into = {"action": "add_to_album", "album_id": bobs_album, "image_ids": ids}
    assert json_of(api(bob, "POST", "/images/bulk", into))["done"] == 0
    trash = {"action": "trash", "image_ids": ids}
    assert json_of(api(bob, "POST", "/images/bulk", trash))["done"] == 0
    zipped = bob.post("/download.zip", data={"csrf_token": token, "image_id": ids})
    assert zipfile.ZipFile(io.BytesIO(zipped.data)).namelist() == []
    assert len(json_of(api(alice, "GET", f"/albums/{album_id}"))["images"]) == 2


def test_album_link_serves_displays_only_and_stops_at_once(
    alice: FlaskClient, client: FlaskClient
) -> None:
    ids = photos(alice, 2)
    album_id = new_album(alice, ids)
    link = album_link(alice, album_id)
    assert link["expires"] is not None  # a default expiry, not never
    page = client.get(path_of(link["share_url"]))
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    thumbs = [img["src"] for img in elements(html, "img")][1:]  # after the logo
    assert len(thumbs) == 2
    assert all(client.get(src).status_code == 200 for src in thumbs)
    assert 'property="og:image"' in html
    base = path_of(link["share_url"])
    display = client.get(f"{base}/{ids[0]}/display.png")
    assert display.status_code in (200, 404)  # small photos have no separate display
    assert client.get(f"{base}/{ids[0]}/original.png").status_code == 404
    # Trashing a photo stops its bytes on the album link at once.
    api(alice, "POST", "/images/bulk", {"action": "trash", "image_ids": [ids[0]]})
    assert client.get(thumbs[0]).status_code == 404
    assert client.get(thumbs[1]).status_code == 200
    # Revoking stops the page and every photo.
    assert api(alice, "DELETE", f"/shares/{link['id']}").status_code == 204
    assert client.get(base).status_code == 404
    assert client.get(thumbs[1]).status_code == 404
    assert client.get(f"{base}/download.zip").status_code == 404


def test_album_link_with_originals_zips_them(alice: FlaskClient, client: FlaskClient) -> None:
    ids = photos(alice, 2)
    link = album_link(alice, new_album(alice, ids), allow_originals=True, expires="never")
    assert link["expires"] is None
    base = path_of(link["share_url"])
    assert client.get(f"{base}/{ids[0]}/original.png").status_code == 200
    archive = zipfile.ZipFile(io.BytesIO(client.get(f"{base}/download.zip").data))
    assert sorted(archive.namelist()) == ["photo 0.png", "photo 1.png"]


def test_password_link_asks_on_a_form_and_a_change_cuts_everyone_off(
    alice: FlaskClient, client: FlaskClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    [photo] = photos(alice, 1)
    created = api(alice, "POST", f"/images/{photo}/shares", {"password": "open sesame"})
    assert created.status_code == 201 and json_of(created)["has_password"]
    link = json_of(created)
    token = path_of(link["share_url"]).rsplit("/", 1)[-1]
    asked = client.get(f"/s/{token}")
    assert asked.status_code == 401
    [form] = elements(asked.get_data(as_text=True), "form", method="post")
    assert form["action"] == f"/unlock/{token}"
    assert client.get(path_of(link["share_display_url"])).status_code == 404

    wrong = client.post(f"/unlock/{token}", data={"password": "guess"})
    assert wrong.status_code == 401 and "not right" in wrong.get_data(as_text=True)
    right = client.post(f"/unlock/{token}", data={"password": "open sesame"})
    assert right.status_code == 303 and right.headers["Location"].endswith(f"/s/{token}")
    assert "open sesame" not in right.headers["Location"]
    assert client.get(f"/s/{token}").status_code == 200
    assert client.get(path_of(link["share_display_url"])).status_code == 200

    # A password change ends every unlocked visit at once.
    changed = alice.post(
        f"/links/{link['id']}/password",
        data={"csrf_token": csrf_token(alice), "password": "new secret"},
    )
    assert changed.status_code == 303
    assert client.get(f"/s/{token}").status_code == 401
    assert client.get(path_of(link["share_display_url"])).status_code == 404
    assert "open sesame" not in caplog.text and "new secret" not in caplog.text


def test_password_guesses_are_rate_limited_per_link(alice: FlaskClient, app: Any) -> None:
    [photo] = photos(alice, 1)
    link = json_of(api(alice, "POST", f"/images/{photo}/shares", {"password": "right one"}))
    token = path_of(link["share_url"]).rsplit("/", 1)[-1]
    # Guesses from many "browsers" share one budget: the limit is per link.
    answers = [
        app.test_client().post(f"/unlock/{token}", data={"password": f"guess {n}"}).status_code
        for n in range(12)
    ]
    assert answers[:10] == [401] * 10 and answers[10:] == [429, 429]
    late = app.test_client().post(f"/unlock/{token}", data={"password": "right one"})
    assert late.status_code == 429


def test_view_limit_lets_the_last_view_load_then_stops(
    alice: FlaskClient, client: FlaskClient
) -> None:
    [photo] = photos(alice, 1)
    link = json_of(api(alice, "POST", f"/images/{photo}/shares", {"max_views": 1}))
    assert client.get(path_of(link["share_url"])).status_code == 200
    assert client.get(path_of(link["share_display_url"])).status_code == 200
    assert client.get(path_of(link["share_url"])).status_code == 404


def test_expires_null_is_the_default_not_never(alice: FlaskClient) -> None:
    [photo] = photos(alice, 1)
    for body in ({"expires": None}, None):
        made = json_of(api(alice, "POST", f"/images/{photo}/shares", body))
        assert made["expires"] is not None
    never = json_of(api(alice, "POST", f"/images/{photo}/shares", {"expires": "never"}))
    assert never["expires"] is None


def test_trash_restore_and_empty_over_http(alice: FlaskClient) -> None:
    ids = photos(alice, 3)
    album_id = new_album(alice, ids)
    assert api(alice, "DELETE", f"/images/{ids[0]}").status_code == 204
    bulk = json_of(api(alice, "POST", "/images/bulk", {"action": "trash", "image_ids": ids[1:]}))
    assert sorted(bulk["image_ids"]) == sorted(ids[1:])
    assert json_of(api(alice, "GET", "/images"))["items"] == []
    assert json_of(api(alice, "GET", f"/albums/{album_id}"))["images"] == []
    trash = json_of(api(alice, "GET", "/trash"))
    assert {i["id"] for i in trash["items"]} == set(ids) and trash["trash_days"] == 30
    page = alice.get("/trash").get_data(as_text=True)
    assert "still count against your storage" in page
    assert all(alice.get(img["src"]).status_code == 200 for img in elements(page, "img")[1:])

    restored = alice.post(
        "/trash/restore", data={"csrf_token": csrf_token(alice), "image_id": ids[0]}
    )
    assert restored.status_code == 303
    assert [i["id"] for i in json_of(api(alice, "GET", f"/albums/{album_id}"))["images"]] == [
        ids[0]
    ]
    used = json_of(api(alice, "GET", "/me"))["quota"]["used_images"]
    assert used == 3  # trashed photos still count
    assert json_of(api(alice, "POST", "/trash/empty"))["deleted"] == 2
    assert json_of(api(alice, "GET", "/me"))["quota"]["used_images"] == 1


def test_share_as_new_album_link_in_one_call(alice: FlaskClient, client: FlaskClient) -> None:
    ids = photos(alice, 3)
    made = json_of(
        api(
            alice,
            "POST",
            "/images/bulk",
            {
                "action": "share_album",
                "image_ids": ids,
                "title": "Party",
                "link": {"expires": "1d"},
            },
        )
    )
    assert made["album"]["title"] == "Party" and made["done"] == 3
    page = client.get(path_of(made["share"]["share_url"]))
    assert page.status_code == 200 and "Party" in page.get_data(as_text=True)


def test_image_page_adds_to_and_removes_from_albums(alice: FlaskClient) -> None:
    [photo] = photos(alice, 1)
    token = csrf_token(alice)
    page = f"/images/{photo}"
    created = alice.post(
        "/albums", data={"csrf_token": token, "title": "Trip", "image_id": photo, "next": page}
    )
    assert created.status_code == 303 and created.headers["Location"] == page
    other = json_of(api(alice, "POST", "/albums", {"title": "Best of"}))["id"]
    html = alice.get(page).get_data(as_text=True)
    assert len(elements(html, "option", value=other)) == 1
    assert "Trip" in html
    added = alice.post(
        "/albums/add",
        data={"csrf_token": token, "album_id": other, "image_id": photo, "next": page},
    )
    assert added.status_code == 303
    assert [i["id"] for i in json_of(api(alice, "GET", f"/albums/{other}"))["images"]] == [photo]
    removed = alice.post(
        f"/albums/{other}/remove", data={"csrf_token": token, "image_id": photo, "next": page}
    )
    assert removed.status_code == 303
    assert json_of(api(alice, "GET", f"/albums/{other}"))["images"] == []


def test_a_duplicate_upload_is_noticed_and_not_charged_twice(alice: FlaskClient) -> None:
    data = imagefiles.noise_png((50, 40), seed=7)
    first = json_of(upload(alice, data, "first.png"))
    assert first["duplicate"] is False
    again = json_of(upload(alice, data, "again.png"))
    assert again["duplicate"] is True and again["id"] == first["id"]
    assert again["quota"]["used_images"] == 1
    # Uploading a trashed photo again brings it back from the trash.
    api(alice, "POST", "/images/bulk", {"action": "trash", "image_ids": [first["id"]]})
    back = json_of(upload(alice, data, "third.png"))
    assert back["duplicate"] is True and back["id"] == first["id"]
    assert [i["id"] for i in json_of(api(alice, "GET", "/images"))["items"]] == [first["id"]]


@pytest.mark.parametrize("settings_overrides", [{"page_size": 2}])
def test_album_pages_skip_trashed_photos(alice: FlaskClient) -> None:
    ids = photos(alice, 5)
    album_id = new_album(alice, ids)
    api(alice, "POST", "/images/bulk", {"action": "trash", "image_ids": [ids[1]]})
    seen: list[str] = []
    path: str | None = f"/albums/{album_id}"
    while path:
        html = alice.get(path).get_data(as_text=True)
        seen += [item["id"][2:] for item in elements(html, "li", class_="gallery-item")]
        more = [a["href"] for a in elements(html, "a", class_="btn-outline-primary")]
        path = more[0] if more else None
    assert seen == [ids[0], ids[2], ids[3], ids[4]]
