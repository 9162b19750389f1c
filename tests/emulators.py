"""Pytest plugin: the Cloud Storage and Firestore emulators, started once per session.

Each emulator runs as a subprocess on a free 127.0.0.1 port in its own process
group (the Firestore one is gcloud → shell → java; killing the group stops all of
it). Tests get isolation without restarts: a new bucket and a new project id per
test (the Firestore emulator keeps each project's data apart).

Outside CI a missing emulator skips the tests that need it with a one-line reason;
under ``CI=true`` it fails them, so CI can never go green without the cloud path.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any, NoReturn

import pytest

from picbucket.dev.emulators import (
    Emulator,
    EmulatorError,
    create_bucket,
    start_firestore,
    start_gcs,
    unique_name,
)


def unavailable(reason: str) -> NoReturn:
    """Fail under CI (a green run must include the cloud path), else skip."""
    if os.environ.get("CI") == "true":
        pytest.fail(f"emulator unavailable under CI=true: {reason}", pytrace=False)
    pytest.skip(f"emulator unavailable: {reason}")


@pytest.fixture(scope="session")
def gcs_emulator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Emulator]:
    """Run gcp-storage-emulator for the session and point STORAGE_EMULATOR_HOST at it."""
    try:
        emulator = start_gcs(tmp_path_factory.mktemp("gcs-emulator"))
    except EmulatorError as exc:
        unavailable(str(exc))
    previous = os.environ.get("STORAGE_EMULATOR_HOST")
    os.environ["STORAGE_EMULATOR_HOST"] = emulator.url
    try:
        yield emulator
    finally:
        _restore("STORAGE_EMULATOR_HOST", previous)
        emulator.stop()


@pytest.fixture(scope="session")
def firestore_emulator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Emulator]:
    """Run the official Firestore emulator for the session; set FIRESTORE_EMULATOR_HOST."""
    try:
        emulator = start_firestore(tmp_path_factory.mktemp("firestore-emulator"))
    except EmulatorError as exc:
        unavailable(str(exc))
    previous = os.environ.get("FIRESTORE_EMULATOR_HOST")
    os.environ["FIRESTORE_EMULATOR_HOST"] = f"127.0.0.1:{emulator.port}"
    try:
        yield emulator
    finally:
        _restore("FIRESTORE_EMULATOR_HOST", previous)
        emulator.stop()


def _restore(name: str, previous: str | None) -> None:
    if previous is None:
        os.environ.pop(name, None)
    else:
        os.environ[name] = previous


@pytest.fixture
def gcs_bucket(gcs_emulator: Emulator) -> str:
    """Return a new, empty bucket in the storage emulator."""
    return create_bucket("pb-test")


@pytest.fixture
def firestore_project(firestore_emulator: Emulator) -> str:
    """Return a project id no other test uses: an empty Firestore database."""
    return unique_name("pb-test")


@pytest.fixture
def gcp_settings(gcs_bucket: str, firestore_project: str) -> dict[str, Any]:
    """Return Settings overrides for a fresh GCS + Firestore backend (emulators)."""
    return {
        "blob_store": "gcs",
        "record_store": "firestore",
        "gcs_bucket": gcs_bucket,
        "gcp_project": firestore_project,
    }
