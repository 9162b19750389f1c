"""The gallery says how many photos wait in the trash (they still use the quota)."""

from __future__ import annotations

from flask.testing import FlaskClient

import imagefiles
from helpers import csrf_token, elements, json_of, upload


def _trash_link(alice: FlaskClient) -> str:
    [link] = elements(alice.get("/").get_data(as_text=True), "a", class_="trash-link")
    return str(link.text).strip()


def test_gallery_shows_how_many_photos_are_in_the_trash(alice: FlaskClient) -> None:
    colors = ("red", "green", "blue")  # three different photos, not duplicates
    ids = [json_of(upload(alice, imagefiles.jpeg(color=c), f"{c}.jpg"))["id"] for c in colors]
    assert _trash_link(alice) == "Trash"
    csrf = {"X-CSRFToken": csrf_token(alice)}
    moved = alice.post(
        "/api/v1/images/bulk", json={"action": "trash", "image_ids": ids[:2]}, headers=csrf
    )
    assert moved.status_code == 200, moved.json
    assert _trash_link(alice) == "2 in trash"
    alice.post("/api/v1/trash/empty", headers=csrf)
    assert _trash_link(alice) == "Trash"
