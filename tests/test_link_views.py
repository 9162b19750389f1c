"""View-limited links over HTTP, both stacks: the page uses a view and its bytes ride on it.

Each test failed before the fix: the bytes of a used-up link kept answering 200, a
direct image link never counted, and parallel opens all got past the limit.
"""

from __future__ import annotations

import re
import threading
from collections import Counter
from datetime import timedelta
from typing import Any

from flask import Flask
from flask.testing import FlaskClient

import imagefiles
from conftest import csrf_token
from helpers import json_of, path_of, upload
from picbucket.ports import Backends


def _api(client: FlaskClient, method: str, path: str, body: Any = None) -> Any:
    headers = {"X-CSRFToken": csrf_token(client)}
    return json_of(client.open(f"/api/v1{path}", method=method, json=body, headers=headers))


def _image_link(client: FlaskClient, **options: Any) -> dict[str, str]:
    made = upload(client, imagefiles.noise_png((60, 40), seed=7), "harbour.png")
    assert made.status_code == 201, made.data
    link: dict[str, str] = _api(client, "POST", f"/images/{json_of(made)['id']}/shares", options)
    return link


def _views(client: FlaskClient, share_id: str) -> int:
    listed = _api(client, "GET", "/shares")["items"]
    return int(next(item["views"] for item in listed if item["id"] == share_id))


def test_used_up_link_answers_404_for_its_bytes_too(alice: FlaskClient, app: Flask) -> None:
    link = _image_link(alice, max_views=1)
    page, display, image = (
        path_of(link[k]) for k in ("share_url", "share_display_url", "share_image_url")
    )
    viewer = app.test_client()
    assert viewer.get(page).status_code == 200
    # The page that used the view loads its image, in full.
    assert viewer.get(display).status_code == 200
    assert viewer.get(image).status_code == 200
    stranger = app.test_client()
    assert stranger.get(page).status_code == 404
    answers = Counter(stranger.get(url).status_code for url in [image, display] * 10)
    assert answers == Counter({404: 20})
    assert _views(alice, link["id"]) == 1


def test_a_direct_image_link_is_a_view(alice: FlaskClient, app: Flask) -> None:
    link = _image_link(alice, max_views=2)
    image = path_of(link["share_image_url"])
    answers = [app.test_client().get(image).status_code for _ in range(4)]
    assert answers == [200, 200, 404, 404]
    assert app.test_client().get(path_of(link["share_url"])).status_code == 404
    assert _views(alice, link["id"]) == 2


def test_the_view_pass_lasts_minutes_not_forever(
    alice: FlaskClient, app: Flask, backends: Backends
) -> None:
    link = _image_link(alice, max_views=1)
    viewer = app.test_client()
    assert viewer.get(path_of(link["share_url"])).status_code == 200
    opened = backends.clock()
    backends.clock = lambda: opened + timedelta(minutes=9)
    assert viewer.get(path_of(link["share_display_url"])).status_code == 200
    backends.clock = lambda: opened + timedelta(minutes=11)
    assert viewer.get(path_of(link["share_display_url"])).status_code == 404


def test_unlimited_links_set_no_pass_and_count_page_opens_only(
    alice: FlaskClient, app: Flask
) -> None:
    link = _image_link(alice)
    viewer = app.test_client()
    opened = viewer.get(path_of(link["share_url"]))
    assert opened.status_code == 200 and "Set-Cookie" not in opened.headers
    for _ in range(3):
        assert viewer.get(path_of(link["share_image_url"])).status_code == 200
    assert _views(alice, link["id"]) == 1


def test_album_link_photos_ride_on_the_page_view(alice: FlaskClient, app: Flask) -> None:
    ids = []
    for n in range(2):
        made = upload(alice, imagefiles.noise_png((50 + n, 40), seed=n), f"p{n}.png")
        ids.append(json_of(made)["id"])
    album = _api(alice, "POST", "/albums", {"title": "Coast"})
    _api(
        alice,
        "POST",
        "/images/bulk",
        {"action": "add_to_album", "album_id": album["id"], "image_ids": ids},
    )
    link = _api(alice, "POST", f"/albums/{album['id']}/shares", {"max_views": 1})
    page = path_of(link["share_url"])
    viewer = app.test_client()
    html = viewer.get(page).get_data(as_text=True)
    thumbs = sorted(set(re.findall(re.escape(page) + r"/[A-Za-z0-9_-]+/thumb\.\w+", html)))
    assert len(thumbs) == 2
    assert [viewer.get(url).status_code for url in thumbs] == [200, 200]
    assert viewer.get(f"{page}/download.zip").status_code == 200
    stranger = app.test_client()
    assert stranger.get(page).status_code == 404
    assert [stranger.get(url).status_code for url in thumbs] == [404, 404]
    assert stranger.get(f"{page}/download.zip").status_code == 404


def test_parallel_opens_get_exactly_the_views_allowed(alice: FlaskClient, app: Flask) -> None:
    link = _image_link(alice, max_views=3)
    page = path_of(link["share_url"])
    start = threading.Barrier(12)
    answers: list[int] = []

    def open_page() -> None:
        viewer = app.test_client()
        start.wait()
        answers.append(viewer.get(page).status_code)

    threads = [threading.Thread(target=open_page) for _ in range(12)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert Counter(answers) == Counter({200: 3, 404: 9})
    assert _views(alice, link["id"]) == 3


def test_parallel_count_view_on_the_store(alice: FlaskClient, backends: Backends) -> None:
    link = _image_link(alice, max_views=5)
    start = threading.Barrier(16)
    counted: list[bool] = []

    def count() -> None:
        start.wait()
        counted.append(backends.shares.count_view(link["id"]))

    threads = [threading.Thread(target=count) for _ in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert Counter(counted) == Counter({True: 5, False: 11})
    assert _views(alice, link["id"]) == 5
