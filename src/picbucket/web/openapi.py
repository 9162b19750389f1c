"""Generate the OpenAPI 3.1 document of API v1 from the declarations in web/api.py.

Each API route is declared once as an ``Operation`` (path, models, answers). The same
models validate requests in web/api.py, so the document cannot drift from behaviour.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import JsonSchemaMode, models_json_schema

from picbucket.web import schemas

# Why each error status can be answered; every one has the JSON error body.
ERRORS = {
    400: "The input is invalid; the message names the field.",
    401: "No valid API token and no session.",
    403: "Signed in with a session, but the X-CSRFToken header is missing or stale.",
    404: "No such item of yours.",
    409: "The item changed meanwhile; try again.",
    413: "The file is too large, or the quota is full.",
    415: "The file is not an image Picbucket can read.",
    429: "Too many requests; wait a minute (see Retry-After).",
    503: "Storage is unavailable; try again shortly.",
}
# Headers some errors carry, so a client knows when to retry or how to authenticate.
ERROR_HEADERS = {
    401: {"WWW-Authenticate": 'Bearer realm="picbucket"'},
    429: {"Retry-After": "Seconds to wait."},
    503: {"Retry-After": "Seconds to wait, when the server knows (busy decoding)."},
}
SESSION_COOKIE = "picbucket_session"
_REF = "#/components/schemas/{model}"


@dataclass(frozen=True)
class Operation:
    """One API route: what it takes and what it answers."""

    method: str
    path: str  # OpenAPI style, relative to /api/v1: /images/{image_id}
    endpoint: str
    summary: str
    status: int = 200
    response: type[BaseModel] | None = None
    query: type[BaseModel] | None = None
    body: type[BaseModel] | None = None
    body_required: bool = True
    form: type[BaseModel] | None = None
    headers: type[BaseModel] | None = None  # request headers, by their HTTP names
    errors: tuple[int, ...] = ()
    auth: bool = True
    description: str = ""
    response_headers: dict[str, str] = field(default_factory=dict)

    @property
    def path_params(self) -> list[str]:
        """Return the names of the path's {parameters}, in order."""
        return [part[1:-1] for part in self.path.split("/") if part.startswith("{")]

    @property
    def changes_state(self) -> bool:
        """Tell whether session callers must send the CSRF header."""
        return self.method not in ("GET", "HEAD", "OPTIONS")

    def all_errors(self) -> list[int]:
        """Return every error status this operation can answer."""
        found = set(self.errors)
        if self.auth:
            found |= {401, 429, 503}
            if self.changes_state:
                found.add(403)
        if self.query or self.body or self.form or self.headers:
            found.add(400)
        if self.path_params:
            found.add(404)
        return sorted(found)


def openapi_document(server_url: str, operations: Iterable[Operation]) -> dict[str, Any]:
    """Return the API description with ``server_url`` as its base."""
    ops = list(operations)
    components = _component_schemas(ops)
    paths: dict[str, dict[str, Any]] = {}
    for op in ops:
        paths.setdefault(op.path, {})[op.method.lower()] = _operation(op)
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Picbucket API",
            "version": "1",
            "description": "Upload, list, rename, delete and share your images. "
            "Authenticate with a personal API token from the Settings page "
            "(Authorization: Bearer pb_…), or from the page itself with the session "
            "cookie and, on changes, the X-CSRFToken header.",
        },
        "servers": [{"url": server_url}],
        "paths": paths,
        "components": {
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer", "description": "pb_… API token"},
                "session": {"type": "apiKey", "in": "cookie", "name": SESSION_COOKIE},
                "csrf": {
                    "type": "apiKey",
                    "in": "header",
                    "name": "X-CSRFToken",
                    "description": "The page's csrf-token meta tag; with the session only.",
                },
            },
            "responses": {str(status): _error_response(status) for status in ERRORS},
            "schemas": components,
        },
    }


def _component_schemas(ops: list[Operation]) -> dict[str, Any]:
    models: list[tuple[type[BaseModel], JsonSchemaMode]] = [(schemas.Error, "serialization")]
    for op in ops:
        for model in (op.body, op.form):
            if model is not None:
                models.append((model, "validation"))
        if op.response is not None:
            models.append((op.response, "serialization"))
    _, found = models_json_schema(list(dict.fromkeys(models)), ref_template=_REF)
    defs: dict[str, Any] = found.get("$defs", {})
    return defs


def _operation(op: Operation) -> dict[str, Any]:
    doc: dict[str, Any] = {"operationId": op.endpoint, "summary": op.summary}
    if op.description:
        doc["description"] = op.description
    parameters = [
        {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}
        for name in op.path_params
    ]
    if op.query is not None:
        parameters += _query_parameters(op.query)
    if op.headers is not None:
        parameters += _query_parameters(op.headers, where="header")
    if parameters:
        doc["parameters"] = parameters
    if op.body is not None:
        doc["requestBody"] = {
            "required": op.body_required,
            "content": {"application/json": {"schema": _ref(op.body)}},
        }
    if op.form is not None:
        doc["requestBody"] = {
            "required": True,
            "content": {"multipart/form-data": {"schema": _ref(op.form)}},
        }
    doc["security"] = _security(op)
    ok: dict[str, Any]
    if op.response is None:
        ok = {"description": "Done; no content."}
    else:
        ok = _json_response("Created" if op.status == 201 else "OK", _ref(op.response))
    if op.response_headers:
        ok["headers"] = {
            name: {"description": text, "schema": {"type": "string"}}
            for name, text in op.response_headers.items()
        }
    doc["responses"] = {
        str(op.status): ok,
        **{str(s): {"$ref": f"#/components/responses/{s}"} for s in op.all_errors()},
    }
    return doc


def _security(op: Operation) -> list[dict[str, list[str]]]:
    if not op.auth:
        return []
    session: dict[str, list[str]] = {"session": []}
    if op.changes_state:
        session["csrf"] = []
    return [{"bearer": []}, session]


def _query_parameters(model: type[BaseModel], where: str = "query") -> list[dict[str, Any]]:
    schema = model.model_json_schema()
    required = set(schema.get("required", []))
    result = []
    for name, prop in schema["properties"].items():
        prop = _without_null(prop)
        description = prop.pop("description", None)
        prop.pop("title", None)
        prop.pop("default", None)
        param: dict[str, Any] = {
            "name": name,
            "in": where,
            "required": name in required,
            "schema": prop,
        }
        if description:
            param["description"] = description
        result.append(param)
    return result


def _without_null(prop: dict[str, Any]) -> dict[str, Any]:
    # An absent query parameter is the "no value" case; null has no query-string form.
    options = [o for o in prop.get("anyOf", []) if o.get("type") != "null"]
    if len(options) == 1:
        rest = {k: v for k, v in prop.items() if k != "anyOf"}
        return {**rest, **options[0]}
    return dict(prop)


def _ref(model: type[BaseModel]) -> dict[str, str]:
    return {"$ref": _REF.format(model=model.__name__)}


def _error_response(status: int) -> dict[str, Any]:
    response = _json_response(ERRORS[status], {"$ref": _REF.format(model="Error")})
    if status in ERROR_HEADERS:
        response["headers"] = {
            name: {"description": text, "schema": {"type": "string"}}
            for name, text in ERROR_HEADERS[status].items()
        }
    return response


def _json_response(description: str, schema: dict[str, Any]) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}
