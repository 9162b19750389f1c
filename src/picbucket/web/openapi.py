"""The OpenAPI 3.1 document served at /api/v1/openapi.json."""

from __future__ import annotations

from typing import Any

_ERROR = {"$ref": "#/components/responses/Error"}
_ID = {"name": "image_id", "in": "path", "required": True, "schema": {"type": "string"}}
_EXPIRES = {"type": "string", "enum": ["1h", "1d", "7d", "30d", "never"]}


def _ok(schema: dict[str, Any], status: str = "200") -> dict[str, Any]:
    return {
        status: {"description": "OK", "content": {"application/json": {"schema": schema}}},
        "400": _ERROR,
        "401": _ERROR,
        "404": _ERROR,
        "429": _ERROR,
    }


def openapi_document(server_url: str) -> dict[str, Any]:
    """Return the API description with ``server_url`` as its base."""
    image = {"$ref": "#/components/schemas/Image"}
    share = {"$ref": "#/components/schemas/Share"}
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Picbucket API",
            "version": "1",
            "description": "Upload, list, rename, delete and share your images. "
            "Authenticate with a personal API token from the Settings page.",
        },
        "servers": [{"url": server_url}],
        "security": [{"bearer": []}],
        "paths": {
            "/images": {
                "post": {
                    "summary": "Upload an image",
                    "parameters": [
                        {
                            "name": "share",
                            "in": "query",
                            "required": False,
                            "description": "Also create a public link with this lifetime.",
                            "schema": _EXPIRES,
                        }
                    ],
                    "requestBody": {
                        "required": True,
                        "content": {
                            "multipart/form-data": {
                                "schema": {
                                    "type": "object",
                                    "required": ["file"],
                                    "properties": {"file": {"type": "string", "format": "binary"}},
                                }
                            }
                        },
                    },
                    "responses": {**_ok(image, "201"), "413": _ERROR, "415": _ERROR},
                },
                "get": {
                    "summary": "List your images, newest first",
                    "parameters": [
                        {"name": "cursor", "in": "query", "schema": {"type": "string"}},
                        {
                            "name": "limit",
                            "in": "query",
                            "schema": {"type": "integer", "minimum": 1, "maximum": 200},
                        },
                    ],
                    "responses": _ok(
                        {
                            "type": "object",
                            "properties": {
                                "items": {"type": "array", "items": image},
                                "next_cursor": {"type": ["string", "null"]},
                            },
                        }
                    ),
                },
            },
            "/images/{image_id}": {
                "parameters": [_ID],
                "get": {"summary": "Get one image", "responses": _ok(image)},
                "patch": {
                    "summary": "Rename an image",
                    "requestBody": {
                        "required": True,
                        "content": {
                            "application/json": {
                                "schema": {
                                    "type": "object",
                                    "required": ["title"],
                                    "properties": {"title": {"type": "string", "maxLength": 200}},
                                }
                            }
                        },
                    },
                    "responses": _ok(image),
                },
                "delete": {
                    "summary": "Delete an image and its share links",
                    "responses": {"204": {"description": "Deleted"}, "401": _ERROR, "404": _ERROR},
                },
            },
            "/images/{image_id}/shares": {
                "parameters": [_ID],
                "post": {
                    "summary": "Create a public share link",
                    "requestBody": {
                        "content": {
                            "application/json": {
                                "schema": {"type": "object", "properties": {"expires": _EXPIRES}}
                            }
                        }
                    },
                    "responses": _ok(share, "201"),
                },
            },
            "/shares": {
                "get": {
                    "summary": "List your share links",
                    "responses": _ok(
                        {
                            "type": "object",
                            "properties": {"items": {"type": "array", "items": share}},
                        }
                    ),
                }
            },
            "/shares/{share_id}": {
                "parameters": [
                    {
                        "name": "share_id",
                        "in": "path",
                        "required": True,
                        "schema": {"type": "string"},
                    }
                ],
                "delete": {
                    "summary": "Revoke a share link",
                    "responses": {"204": {"description": "Revoked"}, "401": _ERROR, "404": _ERROR},
                },
            },
        },
        "components": {
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer", "description": "pb_… API token"}
            },
            "responses": {
                "Error": {
                    "description": "Error",
                    "content": {
                        "application/json": {"schema": {"$ref": "#/components/schemas/Error"}}
                    },
                }
            },
            "schemas": {
                "Error": {
                    "type": "object",
                    "required": ["error"],
                    "properties": {
                        "error": {
                            "type": "object",
                            "required": ["code", "message"],
                            "properties": {
                                "code": {"type": "string"},
                                "message": {"type": "string"},
                            },
                        }
                    },
                },
                "Image": {
                    "type": "object",
                    "properties": {
                        "id": {"type": "string"},
                        "title": {"type": "string"},
                        "width": {"type": "integer"},
                        "height": {"type": "integer"},
                        "bytes": {"type": "integer"},
                        "content_type": {"type": "string"},
                        "created": {"type": "string", "format": "date-time"},
                        "page_url": {"type": "string", "format": "uri"},
                        "image_url": {"type": "string", "format": "uri"},
                        "thumbnail_url": {"type": "string", "format": "uri"},
                    },
                },
                "Share": {
                    "type": "object",
                    "properties": {
                        "id": {"type": "string"},
                        "image_id": {"type": "string"},
                        "created": {"type": "string", "format": "date-time"},
                        "expires": {"type": ["string", "null"], "format": "date-time"},
                        "revoked": {"type": ["string", "null"], "format": "date-time"},
                        "share_url": {"type": "string", "format": "uri"},
                        "share_image_url": {"type": "string", "format": "uri"},
                    },
                },
            },
        },
    }
