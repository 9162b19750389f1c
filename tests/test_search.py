"""Title search and sort orders: both record stores, the SQLite migration, the gallery page."""

from __future__ import annotations

import re
import sqlite3
from dataclasses import replace
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from flask.testing import FlaskClient

from helpers import csrf_token, elements, parse, path_of, upload, user_id_of
from imagefiles import jpeg, png
from picbucket import search
from picbucket.adapters.sqlite_migrations import MIGRATIONS, _title_search_words
from picbucket.adapters.sqlite_records import SqliteRecords
from test_contract_records import BIG, T0, Records, make_image, make_user, records

__all__ = ["records"]  # the fixture, parametrized over SQLite and Firestore


def titled(records: Records, titles: list[str]) -> dict[str, str]:
    """Store one image per title, newest last; return title → id."""
    owner = make_user(records, "searcher")
    ids = {}
    for i, title in enumerate(titles):
        image = replace(make_image(owner, created=T0 + timedelta(minutes=i)), title=title)
        records.images.add(image, BIG)
        ids[title] = image.id
    return ids


def found(
    records: Records, owner: str, query: str, limit: int = 50, order: str = "taken"
) -> list[str]:
    """Return every title the search finds, walking all pages."""
    titles: list[str] = []
    cursor = None
    while True:
        page = records.images.page(owner, cursor, limit, order, query)
        titles += [image.title for image in page.items]
        if page.next_cursor is None:
            return titles
        cursor = page.next_cursor


def test_words_fold_case_and_accents_and_split_file_names() -> None:
    assert search.words("Café at NOON, IMG_5001") == ["cafe", "at", "noon", "img", "5001"]
    assert search.matches("Beach at Noon", ["bea", "no"])
    assert not search.matches("Beach at Noon", ["each"])  # prefixes of words, not substrings


def test_search_finds_word_prefixes_in_any_case_and_accent(records: Records) -> None:
    titled(records, ["Beach at noon", "Café Paris", "beachball", "Mountain lake", "IMG_5001"])
    owner = make_user(records, "searcher").id
    assert found(records, owner, "BEA") == ["beachball", "Beach at noon"]
    assert found(records, owner, "cafe") == ["Café Paris"]
    assert found(records, owner, "beach noon") == ["Beach at noon"]
    assert found(records, owner, "5001") == ["IMG_5001"]
    assert found(records, owner, "lake mountain") == ["Mountain lake"]
    assert found(records, owner, "ocean") == []
    assert len(found(records, owner, "")) == 5


def test_search_pages_with_cursors_in_both_orders(records: Records) -> None:
    titles = [f"trip {i:02d}" if i % 3 else f"home {i:02d}" for i in range(14)]
    titled(records, titles)
    owner = make_user(records, "searcher").id
    trips = sorted((t for t in titles if t.startswith("trip")), reverse=True)
    for order in ("taken", "uploaded"):
        assert found(records, owner, "trip", limit=3, order=order) == trips


def test_rename_changes_what_search_finds(records: Records) -> None:
    ids = titled(records, ["Old name"])
    owner = make_user(records, "searcher").id
    assert records.images.rename(owner, ids["Old name"], "Sunset")
    assert found(records, owner, "old") == []
    assert found(records, owner, "sun") == ["Sunset"]


def test_search_is_owner_scoped(records: Records) -> None:
    titled(records, ["Secret beach"])
    other = make_user(records, "other").id
    assert found(records, other, "secret") == []


def test_migration_makes_old_sqlite_titles_searchable(tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite3"
    store = SqliteRecords(path)
    owner = make_user(Records(store.users, store.images, store.shares, store.tokens), "old")
    store.images.add(replace(make_image(owner), title="Grand Canyon"), BIG)
    store.close()
    # Undo the search migration's column, as a database of the previous release has it,
    # then run that one migration (later ones belong to other columns).
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("ALTER TABLE images DROP COLUMN search_words")
    MIGRATIONS[MIGRATIONS.index(_title_search_words)](conn)
    conn.close()
    store = SqliteRecords(path)
    try:
        assert [
            i.title for i in store.images.page(owner.id, None, 10, "taken", "canyon").items
        ] == ["Grand Canyon"]
    finally:
        store.close()


def _alts(html: str) -> list[str]:
    """Return every non-empty alt text on the page, in order."""
    return [el["alt"] for el in parse(html).descendants if el.get("alt")]


@pytest.mark.parametrize("backend_overrides", [{}], indirect=False)
def test_gallery_page_searches_sorts_and_groups_by_month(
    alice: FlaskClient, backend_overrides: dict[str, Any]
) -> None:
    for n, name in enumerate(("Beach day.png", "Forest walk.png", "Beach night.png")):
        # Different pixels each: the same photo twice is one photo (a duplicate).
        assert upload(alice, png((300 + n, 200)), name).status_code == 201
    html = alice.get("/?q=beach").get_data(as_text=True)
    assert _alts(html) == ["Beach night", "Beach day"]
    assert 'value="beach"' in html  # the search box keeps the words
    html = alice.get("/?sort=uploaded").get_data(as_text=True)
    assert _alts(html) == ["Beach night", "Forest walk", "Beach day"]
    months = elements(html, "h3", class_="gallery-month-title")
    assert months and all(re.fullmatch(r"\w+ \d{4}", month.text) for month in months)
    # An unknown order is the default, not an error page.
    assert alice.get("/?sort=sideways").status_code == 200
    assert (
        alice.get("/?q=nothing-like-it").get_data(as_text=True).count('class="gallery-item"') == 0
    )


@pytest.mark.parametrize("backend_overrides", [{}], indirect=False)
def test_api_lists_with_sort_and_search(
    alice: FlaskClient, backend_overrides: dict[str, Any]
) -> None:
    for n, name in enumerate(("Red car.png", "Blue car.png", "Red door.png")):
        assert upload(alice, png((300 + n, 200)), name).status_code == 201
    answer = alice.get("/api/v1/images?q=red&sort=uploaded&limit=1").get_json()
    assert [i["title"] for i in answer["items"]] == ["Red door"]
    more = alice.get(f"/api/v1/images?q=red&sort=uploaded&limit=1&cursor={answer['next_cursor']}")
    assert [i["title"] for i in more.get_json()["items"]] == ["Red car"]
    # A cursor of one order is refused by the other.
    wrong = alice.get(f"/api/v1/images?sort=taken&cursor={answer['next_cursor']}")
    assert wrong.status_code == 400
    assert alice.get("/api/v1/images?sort=sideways").status_code == 400


@pytest.mark.parametrize("backend_overrides", [{}], indirect=False)
def test_download_original_is_named_after_the_title(
    alice: FlaskClient, backend_overrides: dict[str, Any]
) -> None:
    made = upload(alice, png(), "IMG_0001.png").get_json()
    csrf = {"X-CSRFToken": csrf_token(alice)}
    alice.patch(f"/api/v1/images/{made['id']}", json={"title": "Café: sunset/1"}, headers=csrf)
    answer = alice.get(path_of(made["page_url"]) + "/download")
    assert answer.status_code == 200
    disposition = answer.headers["Content-Disposition"]
    assert disposition.startswith('attachment; filename="Caf_ sunset1.png"')
    assert "filename*=UTF-8''Caf%C3%A9%20sunset1.png" in disposition
    assert answer.data == alice.get(path_of(made["image_url"])).data


@pytest.mark.gcp
def test_firestore_backfill_makes_old_titles_searchable(request: pytest.FixtureRequest) -> None:
    from picbucket.adapters.firestore_codec import _image_doc
    from picbucket.adapters.firestore_records import FirestoreRecords
    from picbucket.settings import Settings

    project = request.getfixturevalue("firestore_project")
    store = FirestoreRecords.from_settings(Settings(record_store="firestore", gcp_project=project))
    try:
        records = Records(store.users, store.images, store.shares, store.tokens)
        owner = make_user(records, "old-docs")
        image = replace(make_image(owner), title="Grand Canyon")
        # A document as the previous release wrote it: no search_terms.
        doc = _image_doc(image)
        del doc["search_terms"]
        store.client.collection("users").document(owner.id).collection("images").document(
            image.id
        ).set(doc)
        assert found(records, owner.id, "canyon") == []
        assert store.backfill_sort_keys() >= 1
        assert found(records, owner.id, "canyon") == ["Grand Canyon"]
        assert store.backfill_sort_keys() == 0  # idempotent
    finally:
        store.close()


@pytest.mark.parametrize("backend_overrides", [{}], indirect=False)
def test_gallery_photo_data_is_the_api_image(
    app: Any, alice: FlaskClient, backend_overrides: dict[str, Any]
) -> None:
    """The grid builds URLs once per kind of photo; what it embeds equals the API's JSON."""
    from picbucket.web.photos import Links, photo_json
    from picbucket.web.views import image_json

    for name, data in (
        ("a.png", png()),
        ("b.png", png((310, 200))),
        ("big.jpg", jpeg((3000, 2000))),
    ):
        assert upload(alice, data, name).status_code == 201
    images = app.extensions["picbucket"].images.page(user_id_of(alice), None, 10).items
    with app.test_request_context(base_url="http://localhost"):
        links = Links()
        for image in images:
            assert photo_json(image, links) == image_json(image)
    assert {i.display is None for i in images} == {True, False}  # both kinds were checked
    html = alice.get("/").get_data(as_text=True)
    assert html.count("data-photo=") == 3
