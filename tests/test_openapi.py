"""The OpenAPI document: generated from the declarations that validate requests."""

from __future__ import annotations

import io
import re
from pathlib import Path
from typing import Any, get_args

import pytest
import requests
from flask import Flask
from flask.testing import FlaskClient
from pydantic import BaseModel
from werkzeug.test import TestResponse

import imagefiles
from conftest import csrf_token
from picbucket.dev.emulators import write_throwaway_key
from picbucket.services.shares import EXPIRY_CHOICES
from picbucket.web import schemas

PREFIX = "/api/v1"


def _json(response: TestResponse) -> Any:
    body = response.get_json()
    assert body is not None, response.data
    return body


def _document(client: FlaskClient) -> dict[str, Any]:
    response = client.get(f"{PREFIX}/openapi.json")
    assert response.status_code == 200
    doc: dict[str, Any] = _json(response)
    return doc


def test_document_lists_exactly_the_routes_flask_serves(app: Flask, client: FlaskClient) -> None:
    served = {
        (method, rule.rule.removeprefix(PREFIX).replace("<", "{").replace(">", "}"))
        for rule in app.url_map.iter_rules()
        if rule.rule.startswith(f"{PREFIX}/")
        for method in rule.methods or ()
        if method not in ("HEAD", "OPTIONS")
    }
    doc = _document(client)
    documented = {
        (method.upper(), path) for path, operations in doc["paths"].items() for method in operations
    }
    assert documented == served
    # The routes that once went missing from the hand-written document.
    assert {("GET", "/me"), ("POST", "/uploads"), ("POST", "/uploads/{upload_id}/complete")} <= (
        documented
    )
    assert doc["servers"][0]["url"].endswith(PREFIX)


def test_every_route_says_how_to_authenticate_and_how_it_fails(client: FlaskClient) -> None:
    doc = _document(client)
    schemes = doc["components"]["securitySchemes"]
    assert schemes["bearer"]["scheme"] == "bearer"
    assert schemes["session"] == {"type": "apiKey", "in": "cookie", "name": "picbucket_session"}
    assert schemes["csrf"]["name"] == "X-CSRFToken"
    for path, operations in doc["paths"].items():
        for method, operation in operations.items():
            statuses = set(operation["responses"])
            if path == "/openapi.json":
                assert operation["security"] == []
                continue
            session: dict[str, list[str]] = {"session": []}
            if method != "get":
                session["csrf"] = []
            assert operation["security"] == [{"bearer": []}, session], (method, path)
            assert {"401", "429", "503"} <= statuses, (method, path)
            if "{" in path:
                assert "404" in statuses, (method, path)
            query = [p for p in operation.get("parameters", []) if p["in"] == "query"]
            if "requestBody" in operation or query:
                assert "400" in statuses, (method, path)
    upload = doc["paths"]["/images"]["post"]
    assert {"201", "400", "413", "415"} <= set(upload["responses"])
    assert "multipart/form-data" in upload["requestBody"]["content"]
    error = doc["components"]["schemas"]["Error"]
    assert error["properties"]["error"]["$ref"].endswith("/ErrorDetail")


def test_share_lifetimes_are_the_ones_the_service_knows() -> None:
    assert list(get_args(schemas.Expiry)) == list(EXPIRY_CHOICES)


@pytest.mark.parametrize(
    ("method", "path", "body", "field"),
    [
        ("GET", "/images?limit=0", None, "limit"),
        ("GET", "/images?limit=lots", None, "limit"),
        ("PATCH", "/images/x", {"title": 5}, "title"),
        ("PATCH", "/images/x", {"titel": "typo"}, "titel"),
        ("PATCH", "/images/x", {}, "title"),
        ("POST", "/images/x/shares", {"expires": "forever"}, "expires"),
        ("POST", "/uploads", {"size": "big", "content_type": "image/jpeg"}, "size"),
        ("POST", "/uploads", {"size": True, "content_type": "image/jpeg"}, "size"),
        ("POST", "/uploads", {"size": 10}, "content_type"),
        ("POST", "/uploads/x/complete", {"filename": ["a"]}, "filename"),
        ("POST", "/images?share=forever", None, "share"),
        ("POST", "/images", None, "file"),
    ],
)
def test_invalid_input_is_a_400_naming_the_field(
    alice: FlaskClient, method: str, path: str, body: Any, field: str
) -> None:
    response = alice.open(
        PREFIX + path, method=method, json=body, headers={"X-CSRFToken": csrf_token(alice)}
    )
    assert response.status_code == 400
    error = _json(response)["error"]
    assert error["code"] == "invalid_input"
    assert re.search(rf"\b{field}\b", error["message"]), error["message"]


def test_share_choice_message_lists_the_choices(alice: FlaskClient) -> None:
    response = alice.get(f"{PREFIX}/images?limit=201")
    assert (
        _json(response)["error"]["message"] == "limit: Input should be less than or equal to 200."
    )
    response = alice.post(
        f"{PREFIX}/images?share=forever",
        data={"file": (io.BytesIO(imagefiles.png()), "x.png")},
        headers={"X-CSRFToken": csrf_token(alice)},
    )
    assert _json(response)["error"]["message"] == "share must be one of 1h, 1d, 7d, 30d, never."


def test_callers_without_credentials_get_401_before_any_validation(client: FlaskClient) -> None:
    response = client.patch(f"{PREFIX}/images/x", json={"title": 5})
    assert response.status_code == 401
    assert client.get(f"{PREFIX}/images?limit=0").status_code == 401


def test_optional_bodies_may_be_left_out(alice: FlaskClient) -> None:
    headers = {"X-CSRFToken": csrf_token(alice)}
    image_id = _upload(alice)["id"]
    share = alice.post(f"{PREFIX}/images/{image_id}/shares", headers=headers)
    # No body: the default expiry (7 days), never "never" by accident.
    assert share.status_code == 201 and _json(share)["expires"] is not None
    not_json = alice.post(f"{PREFIX}/images/{image_id}/shares", data="x", headers=headers)
    assert not_json.status_code == 400
    assert "JSON object" in _json(not_json)["error"]["message"]


def _upload(client: FlaskClient, query: str = "") -> dict[str, Any]:
    response = client.post(
        f"{PREFIX}/images{query}",
        data={"file": (io.BytesIO(imagefiles.jpeg()), "a.jpg")},
        headers={"X-CSRFToken": csrf_token(client)},
    )
    assert response.status_code == 201, response.data
    body: dict[str, Any] = _json(response)
    return body


def _conforms(model: type[BaseModel], body: Any) -> None:
    # strict: the JSON must have exactly the declared fields and types (no coercion).
    model.model_validate(body, strict=True)


def test_real_answers_match_the_declared_response_models(alice: FlaskClient) -> None:
    """If views.py returns a field the models do not declare, this names it."""
    headers = {"X-CSRFToken": csrf_token(alice)}
    stored = _upload(alice, "?share=1d")
    _conforms(schemas.StoredImage, stored)
    image_id = stored["id"]
    _conforms(schemas.Me, _json(alice.get(f"{PREFIX}/me")))
    _conforms(schemas.ImagePage, _json(alice.get(f"{PREFIX}/images")))
    _conforms(schemas.Image, _json(alice.get(f"{PREFIX}/images/{image_id}")))
    renamed = alice.patch(f"{PREFIX}/images/{image_id}", json={"title": "t"}, headers=headers)
    _conforms(schemas.Image, _json(renamed))
    new = alice.post(f"{PREFIX}/images/{image_id}/shares", json={"expires": "7d"}, headers=headers)
    _conforms(schemas.NewShare, _json(new))
    _conforms(schemas.ShareList, _json(alice.get(f"{PREFIX}/shares?image_id={image_id}")))
    _conforms(schemas.Error, _json(alice.get(f"{PREFIX}/images/nope")))


class TestDirectUploadAnswers:
    """Direct uploads need Cloud Storage with URL signing: the emulator and a throwaway key."""

    @pytest.fixture
    def backend_overrides(self, gcp_settings: dict[str, Any], tmp_path: Path) -> dict[str, Any]:
        """Sign upload URLs with a throwaway key against the storage emulator."""
        return {**gcp_settings, "signing_key_file": str(write_throwaway_key(tmp_path / "k.json"))}

    def test_ticket_and_stored_image_match_the_declared_models(self, alice: FlaskClient) -> None:
        headers = {"X-CSRFToken": csrf_token(alice)}
        data = imagefiles.png()
        ticket = alice.post(
            f"{PREFIX}/uploads",
            json={"size": len(data), "content_type": "image/png"},
            headers=headers,
        )
        assert ticket.status_code == 201, ticket.data
        _conforms(schemas.UploadTicket, _json(ticket))
        sent = _json(ticket)
        put = requests.put(sent["url"], data=data, headers=sent["headers"], timeout=30)
        assert put.status_code == 200
        done = alice.post(f"{PREFIX}/uploads/{sent['upload_id']}/complete", headers=headers)
        assert done.status_code == 201, done.data
        _conforms(schemas.StoredImage, _json(done))
