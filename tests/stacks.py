"""Fixtures for service tests on both stacks, built exactly as the app builds them.

Import the fixtures into a test module (``from stacks import backends, settings``)
to run each of its tests on local disk + SQLite and on GCS + Firestore emulators.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from picbucket.domain import User, user_id_for
from picbucket.ports import Backends
from picbucket.settings import Settings
from picbucket.wiring import build_backends


@pytest.fixture(params=["local", pytest.param("gcp", marks=pytest.mark.gcp)])
def settings(request: pytest.FixtureRequest, tmp_path: Path) -> Settings:
    """Return settings for local + SQLite, or GCS + Firestore on the emulators."""
    overrides: dict[str, Any] = {}
    if request.param == "gcp":
        overrides = request.getfixturevalue("gcp_settings")
    return Settings(data_dir=tmp_path, **overrides)


@pytest.fixture
def backends(settings: Settings) -> Iterator[Backends]:
    """Build the backends exactly as the app does (wiring.py)."""
    built = build_backends(settings)
    try:
        yield built
    finally:
        built.close()


def make_user(backends: Backends, subject: str) -> User:
    """Sign ``subject`` up (issuer https://idp.example); return the user."""
    return backends.users.upsert(
        User(
            id=user_id_for("https://idp.example", subject),
            issuer="https://idp.example",
            subject=subject,
            email=f"{subject}@example.com",
            name=subject,
            created=datetime.now(UTC),
        )
    )
