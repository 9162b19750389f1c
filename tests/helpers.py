"""Small helpers for HTTP tests: upload through the API, inspect what was stored."""

from __future__ import annotations

import io
from html.parser import HTMLParser
from typing import Any

from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from picbucket.ports import Backends

# Elements that never have an end tag: they hold no text and contain nothing.
_VOID = frozenset(
    {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source"}
)


class Element(dict[str, str]):
    """One element of a parsed page: its attributes (the dict), tag, text and contents."""

    def __init__(self, tag: str, attrs: dict[str, str]) -> None:
        super().__init__(attrs)
        self.tag = tag
        self.text = ""  # all text inside, entities decoded
        self.descendants: list[Element] = []

    def find(self, tag: str, **match: str) -> list[Element]:
        """Return the elements inside this one named ``tag`` that match ``match``."""
        return [el for el in self.descendants if el.tag == tag and _matches(el, match)]


class _Page(HTMLParser):
    """Collect every element with its text and what it contains, in document order."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.root = Element("#document", {})
        self.open: list[Element] = [self.root]

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        element = Element(tag, {name: value or "" for name, value in attrs})
        for parent in self.open:
            parent.descendants.append(element)
        if tag not in _VOID:
            self.open.append(element)

    def handle_endtag(self, tag: str) -> None:
        # Close up to the matching element (browsers forgive a missing </p> or </li>).
        for depth in range(len(self.open) - 1, 0, -1):
            if self.open[depth].tag == tag:
                del self.open[depth:]
                return

    def handle_data(self, data: str) -> None:
        for element in self.open:
            element.text += data


def _matches(element: Element, match: dict[str, str]) -> bool:
    for key, value in match.items():
        name = key.rstrip("_").replace("_", "-")
        if name == "class":
            if value not in element.get("class", "").split():
                return False
        elif element.get(name) != value:
            return False
    return True


def parse(html: str) -> Element:
    """Parse a page with the standard library's HTML parser; return its root."""
    page = _Page()
    page.feed(html)
    page.close()
    return page.root


def elements(html: str, tag: str, **match: str) -> list[Element]:
    """Return each ``tag`` element whose attributes match ``match``, in document order.

    Keyword names map to attribute names: ``class_`` is ``class``, ``_`` is ``-``
    (``data_cursor`` is ``data-cursor``). ``class`` matches one of the element's classes.
    """
    return parse(html).find(tag, **match)


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
