"""Shared fixtures: real apps on real storage, a real OIDC provider, real emulators.

Every HTTP test runs twice: on the embedded default (local disk + SQLite) and on the
Google Cloud adapters against the GCS and Firestore emulators.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import requests
from flask import Flask
from flask.testing import FlaskClient

from helpers import csrf_token as csrf_token  # re-exported: tests import it from here
from picbucket import create_app
from picbucket.dev.identity_provider import running_provider
from picbucket.ports import Backends
from picbucket.settings import Settings

pytest_plugins = ["emulators"]


@pytest.fixture(autouse=True)
def _forget_flask_cli_mark() -> Iterator[None]:
    """Undo the mark Flask's CLI leaves on the process after a test ran a command in it.

    ``FlaskGroup.main`` sets ``FLASK_RUN_FROM_CLI=true`` in ``os.environ`` for good;
    inherited by a later `make run` the suite starts, it makes ``app.run()`` return
    at once ("would block the current 'flask' CLI command"), so the server never comes up.
    """
    yield
    os.environ.pop("FLASK_RUN_FROM_CLI", None)


@pytest.fixture(scope="session")
def issuer() -> Iterator[str]:
    """A real OpenID Connect provider for the whole session."""
    with running_provider() as url:
        yield url


@pytest.fixture(params=["local", "gcp"])
def backend_overrides(request: pytest.FixtureRequest, tmp_path: Path) -> dict[str, Any]:
    """Settings that select one adapter family (local, or GCP on emulators)."""
    if request.param == "gcp":
        overrides: dict[str, Any] = request.getfixturevalue("gcp_settings")
        return overrides
    return {}


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    """Per-test settings; override this fixture in a module to change limits."""
    return {}


@pytest.fixture
def settings(
    tmp_path: Path,
    issuer: str,
    backend_overrides: dict[str, Any],
    settings_overrides: dict[str, Any],
) -> Settings:
    """Settings for a fresh app with its own data and the local identity provider."""
    values: dict[str, Any] = {
        "data_dir": tmp_path / "data",
        "oidc_issuer": issuer,
        "oidc_local": True,
        "secret_key": "test-secret-key-that-is-long-enough-for-tests",
        **backend_overrides,
        **settings_overrides,
    }
    result = Settings(**values)
    result.validate()
    return result


@pytest.fixture
def app(settings: Settings) -> Iterator[Flask]:
    """A fresh app per test."""
    application = create_app(settings)
    application.config["TESTING"] = True
    yield application
    application.extensions["picbucket"].close()


@pytest.fixture
def backends(app: Flask) -> Backends:
    """The app's storage adapters, to check what was (not) stored."""
    found: Backends = app.extensions["picbucket"]
    return found


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    """An anonymous browser."""
    return app.test_client()


def provider_callback(client: FlaskClient, email: str, **login_args: str) -> str:
    """Start sign-in and approve it at the real provider; return the callback path + query."""
    start = client.get("/login", query_string=login_args)
    assert start.status_code == 302, start.data
    answer = requests.post(
        start.headers["Location"], data={"sub": email}, allow_redirects=False, timeout=10
    )
    assert answer.status_code == 302, answer.text
    callback = urlsplit(answer.headers["Location"])
    return f"{callback.path}?{callback.query}"


def sign_in(client: FlaskClient, email: str) -> Any:
    """Sign in through the real provider: app → provider form → callback → session."""
    return client.get(provider_callback(client, email))


@pytest.fixture
def alice(app: Flask) -> FlaskClient:
    """A browser signed in as alice."""
    browser = app.test_client()
    response = sign_in(browser, "alice@example.com")
    assert response.status_code == 302, response.data
    return browser


@pytest.fixture
def bob(app: Flask) -> FlaskClient:
    """A browser signed in as bob."""
    browser = app.test_client()
    response = sign_in(browser, "bob@example.org")
    assert response.status_code == 302, response.data
    return browser
