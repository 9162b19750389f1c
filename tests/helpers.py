"""Small helpers for HTTP tests: upload through the API, inspect what was stored."""

from __future__ import annotations

import io
from html.parser import HTMLParser
from typing import Any

from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from picbucket.ports import Backends


class _StartTags(HTMLParser):
    """Collect every start tag with its attributes, in document order."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, {name: value or "" for name, value in attrs}))


def elements(html: str, tag: str, **match: str) -> list[dict[str, str]]:
    """Return the attributes of each ``tag`` element whose attributes match ``match``.

    Keyword names map to attribute names: ``class_`` is ``class``, ``_`` is ``-``
    (``data_cursor`` is ``data-cursor``). ``class`` matches one of the element's classes.
    """
    parser = _StartTags()
    parser.feed(html)
    parser.close()
    wanted = {name.rstrip("_").replace("_", "-"): value for name, value in match.items()}

    def matches(attrs: dict[str, str]) -> bool:
        for name, value in wanted.items():
            if name == "class":
                if value not in attrs.get("class", "").split():
                    return False
            elif attrs.get(name) != value:
                return False
        return True

    return [attrs for name, attrs in parser.tags if name == tag and matches(attrs)]


def attribute(html: str, tag: str, wanted: str, **match: str) -> str:
    """Return attribute ``wanted`` of the one ``tag`` element matching ``match``."""
    found = elements(html, tag, **match)
    assert len(found) == 1, f"expected one <{tag} {match}>, found {len(found)}"
    assert wanted in found[0], f"<{tag} {match}> has no {wanted} attribute"
    return found[0][wanted]


def json_of(response: TestResponse) -> Any:
    """Return the response's JSON body; fail the test if it is not JSON."""
    body = response.get_json(silent=True)
    assert body is not None, f"not a JSON answer: {response.status} {response.data[:200]!r}"
    return body


def csrf_token(client: FlaskClient) -> str:
    """Return the CSRF token the page embeds for this browser's session."""
    page = client.get("/settings").get_data(as_text=True)
    return attribute(page, "meta", "content", name="csrf-token")


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
