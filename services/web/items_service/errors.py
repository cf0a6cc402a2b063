"""JSON error responses: ``{"error": "<short reason>", "detail": ...}`` for every failure.

Flask's own errors (404, 405, 413, ...) and unexpected exceptions are turned into JSON too: a
client of this API never receives an HTML page.
"""

from __future__ import annotations

import logging
from typing import Any

from flask import Flask, Response, g, jsonify, request
from werkzeug.exceptions import HTTPException

log = logging.getLogger("items_service.errors")

# Short reasons for Werkzeug's HTTP errors (its names are long, e.g. "Request Entity Too Large").
_SHORT_REASONS = {
    400: "bad request",
    404: "not found",
    405: "method not allowed",
    413: "payload too large",
    415: "unsupported media type",
    500: "internal server error",
}
RETRY_AFTER_SECONDS = "1"


class ApiError(Exception):
    status = 500

    def __init__(self, error: str, detail: Any = None, headers: dict[str, str] | None = None) -> None:
        super().__init__(error if detail is None else f"{error}: {detail}")
        self.error = error
        self.detail = detail
        self.headers = headers or {}


class BadRequest(ApiError):
    status = 400


class NotFound(ApiError):
    status = 404


class Conflict(ApiError):
    status = 409


class UnprocessableEntity(ApiError):
    status = 422


def error_response(
    status: int, error: str, detail: Any = None, headers: dict[str, str] | None = None
) -> Response:
    response = jsonify({"error": error, "detail": detail})
    response.status_code = status
    for name, value in (headers or {}).items():
        response.headers[name] = value
    return response


def storage_unavailable_response(operation: str, cause: BaseException) -> Response:
    return error_response(
        503,
        "storage unavailable",
        f"redis {operation} failed: {type(cause).__name__}",
        {"Retry-After": RETRY_AFTER_SECONDS},
    )


OUTCOME_UNKNOWN = "outcome unknown; retry with the same Idempotency-Key"


def outcome_unknown_response(cause: BaseException) -> Response:
    """A create whose reply from Redis was lost: the item may have been stored. Only the client's
    Idempotency-Key makes a retry safe: a keyless request's implicit key (the proxy's
    X-Proxy-Request-Id) covers the proxy's own retries, and a client's retry is a new request with
    a new id, i.e. a possible duplicate."""
    return error_response(
        503,
        OUTCOME_UNKNOWN,
        f"redis create failed after the command was sent ({type(cause).__name__}): the item may or may "
        "not have been stored. A retry with the same Idempotency-Key returns it if it was; a retry "
        "without one is a new request and can store it twice.",
        {"Retry-After": RETRY_AFTER_SECONDS},
    )


def _request_fields() -> dict[str, Any]:
    return {
        "method": request.method,
        "path": request.path,
        "request_id": g.get("request_id"),
    }


def register_error_handlers(app: Flask) -> None:
    # Imported here: store imports redis, errors is imported by the pure validation module.
    from items_service.store import StoreUnavailable

    @app.errorhandler(ApiError)
    def _api_error(exc: ApiError) -> Response:
        return error_response(exc.status, exc.error, exc.detail, exc.headers)

    @app.errorhandler(StoreUnavailable)
    def _store_unavailable(exc: StoreUnavailable) -> Response:
        # Only a create has an outcome that matters: a read that lost its reply changed nothing.
        unknown = exc.outcome_unknown and exc.operation == "create"
        log.warning(
            "%s: %s",
            "outcome unknown" if unknown else "storage unavailable",
            exc,
            extra={"fields": {**_request_fields(), "operation": exc.operation, "outcome_unknown": unknown}},
        )
        if unknown:
            return outcome_unknown_response(exc.cause)
        return storage_unavailable_response(exc.operation, exc.cause)

    @app.errorhandler(HTTPException)
    def _http_error(exc: HTTPException) -> Response:
        status = exc.code or 500
        reason = _SHORT_REASONS.get(status, (exc.name or "error").lower())
        detail: Any = exc.description
        if status == 404:
            detail = f"no route for {request.method} {request.path}"
        elif status == 405:
            allowed = getattr(exc, "valid_methods", None) or []
            detail = f"{request.method} is not allowed on {request.path}; allowed: {', '.join(allowed)}"
        elif status == 413:
            limit = app.config.get("ITEMS_MAX_BODY_BYTES")
            detail = f"the request body exceeds {limit} bytes"
        headers = {k: v for k, v in exc.get_headers() if k.lower() != "content-type"}
        return error_response(status, reason, detail, headers)

    @app.errorhandler(Exception)
    def _unexpected(exc: Exception) -> Response:
        log.error("unhandled exception: %s", exc, exc_info=exc, extra={"fields": _request_fields()})
        return error_response(
            500,
            "internal server error",
            f"unexpected error; request_id={g.get('request_id')}",
        )
