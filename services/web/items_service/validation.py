"""Pure input validation: request bodies, headers and query parameters (no Flask, no Redis)."""

from __future__ import annotations

import base64
import binascii
import json
import re
from typing import Any

from items_service.config import (
    DEFAULT_PAGE_LIMIT,
    IDEMPOTENCY_KEY_MAX_LENGTH,
    MAX_NAME_LENGTH,
    MAX_PAGE_LIMIT,
)
from items_service.errors import BadRequest, UnprocessableEntity

ITEM_ID_RE = re.compile(r"[0-9a-f]{32}")
# Printable ASCII (space through tilde).
_IDEMPOTENCY_KEY_RE = re.compile(rf"[\x20-\x7e]{{1,{IDEMPOTENCY_KEY_MAX_LENGTH}}}")
# Incoming X-Request-ID values echoed back (and logged) only when they look like an id.
_REQUEST_ID_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:@/+=-]{0,127}")
# The proxy's per-request id (services/config/traefik/plugins-local): 32 lowercase hex digits.
_PROXY_REQUEST_ID_RE = re.compile(r"[0-9a-f]{32}")
_CURSOR_RE = re.compile(r"v1:([1-9][0-9]{0,17})")
_LIMIT_RE = re.compile(r"[0-9]{1,6}")


def parse_json_body(raw: bytes) -> Any:
    """Decode a request body; anything that is not JSON -> 400."""
    if not raw.strip():
        raise BadRequest("invalid json", "the request body is empty; expected a JSON object")
    try:
        return json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:  # JSONDecodeError is a ValueError
        raise BadRequest("invalid json", f"the request body is not valid JSON: {exc}") from exc


def validate_new_item(payload: Any) -> str:
    """The item name from a POST /items body; anything unusable -> 422."""
    if not isinstance(payload, dict):
        raise UnprocessableEntity("invalid item", "the request body must be a JSON object")
    if "name" not in payload:
        raise UnprocessableEntity("invalid item", "'name' is required")
    name = payload["name"]
    if not isinstance(name, str):
        raise UnprocessableEntity("invalid item", "'name' must be a string")
    if not name.strip():
        raise UnprocessableEntity("invalid item", "'name' must not be empty or whitespace only")
    if len(name) > MAX_NAME_LENGTH:
        raise UnprocessableEntity(
            "invalid item", f"'name' must be at most {MAX_NAME_LENGTH} characters (got {len(name)})"
        )
    return name


def parse_idempotency_key(value: str | None) -> str | None:
    """None when the header is absent; else 1..128 printable ASCII characters or 400."""
    if value is None:
        return None
    if not _IDEMPOTENCY_KEY_RE.fullmatch(value) or not value.strip():
        raise BadRequest(
            "invalid idempotency key",
            f"Idempotency-Key must be 1 to {IDEMPOTENCY_KEY_MAX_LENGTH} printable ASCII characters",
        )
    return value


def parse_proxy_request_id(value: str | None) -> str | None:
    """The proxy's request id when it has the proxy's format, else None (never an error: a client
    cannot set it through the proxy, which overwrites it, and a malformed one only means no
    implicit key)."""
    if value is not None and _PROXY_REQUEST_ID_RE.fullmatch(value):
        return value
    return None


def parse_limit(value: str | None) -> int:
    if value is None:
        return DEFAULT_PAGE_LIMIT
    if _LIMIT_RE.fullmatch(value):
        limit = int(value)
        if 1 <= limit <= MAX_PAGE_LIMIT:
            return limit
    raise BadRequest("invalid limit", f"limit must be an integer between 1 and {MAX_PAGE_LIMIT}")


def encode_cursor(seq: int) -> str:
    """Opaque, URL-safe cursor for 'items older than sequence number seq'."""
    return base64.urlsafe_b64encode(f"v1:{seq}".encode()).decode().rstrip("=")


def decode_cursor(value: str | None) -> int | None:
    if value is None:
        return None
    try:
        if len(value) > 64:
            raise ValueError("too long")
        padded = value + "=" * (-len(value) % 4)
        text = base64.b64decode(padded.encode("ascii"), altchars=b"-_", validate=True).decode("ascii")
    except (ValueError, binascii.Error, UnicodeError):
        text = ""
    match = _CURSOR_RE.fullmatch(text)
    if not match:
        raise BadRequest("invalid cursor", "cursor must be a value from a previous Link rel=next header")
    return int(match.group(1))


def is_item_id(value: str) -> bool:
    return bool(ITEM_ID_RE.fullmatch(value))


def sane_request_id(value: str | None) -> str | None:
    return value if value is not None and _REQUEST_ID_RE.fullmatch(value) else None
