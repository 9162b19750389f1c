"""The people part of the UserRepository contract, on SQLite and Firestore (emulator):
account changes with their audit record, deletion marks, email-prefix search, audit log."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from picbucket.account_cursors import encode_audit_cursor
from picbucket.domain import (
    AccountChange,
    AuditEntry,
    InvalidCursor,
    Quota,
    User,
    new_id,
    user_id_for,
)
from picbucket.ports import UserRepository
from test_contract_records import open_records

T0 = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)


@pytest.fixture(params=["sqlite", pytest.param("firestore", marks=pytest.mark.gcp)])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Any]:
    """Yield an empty record store of each kind."""
    opened = open_records(request.param, tmp_path, request)
    try:
        yield opened
    finally:
        opened.close()


def make(users: UserRepository, email: str, **fields: Any) -> User:
    return users.upsert(
        User(
            id=user_id_for("https://idp.example", email),
            issuer="https://idp.example",
            subject=email,
            email=email,
            name=email.split("@")[0],
            created=T0,
            **fields,
        )
    )


def entry(action: str, target: User, when: datetime = T0) -> AuditEntry:
    return AuditEntry(
        id=new_id(),
        when=when,
        actor_id="admin-id",
        actor_email="admin@example.com",
        action=action,
        target_id=target.id,
        target_email=target.email,
        detail="d",
    )


def test_new_accounts_read_with_defaults_and_sign_in_refreshes(store: Any) -> None:
    users: UserRepository = store.users
    alice = make(users, "alice@example.com")
    assert (alice.role, alice.disabled, alice.deleting, alice.quota) == ("user", False, False, None)
    again = make(users, "alice@example.com", role="admin", last_sign_in=T0, hosted_domain="ex")
    assert (again.role, again.last_sign_in, again.hosted_domain) == ("admin", T0, "ex")
    assert users.get(alice.id) == again


def test_account_changes_and_their_audit_record_are_written_together(store: Any) -> None:
    users: UserRepository = store.users
    alice = make(users, "alice@example.com")
    disabled = users.change_account(alice.id, AccountChange(disabled=True), entry("disable", alice))
    assert disabled is not None and disabled.disabled
    quota = Quota(max_bytes=5, max_images=2)
    changed = users.change_account(alice.id, AccountChange(quota=quota))
    assert changed is not None and changed.quota == quota and changed.disabled
    cleared = users.change_account(alice.id, AccountChange(default_quota=True, disabled=False))
    assert cleared is not None and cleared.quota is None and not cleared.disabled
    assert users.change_account("x" * 22, AccountChange(disabled=True)) is None
    logged = users.audit_page(None, 10).items
    assert [(e.action, e.target_email, e.actor_email, e.detail) for e in logged] == [
        ("disable", "alice@example.com", "admin@example.com", "d")
    ]
    assert logged[0].when == T0


def test_deleting_is_one_way_and_listed_until_removed(store: Any) -> None:
    users: UserRepository = store.users
    alice, bob = make(users, "alice@example.com"), make(users, "bob@example.org")
    marked = users.change_account(alice.id, AccountChange(deleting=True))
    assert marked is not None and marked.deleting
    # Nothing brings it back: not an enable, not a sign-in.
    after = users.change_account(alice.id, AccountChange(disabled=True))
    assert after is not None and after.deleting and not after.disabled
    assert make(users, "alice@example.com", role="admin").deleting
    assert users.get(alice.id).role == "user"  # type: ignore[union-attr]
    assert [u.id for u in users.marked_deleting()] == [alice.id]
    users.remove(alice.id)
    assert users.get(alice.id) is None and users.marked_deleting() == []
    assert users.get(bob.id) == bob
    # The same person signs up afresh: a new, empty account.
    fresh = make(users, "alice@example.com")
    assert not fresh.deleting and fresh.usage.images == 0


def test_search_by_email_prefix_pages_by_keyset(store: Any) -> None:
    users: UserRepository = store.users
    emails = [f"p{n:02d}@example.com" for n in range(25)] + ["q@example.com", "p@x.org"]
    for email in emails:
        make(users, email)
    seen: list[str] = []
    cursor = None
    while True:
        page = users.search("p", cursor, 10)
        seen += [u.email for u in page.items]
        if page.next_cursor is None:
            break
        cursor = page.next_cursor
    assert seen == sorted(e for e in emails if e.startswith("p"))
    assert [u.email for u in users.search("p1", None, 50).items] == [
        f"p{n}@example.com" for n in range(10, 20)
    ]
    assert users.search("zzz", None, 10).items == []
    with pytest.raises(InvalidCursor):
        users.search("p", "bm90IGEgY3Vyc29y", 10)
    with pytest.raises(InvalidCursor):
        users.search("p", encode_audit_cursor(T0, new_id()), 10)  # another listing's


def test_audit_log_pages_newest_first(store: Any) -> None:
    users: UserRepository = store.users
    alice = make(users, "alice@example.com")
    for minute in range(7):
        users.add_audit(entry(f"a{minute}", alice, T0 + timedelta(minutes=minute)))
    first = users.audit_page(None, 4)
    assert [e.action for e in first.items] == ["a6", "a5", "a4", "a3"]
    assert first.next_cursor is not None
    rest = users.audit_page(first.next_cursor, 4)
    assert [e.action for e in rest.items] == ["a2", "a1", "a0"] and rest.next_cursor is None


def test_sqlite_users_of_an_older_schema_read_as_plain_active_users(tmp_path: Path) -> None:
    from picbucket.adapters.sqlite_migrations import MIGRATIONS
    from picbucket.adapters.sqlite_records import SqliteRecords

    path = tmp_path / "old.sqlite3"
    conn = sqlite3.connect(path, isolation_level=None)
    for number, migration in enumerate(MIGRATIONS[:-1], start=1):
        migration(conn)
        conn.execute(f"PRAGMA user_version = {number}")
    conn.execute(
        "INSERT INTO users (id, issuer, subject, email, name, created, session_epoch)"
        " VALUES ('u', 'https://idp.example', 's', 'old@example.com', 'Old', ?, 'e')",
        (T0.isoformat(),),
    )
    conn.close()
    records = SqliteRecords(path)
    try:
        old = records.users.get("u")
        assert old is not None and old.email == "old@example.com"
        assert (old.role, old.disabled, old.deleting, old.quota, old.last_sign_in) == (
            "user",
            False,
            False,
            None,
            None,
        )
        assert [u.id for u in records.users.search("old", None, 5).items] == ["u"]
    finally:
        records.close()


@pytest.mark.gcp
def test_firestore_users_written_before_account_fields_read_as_defaults(
    request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    store = open_records("firestore", tmp_path, request)
    try:
        store.client.collection("users").document("u").set(
            {
                "issuer": "https://idp.example",
                "subject": "s",
                "email": "old@example.com",
                "name": "Old",
                "created": T0,
                "session_epoch": "e",
            }
        )
        old = store.users.get("u")
        assert old is not None and old.usage.images == 0
        assert (old.role, old.disabled, old.deleting, old.quota, old.hosted_domain) == (
            "user",
            False,
            False,
            None,
            "",
        )
    finally:
        store.close()
