"""Small helpers for HTTP tests: upload through the API, inspect what was stored."""

from __future__ import annotations

import io
from typing import Any

from flask.testing import FlaskClient

from conftest import csrf_token
from picbucket.ports import Backends


def upload(client: FlaskClient, data: bytes, filename: str = "photo.jpg", **headers: str) -> Any:
    """Upload through the API as a signed-in browser would (session + CSRF header)."""
    if "Authorization" not in headers:
        headers.setdefault("X-CSRFToken", csrf_token(client))
    return client.post(
        "/api/v1/images",
        data={"file": (io.BytesIO(data), filename)},
        headers=headers,
        content_type="multipart/form-data",
    )


def stored_blob_keys(backends: Backends) -> list[str]:
    """Return every blob key in the store."""
    return [blob.key for blob in backends.blobs.scan("")]


def user_id_of(client: FlaskClient) -> str:
    """Return the signed-in user's id (via the session's Flask-Login id)."""
    with client.session_transaction() as session:
        return str(session["_user_id"]).split(":", 1)[0]


def path_of(url: str) -> str:
    """Strip scheme and host from an absolute URL the app generated."""
    return "/" + url.split("://", 1)[1].split("/", 1)[1]
