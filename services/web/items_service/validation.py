"""Pure input validation: request bodies, headers and query parameters (no Flask, no Redis).

What each rule defends against: docs/security.md.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import json
import re
import unicodedata
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
# A cursor is what encode_cursor emits: unpadded URL-safe base64, at most 64 characters.
CURSOR_MAX_LENGTH = 64
CURSOR_PATTERN = f"^[A-Za-z0-9_-]{{0,{CURSOR_MAX_LENGTH}}}$"
_CURSOR_TOKEN_RE = re.compile(f"[A-Za-z0-9_-]{{1,{CURSOR_MAX_LENGTH}}}")
_CURSOR_RE = re.compile(r"v1:([1-9][0-9]{0,17})")
_LIMIT_RE = re.compile(r"[0-9]{1,6}")

# --- Item names ---------------------------------------------------------------------------------
# Rejected: Cc (controls: NUL, ESC, TAB, CR/LF, C1), Cs (surrogates: the lone one a JSON "\ud800"
# escape yields cannot be encoded as UTF-8), Cf (format characters: bidi overrides such as U+202E,
# zero-width spaces, BOM, tag characters) and Zl/Zp (U+2028/U+2029, line breaks in many viewers):
# they forge log lines, reorder what a dashboard shows or make two different names look alike.
# Allowed although Cf: ZWNJ and ZWJ, needed by emoji sequences and by Persian and Indic scripts;
# they count as blank (a name of blanks only is rejected). Tag characters stay rejected and with
# them the subdivision flags built from them (England, Scotland, Wales): tags can carry invisible
# ASCII text. Private-use and unassigned code points are accepted (new emoji are unassigned for
# this Python until its Unicode database catches up).
REJECTED_NAME_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Zl", "Zp"})
ALLOWED_FORMAT_CHARS = "\u200c\u200d"
# Every Cc/Cf/Cs/Zl/Zp/Zs code point is in planes 0, 1 and 14 (a unit test checks the others):
# scanning those at import takes ~20 ms, the whole range 9 times as long.
_SCANNED_PLANES = (range(0x20000), range(0xE0000, 0xE1000))


def _scan_name_chars() -> tuple[list[int], list[int]]:
    """(rejected code points, blank code points), ascending."""
    rejected: list[int] = []
    blank: list[int] = []
    for plane in _SCANNED_PLANES:
        for code in plane:
            char = chr(code)
            category = unicodedata.category(char)
            if char in ALLOWED_FORMAT_CHARS or category == "Zs":
                blank.append(code)
            elif category in REJECTED_NAME_CATEGORIES:
                rejected.append(code)
    return rejected, blank


def _class_body(codes: list[int]) -> str:
    """A regex character-class body for ascending code points, read alike by Python's re and by
    ECMA-262 with the u flag (JSON Schema): \\uXXXX in the BMP, the characters themselves above."""

    def char(code: int) -> str:
        return f"\\u{code:04x}" if code <= 0xFFFF else chr(code)

    ranges: list[list[int]] = []
    for code in codes:
        if ranges and ranges[-1][1] == code - 1:
            ranges[-1][1] = code
        else:
            ranges.append([code, code])
    return "".join(char(a) if a == b else f"{char(a)}-{char(b)}" for a, b in ranges)


_REJECTED_CODES, _BLANK_CODES = _scan_name_chars()
_REJECTED_CLASS = _class_body(_REJECTED_CODES)
_BLANK_CLASS = _class_body(_BLANK_CODES)
# One character class: a linear scan in C, nothing to backtrack.
_REJECTED_NAME_CHAR_RE = re.compile(f"[{_REJECTED_CLASS}]")
# Once the rejected characters are out, what str.strip() strips is exactly Zs; plus ZWNJ and ZWJ.
NAME_BLANK_CHARS = "".join(map(chr, _BLANK_CODES))
# The same rules as a JSON Schema pattern (openapi.py): blanks, one visible character, then
# anything but a rejected character; the first two classes are disjoint, so nothing backtracks.
# Without the surrogates: validators that work on Unicode scalar values (Rust's regex, behind
# Schemathesis's jsonschema_rs) refuse a pattern naming them, and cannot meet one in a string.
_REJECTED_SCALAR_CLASS = _class_body([code for code in _REJECTED_CODES if not 0xD800 <= code <= 0xDFFF])
NAME_PATTERN = f"^[{_BLANK_CLASS}]*[^{_REJECTED_SCALAR_CLASS}{_BLANK_CLASS}][^{_REJECTED_SCALAR_CLASS}]*$"


# --- JSON bodies --------------------------------------------------------------------------------
class _DuplicateKey(ValueError):
    pass


def _object_without_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    obj = dict(pairs)
    if len(obj) != len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise _DuplicateKey(key)
            seen.add(key)
    return obj


def _reject_constant(name: str) -> None:
    raise ValueError(f"{name} is not JSON")


# One decoder for all requests (json.loads with options builds one per call). Duplicate keys are
# rejected, not "last wins": two parsers that disagree on which one counts (a log shipper, a
# future WAF, a client library) would each see a different name. NaN and Infinity are not JSON.
_DECODER = json.JSONDecoder(object_pairs_hook=_object_without_duplicates, parse_constant=_reject_constant)


def parse_json_body(raw: bytes) -> Any:
    """Decode a request body; anything that is not JSON -> 400."""
    if not raw.strip():
        raise BadRequest("invalid json", "the request body is empty; expected a JSON object")
    try:
        # json.loads's encoding detection (UTF-8 with or without BOM, UTF-16, UTF-32), but strict:
        # json.loads decodes with "surrogatepass", letting UTF-8-encoded surrogates through.
        return _DECODER.decode(raw.decode(json.detect_encoding(raw)))
    except RecursionError as exc:
        # About 1000 levels ([[[...]]], 3 KB) exhaust the interpreter's recursion limit.
        raise BadRequest("invalid json", "the request body nests arrays or objects too deeply") from exc
    except _DuplicateKey as exc:
        key = str(exc.args[0])
        shown = ascii(key if len(key) <= 40 else key[:40] + "...")
        raise BadRequest("invalid json", f"duplicate key {shown} in a JSON object") from exc
    except (ValueError, UnicodeDecodeError) as exc:  # JSONDecodeError is a ValueError
        raise BadRequest("invalid json", f"the request body is not valid JSON: {exc}") from exc


def validate_new_item(payload: Any) -> str:
    """The item name from a POST /items body, in NFC; anything unusable -> 422."""
    if not isinstance(payload, dict):
        raise UnprocessableEntity("invalid item", "the request body must be a JSON object")
    if "name" not in payload:
        raise UnprocessableEntity("invalid item", "'name' is required")
    name = payload["name"]
    if not isinstance(name, str):
        raise UnprocessableEntity("invalid item", "'name' must be a string")
    # NFC first, so that the checks and the length apply to what is stored; the same text sent
    # composed or decomposed is then one name (and one idempotent replay). An NFC string comes back
    # as it is, after a quick check.
    name = unicodedata.normalize("NFC", name)
    # isprintable() (C, ~10x faster than the character class) is False for every rejected
    # category: the class runs only on names it is False for, e.g. with NBSP, ZWJ or private use.
    rejected = None if name.isprintable() else _REJECTED_NAME_CHAR_RE.search(name)
    if rejected is not None:
        code = ord(rejected.group())
        raise UnprocessableEntity(
            "invalid item",
            f"'name' must not contain control or format characters: U+{code:04X} "
            f"({unicodedata.category(rejected.group())}) at position {rejected.start()}",
        )
    if not name.strip(NAME_BLANK_CHARS):
        raise UnprocessableEntity("invalid item", "'name' must not be empty or whitespace only")
    if len(name) > MAX_NAME_LENGTH:
        raise UnprocessableEntity(
            "invalid item", f"'name' must be at most {MAX_NAME_LENGTH} characters (got {len(name)})"
        )
    return name


# --- Headers and query parameters ---------------------------------------------------------------
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
    """None for the first page: no cursor, or an empty one (`?cursor=` from a client that fills
    the parameter in from an absent Link header; openapi.py documents it). Else 400 unless it is a
    value encode_cursor made."""
    if not value:
        return None
    text = ""
    # binascii.Error: a length of 4n+1; UnicodeDecodeError: bytes that are not ASCII.
    if _CURSOR_TOKEN_RE.fullmatch(value):
        with contextlib.suppress(binascii.Error, UnicodeDecodeError):
            text = base64.urlsafe_b64decode(value + "=" * (-len(value) % 4)).decode("ascii")
    match = _CURSOR_RE.fullmatch(text)
    if not match:
        raise BadRequest("invalid cursor", "cursor must be a value from a previous Link rel=next header")
    return int(match.group(1))


def is_item_id(value: str) -> bool:
    return bool(ITEM_ID_RE.fullmatch(value))


def sane_request_id(value: str | None) -> str | None:
    return value if value is not None and _REQUEST_ID_RE.fullmatch(value) else None
