"""The admin page at 10,000 accounts, on SQLite and on Firestore (emulator).

The accounts are written straight into each store in bulk (10,000 sign-ins would
only test the identity provider); everything read goes through the app.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from conftest import sign_in
from helpers import elements
from picbucket.adapters.firestore_records import FirestoreRecords
from picbucket.adapters.sqlite_records import SqliteRecords
from picbucket.ports import Backends
from picbucket.settings import Settings

ADMIN = "admin@example.com"
PEOPLE = 10_000


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    """An administrator."""
    return {"admin_emails": (ADMIN,)}


def _email(number: int) -> str:
    return f"user{number:05d}@example.com"


def _seed(settings: Settings) -> None:
    """Write ``PEOPLE`` accounts in bulk, in the store's own format."""
    created = datetime(2026, 1, 1, tzinfo=UTC)
    ids = [f"{n:022d}" for n in range(PEOPLE)]
    if settings.record_store == "sqlite":
        records = SqliteRecords(settings.data_dir / "picbucket.sqlite3")
        with records.transaction() as conn:
            conn.executemany(
                "INSERT INTO users (id, issuer, subject, email, name, created, session_epoch,"
                " used_bytes, image_count) VALUES (?, 'https://idp.example', ?, ?, ?, ?, 'e', ?, ?)",
                [
                    (ids[n], str(n), _email(n), f"User {n}", created.isoformat(), n * 1000, n % 7)
                    for n in range(PEOPLE)
                ],
            )
        records.close()
        return
    firestore = FirestoreRecords.from_settings(settings)
    client = firestore.client
    for start in range(0, PEOPLE, 400):
        batch = client.batch()
        for n in range(start, min(start + 400, PEOPLE)):
            batch.set(
                client.collection("users").document(ids[n]),
                {
                    "issuer": "https://idp.example",
                    "subject": str(n),
                    "email": _email(n),
                    "name": f"User {n}",
                    "created": created,
                    "session_epoch": "e",
                    "usage_bytes": n * 1000,
                    "usage_images": n % 7,
                },
            )
        batch.commit()
    firestore.close()


def _rows(page: str) -> list[str]:
    return [row["data-email"] for row in elements(page, "tr") if "data-email" in row]


def _next(page: str) -> str | None:
    found = elements(page, "a", id="next-page")
    return found[0]["href"] if found else None


def test_ten_thousand_people_page_and_search(
    app: Flask, backends: Backends, settings: Settings
) -> None:
    _seed(settings)
    admin: FlaskClient = app.test_client()
    assert sign_in(admin, ADMIN).status_code == 302

    # Every account is reachable by keyset paging, once, in email order.
    seen: list[str] = []
    cursor = None
    while True:
        page = backends.users.search("", cursor, 500)
        seen += [user.email for user in page.items]
        if page.next_cursor is None:
            break
        cursor = page.next_cursor
    assert len(seen) == PEOPLE + 1 and seen == sorted(seen) and len(set(seen)) == PEOPLE + 1

    # The page: 50 a page, the next page continues where the first stopped.
    first = admin.get("/admin").get_data(as_text=True)
    assert _rows(first) == [ADMIN] + [_email(n) for n in range(49)]
    assert "User 48</span>" in first and "User 49</span>" not in first
    second_url = _next(first)
    assert second_url is not None
    assert _rows(admin.get(second_url).get_data(as_text=True)) == [_email(n) for n in range(49, 99)]

    # Search by prefix, and a deep page of a search.
    assert _rows(admin.get("/admin?q=user0042").get_data(as_text=True)) == [
        _email(n) for n in range(420, 430)
    ]
    after = backends.users.search("user09", None, 950).next_cursor
    started = time.perf_counter()
    deep = backends.users.search("user09", after, 50)
    deep_seconds = time.perf_counter() - started
    assert [u.email for u in deep.items] == [_email(n) for n in range(9950, 10_000)]
    assert deep.next_cursor is None
    print(f"\npeople: deep search page in {deep_seconds * 1000:.1f} ms")
    assert _rows(admin.get("/admin?q=nobody").get_data(as_text=True)) == []


def test_sqlite_people_listing_uses_its_index(tmp_path: Path) -> None:
    records = SqliteRecords(tmp_path / "plan.sqlite3")
    try:
        plan = records.query(
            "EXPLAIN QUERY PLAN SELECT * FROM users WHERE email >= ? AND email < ?"
            " AND (email > ? OR (email = ? AND id > ?)) ORDER BY email, id LIMIT 51",
            ("a", "b", "a", "a", "x"),
        )
    finally:
        records.close()
    detail = " ".join(str(row["detail"]) for row in plan)
    # Keyset on the index: no sort of the whole table, whatever page is asked for.
    assert "users_email" in detail and "TEMP B-TREE" not in detail
