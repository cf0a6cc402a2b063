"""OpenAPI 3.1 description of every route, served at GET /openapi.json."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, jsonify

from items_service.config import (
    DEFAULT_PAGE_LIMIT,
    IDEMPOTENCY_KEY_MAX_LENGTH,
    MAX_BODY_BYTES,
    MAX_NAME_LENGTH,
    MAX_PAGE_LIMIT,
)
from items_service.errors import OUTCOME_UNKNOWN
from items_service.validation import CURSOR_MAX_LENGTH, CURSOR_PATTERN, NAME_PATTERN

bp = Blueprint("openapi", __name__)

_STR = {"type": "string"}


def _ref(kind: str, name: str) -> dict[str, str]:
    return {"$ref": f"#/components/{kind}/{name}"}


def _json(schema: dict[str, Any]) -> dict[str, Any]:
    return {"application/json": {"schema": schema}}


def _common_headers() -> dict[str, Any]:
    return {
        "X-Served-By": _ref("headers", "X-Served-By"),
        "X-Zone": _ref("headers", "X-Zone"),
        "X-Request-ID": _ref("headers", "X-Request-ID"),
    }


def _ok(description: str, schema: dict[str, Any], **headers: Any) -> dict[str, Any]:
    return {"description": description, "headers": {**_common_headers(), **headers}, "content": _json(schema)}


_ERRORS = {
    "BadRequest": "Malformed input: a body that is not JSON (RFC 8259: no NaN or Infinity, no duplicate "
    "key in an object, not nested too deeply), a bad Idempotency-Key, limit or cursor.",
    "NotFound": "No such item or route.",
    "MethodNotAllowed": "The route exists but not for this method; see the Allow header.",
    "Conflict": "The Idempotency-Key was already used with a different name.",
    "PayloadTooLarge": f"The request body exceeds {MAX_BODY_BYTES} bytes.",
    "ValidationError": "The JSON body is not a valid item (name missing, not a string, empty or blank, "
    "too long after NFC normalisation, or holding a control or format character).",
    "StorageUnavailable": "Redis is unreachable or too slow; retry after the Retry-After delay.",
    "CreateUnavailable": "Redis is unreachable or too slow. Error 'storage unavailable': the item was "
    f"not stored; retry after the Retry-After delay. Error '{OUTCOME_UNKNOWN}': the reply from Redis "
    "was lost after the command was sent, so the item may have been stored; retry with the same "
    "Idempotency-Key to get it back without storing it twice. A keyless request has no such "
    "protection: its retry is a new request (the proxy's X-Proxy-Request-Id, which covers the "
    "proxy's own retries, changes) and can store a duplicate.",
    "InternalError": "Unexpected error (logged with its traceback and request id).",
}


def _error_responses(*names: str) -> dict[str, Any]:
    codes = {
        "BadRequest": "400",
        "NotFound": "404",
        "MethodNotAllowed": "405",
        "Conflict": "409",
        "PayloadTooLarge": "413",
        "ValidationError": "422",
        "StorageUnavailable": "503",
        "CreateUnavailable": "503",
        "InternalError": "500",
    }
    return {codes[name]: _ref("responses", name) for name in (*names, "InternalError")}


def build_spec(version: str = "1.0.0") -> dict[str, Any]:
    """The OpenAPI 3.1 document of the items API.

    Long because it is one literal: every path, status and header of the contract in the order a
    reader of the spec meets them; splitting it would scatter one document over many functions.
    """
    item_schema = _ref("schemas", "Item")
    health = _ref("schemas", "Health")
    paths: dict[str, Any] = {
        "/items": {
            "post": {
                "operationId": "createItem",
                "summary": "Create an item (idempotent with an Idempotency-Key header).",
                "parameters": [_ref("parameters", "IdempotencyKey"), _ref("parameters", "RequestId")],
                "requestBody": {"required": True, "content": _json(_ref("schemas", "NewItem"))},
                "responses": {
                    "201": _ok(
                        "Created, or replayed for a repeated Idempotency-Key (Idempotent-Replayed: true).",
                        item_schema,
                        Location=_ref("headers", "Location"),
                        **{"Idempotent-Replayed": _ref("headers", "Idempotent-Replayed")},
                    ),
                    **_error_responses(
                        "BadRequest",
                        "Conflict",
                        "PayloadTooLarge",
                        "ValidationError",
                        "CreateUnavailable",
                        "MethodNotAllowed",
                    ),
                },
            },
            "get": {
                "operationId": "listItems",
                "summary": "List items, newest first, one page at a time.",
                "parameters": [
                    _ref("parameters", "Limit"),
                    _ref("parameters", "Cursor"),
                    _ref("parameters", "RequestId"),
                ],
                "responses": {
                    "200": _ok(
                        "A page of items. A Link rel=next header points to the next page when there is one.",
                        {"type": "array", "items": item_schema, "maxItems": MAX_PAGE_LIMIT},
                        Link=_ref("headers", "Link"),
                    ),
                    **_error_responses("BadRequest", "StorageUnavailable", "MethodNotAllowed"),
                },
            },
        },
        "/items/{item_id}": {
            "get": {
                "operationId": "getItem",
                "summary": "Get one item by id.",
                "parameters": [_ref("parameters", "ItemId"), _ref("parameters", "RequestId")],
                "responses": {
                    "200": _ok("The item.", item_schema),
                    **_error_responses("NotFound", "StorageUnavailable", "MethodNotAllowed"),
                },
            }
        },
        "/health": {
            "get": {
                "operationId": "health",
                "summary": "Service health: healthy when Redis answers PING.",
                "responses": {
                    "200": _ok("Healthy.", health),
                    "503": {
                        "description": "Redis unreachable.",
                        "headers": {**_common_headers(), "Retry-After": _ref("headers", "Retry-After")},
                        "content": _json(health),
                    },
                    **_error_responses(),
                },
            }
        },
        "/readyz": {
            "get": {
                "operationId": "readiness",
                "summary": "Readiness for the load balancer: ready when Redis answers PING.",
                "responses": {
                    "200": _ok("Ready.", health),
                    "503": {
                        "description": "Not ready: Redis unreachable.",
                        "headers": {**_common_headers(), "Retry-After": _ref("headers", "Retry-After")},
                        "content": _json(health),
                    },
                    **_error_responses(),
                },
            }
        },
        "/livez": {
            "get": {
                "operationId": "liveness",
                "summary": "Liveness: the process answers. Never touches Redis.",
                "responses": {"200": _ok("Alive.", health), **_error_responses()},
            }
        },
        "/metrics": {
            "get": {
                "operationId": "metrics",
                "summary": "Prometheus text exposition, aggregated over all server workers.",
                "responses": {
                    "200": {
                        "description": "Metrics.",
                        "headers": _common_headers(),
                        "content": {"text/plain": {"schema": _STR}},
                    },
                    **_error_responses(),
                },
            }
        },
        "/openapi.json": {
            "get": {
                "operationId": "openapi",
                "summary": "This document.",
                "responses": {"200": _ok("OpenAPI document.", {"type": "object"}), **_error_responses()},
            }
        },
    }
    error_schema = _ref("schemas", "Error")
    responses: dict[str, Any] = {}
    for name, description in _ERRORS.items():
        headers = _common_headers()
        if name in ("StorageUnavailable", "CreateUnavailable"):
            headers["Retry-After"] = _ref("headers", "Retry-After")
        if name == "MethodNotAllowed":
            headers["Allow"] = {"description": "Methods the route accepts.", "schema": _STR}
        responses[name] = {"description": description, "headers": headers, "content": _json(error_schema)}
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "srelab items service",
            "version": version,
            "description": "Items API behind Traefik; every response carries X-Served-By, X-Zone and "
            "X-Request-ID. Errors are always JSON: {error, detail}.",
        },
        "paths": paths,
        "components": {
            "schemas": {
                "NewItem": {
                    "type": "object",
                    "required": ["name"],
                    "properties": {
                        "name": {
                            "type": "string",
                            "minLength": 1,
                            "maxLength": MAX_NAME_LENGTH,
                            "pattern": NAME_PATTERN,
                            "description": "Normalised to Unicode NFC before any check; the NFC form "
                            f"is stored and its length must be 1 to {MAX_NAME_LENGTH} code points (NFC "
                            "can shorten or lengthen a string). Not empty or blank (whitespace, ZWNJ and "
                            "ZWJ only). No control or format characters: Unicode categories Cc (e.g. "
                            "NUL, TAB, newline, ESC), Cf (e.g. U+202E right-to-left override, "
                            "zero-width space, BOM, tag characters), Cs (lone surrogates), Zl and Zp, "
                            "except U+200C ZWNJ and U+200D ZWJ (emoji sequences, Persian and Indic "
                            "scripts). The pattern states the character rules.",
                        }
                    },
                },
                "Item": {
                    "type": "object",
                    "required": ["id", "name", "created_at"],
                    "properties": {
                        "id": {"type": "string", "pattern": "^[0-9a-f]{32}$", "description": "uuid4 hex"},
                        "name": {"type": "string"},
                        "created_at": {"type": "string", "format": "date-time", "description": "UTC"},
                    },
                },
                "Error": {
                    "type": "object",
                    "required": ["error", "detail"],
                    "properties": {
                        "error": {"type": "string", "description": "Short reason, e.g. 'invalid item'."},
                        "detail": {"description": "Human-readable explanation (string or null)."},
                    },
                },
                "Health": {
                    "type": "object",
                    "required": ["status"],
                    "properties": {
                        "status": {
                            "type": "string",
                            "enum": ["healthy", "unhealthy", "ready", "unavailable", "alive"],
                        },
                        "error": {"type": "string"},
                    },
                },
            },
            "parameters": {
                "ItemId": {
                    "name": "item_id",
                    "in": "path",
                    "required": True,
                    "description": "32 lowercase hex digits (a uuid4); any other value is a 404.",
                    "schema": {"type": "string", "pattern": "^[0-9a-f]{32}$"},
                },
                "Limit": {
                    "name": "limit",
                    "in": "query",
                    "required": False,
                    "schema": {
                        "type": "integer",
                        "minimum": 1,
                        "maximum": MAX_PAGE_LIMIT,
                        "default": DEFAULT_PAGE_LIMIT,
                    },
                },
                "Cursor": {
                    "name": "cursor",
                    "in": "query",
                    "required": False,
                    "description": "Opaque; copy it from the previous page's Link rel=next header. "
                    "Empty (cursor=) means the first page, like no cursor; any other value that the "
                    "service did not issue is a 400.",
                    "schema": {"type": "string", "maxLength": CURSOR_MAX_LENGTH, "pattern": CURSOR_PATTERN},
                },
                "IdempotencyKey": {
                    "name": "Idempotency-Key",
                    "in": "header",
                    "required": False,
                    "description": "Retries with the same key return the first item (kept 24 h).",
                    "schema": {
                        "type": "string",
                        "minLength": 1,
                        "maxLength": IDEMPOTENCY_KEY_MAX_LENGTH,
                        "pattern": "^[\\x20-\\x7e]+$",
                    },
                },
                "RequestId": {
                    "name": "X-Request-ID",
                    "in": "header",
                    "required": False,
                    "description": "Echoed back when it looks like an id, else a new one is generated.",
                    "schema": _STR,
                },
            },
            "headers": {
                "X-Served-By": {"description": "Replica that answered.", "schema": _STR},
                "X-Zone": {"description": "Zone of that replica.", "schema": _STR},
                "X-Request-ID": {"description": "Request id (also in the JSON log line).", "schema": _STR},
                "Location": {"description": "URL of the item.", "schema": _STR},
                "Idempotent-Replayed": {"description": "'true' on a replay.", "schema": _STR},
                "Link": {"description": '</items?limit=N&cursor=C>; rel="next"', "schema": _STR},
                "Retry-After": {"description": "Seconds to wait before retrying.", "schema": _STR},
            },
            "responses": responses,
        },
    }


@bp.get("/openapi.json")
def openapi_json() -> Response:
    return jsonify(build_spec())
