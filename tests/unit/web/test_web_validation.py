"""Pure input validation of the items service."""

from __future__ import annotations

import base64
import re
from typing import Any

import pytest
from items_service.config import DEFAULT_PAGE_LIMIT, MAX_PAGE_LIMIT
from items_service.errors import BadRequest, UnprocessableEntity
from items_service.validation import (
    decode_cursor,
    encode_cursor,
    is_item_id,
    parse_idempotency_key,
    parse_json_body,
    parse_limit,
    sane_request_id,
    validate_new_item,
)


@pytest.mark.parametrize("name", ["a", "  padded  ", "x" * 200, "日本語", "with\ttab"])
def test_valid_names_are_returned_unchanged(name: str) -> None:
    assert validate_new_item({"name": name}) == name


def test_extra_fields_are_ignored() -> None:
    assert validate_new_item({"name": "n", "colour": "red"}) == "n"


@pytest.mark.parametrize(
    ("payload", "fragment"),
    [
        ({}, "required"),
        ({"nom": "x"}, "required"),
        ({"name": ""}, "empty"),
        ({"name": "   \t\n "}, "empty"),
        ({"name": "x" * 201}, "at most 200"),
        ({"name": 42}, "string"),
        ({"name": None}, "string"),
        ({"name": ["a"]}, "string"),
        ({"name": {"a": 1}}, "string"),
        ({"name": True}, "string"),
        (["name"], "object"),
        ("name", "object"),
        (None, "object"),
        (3, "object"),
    ],
)
def test_invalid_items_are_422(payload: Any, fragment: str) -> None:
    with pytest.raises(UnprocessableEntity) as info:
        validate_new_item(payload)
    assert info.value.status == 422
    assert info.value.error == "invalid item"
    assert fragment in str(info.value.detail)


@pytest.mark.parametrize(
    "raw", [b"", b"   ", b"{", b"{'name': 'x'}", b"name=x", b"\xff\xfe\x00garbage", b"[1,]"]
)
def test_bodies_that_are_not_json_are_400(raw: bytes) -> None:
    with pytest.raises(BadRequest) as info:
        parse_json_body(raw)
    assert info.value.status == 400
    assert info.value.error == "invalid json"


def test_json_bodies_are_decoded() -> None:
    assert parse_json_body(b'{"name": "caf\xc3\xa9"}') == {"name": "café"}
    assert parse_json_body(b"[1, 2]") == [1, 2]


@pytest.mark.parametrize("key", ["k", "a" * 128, "order-42/retry 1", "~!@#$%^&*()_+{}|:<>?", " x "])
def test_valid_idempotency_keys(key: str) -> None:
    assert parse_idempotency_key(key) == key


def test_absent_idempotency_key_is_none() -> None:
    assert parse_idempotency_key(None) is None


@pytest.mark.parametrize("key", ["", "   ", "a" * 129, "clé", "tab\there", "nl\n", "\x7f", "\x00"])
def test_invalid_idempotency_keys_are_400(key: str) -> None:
    with pytest.raises(BadRequest) as info:
        parse_idempotency_key(key)
    assert info.value.status == 400
    assert info.value.error == "invalid idempotency key"


def test_limit_defaults_and_bounds() -> None:
    assert parse_limit(None) == DEFAULT_PAGE_LIMIT == 50
    assert parse_limit("1") == 1
    assert parse_limit(str(MAX_PAGE_LIMIT)) == MAX_PAGE_LIMIT == 500
    assert parse_limit("007") == 7


@pytest.mark.parametrize("value", ["", "0", "501", "-1", "1.5", "abc", " 5", "5 ", "1e2", "99999999999"])
def test_bad_limits_are_400(value: str) -> None:
    with pytest.raises(BadRequest) as info:
        parse_limit(value)
    assert info.value.error == "invalid limit"


@pytest.mark.parametrize("seq", [1, 2, 9, 10, 12345, 2**53])
def test_cursor_round_trip_and_url_safety(seq: int) -> None:
    cursor = encode_cursor(seq)
    assert re.fullmatch(r"[A-Za-z0-9_-]+", cursor), cursor
    assert str(seq) not in cursor  # opaque, not the raw number
    assert decode_cursor(cursor) == seq


def test_absent_cursor_is_none() -> None:
    assert decode_cursor(None) is None


def _b64(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


@pytest.mark.parametrize(
    "cursor",
    [
        "",
        "!!!!",
        "12",
        _b64("v1:0"),
        _b64("v1:-3"),
        _b64("v1:abc"),
        _b64("v2:5"),
        _b64("v1:5\n"),
        _b64("v1:1234567890123456789"),
        "A" * 65,
        encode_cursor(5) + "%",
        "djE6NQ==x",
    ],
)
def test_bad_cursors_are_400(cursor: str) -> None:
    with pytest.raises(BadRequest) as info:
        decode_cursor(cursor)
    assert info.value.error == "invalid cursor"


def test_item_ids_are_uuid4_hex() -> None:
    assert is_item_id("0123456789abcdef0123456789abcdef")
    assert not is_item_id("0123456789ABCDEF0123456789ABCDEF")
    assert not is_item_id("0123456789abcdef0123456789abcde")
    assert not is_item_id("0123456789abcdef0123456789abcdef\n")
    assert not is_item_id("../etc/passwd")


@pytest.mark.parametrize("value", ["abc", "3f2a-11", "req_1.2:3", "a" * 128, "Root=1-abc/x+y=="])
def test_sane_request_ids_are_kept(value: str) -> None:
    assert sane_request_id(value) == value


@pytest.mark.parametrize(
    "value", [None, "", "a" * 129, "has space", "new\nline", '"quoted"', "-leading", "é"]
)
def test_insane_request_ids_are_dropped(value: str | None) -> None:
    assert sane_request_id(value) is None
