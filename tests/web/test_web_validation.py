"""Pure input validation of the items service."""

from __future__ import annotations

import base64
import re
import time
import unicodedata
from typing import Any

import pytest
from items_service.config import DEFAULT_PAGE_LIMIT, MAX_PAGE_LIMIT
from items_service.errors import BadRequest, UnprocessableEntity
from items_service.validation import (
    ALLOWED_FORMAT_CHARS,
    CURSOR_PATTERN,
    NAME_BLANK_CHARS,
    NAME_PATTERN,
    REJECTED_NAME_CATEGORIES,
    decode_cursor,
    encode_cursor,
    is_item_id,
    parse_idempotency_key,
    parse_json_body,
    parse_limit,
    sane_request_id,
    validate_new_item,
)

VALID_NAMES = [
    "a",
    "  padded  ",
    "x" * 200,
    "日本語",
    "caf\u00e9",
    "non\u00a0breaking",
    "東京\u3000タワー",
    "\U0001f468\u200d\U0001f469\u200d\U0001f467",  # family: ZWJ sequence
    "\u0645\u06cc\u200c\u062e\u0648\u0627\u0647\u0645",  # Persian with ZWNJ
    "\ue000 private use",
    "\U000e0100 variation selector 17 (Mn)",
    "\U0001fae8 unassigned in Unicode 14",
]


@pytest.mark.parametrize("name", VALID_NAMES)
def test_valid_names_are_returned_unchanged(name: str) -> None:
    assert validate_new_item({"name": name}) == name


# JSON Schema reads patterns as ECMA-262 does: `$` is the end of the string, Python's `\Z`.
DOCUMENTED_NAME_RE = re.compile(NAME_PATTERN.removesuffix("$") + r"\Z")


@pytest.mark.parametrize("name", VALID_NAMES)
def test_valid_names_match_the_documented_pattern(name: str) -> None:
    assert DOCUMENTED_NAME_RE.search(name)


def test_names_are_normalised_to_nfc_before_the_length_check() -> None:
    decomposed = "e\u0301" * 200  # 400 code points, 200 once composed
    assert validate_new_item({"name": decomposed}) == "\u00e9" * 200
    assert validate_new_item({"name": "\u212b"}) == "\u00c5"  # ANGSTROM SIGN -> A WITH RING
    # U+0958 is a composition exclusion: NFC makes two code points of it.
    with pytest.raises(UnprocessableEntity, match=r"at most 200 characters \(got 202\)"):
        validate_new_item({"name": "\u0958" * 101})


@pytest.mark.parametrize(
    ("name", "code"),
    [
        ("nul\x00", "U+0000 (Cc) at position 3"),
        ("\x1b[31mred", "U+001B (Cc) at position 0"),
        ("with\ttab", "U+0009 (Cc)"),
        ("two\nlines", "U+000A (Cc)"),
        ("c1\x85", "U+0085 (Cc)"),
        ("abc\u202edcba", "U+202E (Cf) at position 3"),  # right-to-left override
        ("\u2066isolate", "U+2066 (Cf)"),
        ("zero\u200bwidth", "U+200B (Cf)"),
        ("\ufeffbom", "U+FEFF (Cf)"),
        ("soft\u00adhyphen", "U+00AD (Cf)"),
        ("tag\U000e0041", "U+E0041 (Cf)"),
        ("\U0001f3f4\U000e0067\U000e0062\U000e0065\U000e006e\U000e0067\U000e007f", "U+E0067 (Cf)"),
        ("line\u2028sep", "U+2028 (Zl)"),
        ("para\u2029sep", "U+2029 (Zp)"),
        ("\ud800", "U+D800 (Cs) at position 0"),
        ("lone \udfff low", "U+DFFF (Cs)"),
    ],
)
def test_control_format_and_surrogate_characters_are_422(name: str, code: str) -> None:
    with pytest.raises(UnprocessableEntity) as info:
        validate_new_item({"name": name})
    assert info.value.error == "invalid item"
    assert "control or format characters" in str(info.value.detail)
    assert code in str(info.value.detail)
    if "(Cs)" not in code:  # the pattern leaves surrogates out (see validation.NAME_PATTERN)
        assert not DOCUMENTED_NAME_RE.search(name)


@pytest.mark.parametrize("name", ["\u200d", " \u200c \u200d ", "\u3000", "\u00a0\u2003"])
def test_blank_names_are_422(name: str) -> None:
    with pytest.raises(UnprocessableEntity, match="empty or whitespace only"):
        validate_new_item({"name": name})
    assert not DOCUMENTED_NAME_RE.search(name)


@pytest.mark.parametrize(
    "unit", ["\u00a0", "a\u0301", "\u200d", "\u0958", "\ue000", "x", "\ud800", "\u202e"], ids=ascii
)
def test_validation_stays_linear_on_hostile_names(unit: str) -> None:
    """A 16 KiB body's worth of the slowest characters: NFC work, the slow path of the character
    scan, an early or late rejection. Each takes well under a millisecond; 50 ms is a wide margin."""
    name = unit * (16384 // len(unit))
    started = time.perf_counter()
    for payload in ({"name": name}, {"name": "ok" + name}, {"name": name + "\x00"}):
        with pytest.raises(UnprocessableEntity):  # too long, or a rejected character
            validate_new_item(payload)
    assert time.perf_counter() - started < 0.05


def test_the_character_tables_cover_all_of_unicode() -> None:
    """The tables scan planes 0, 1 and 14 only; nothing they look for lives anywhere else, and with
    the rejected characters out, the blanks are exactly what str.strip() would strip plus ZWNJ/ZWJ."""
    for code in range(0x110000):
        char = chr(code)
        category = unicodedata.category(char)
        if 0x20000 <= code < 0xE0000 or code >= 0xE1000:
            assert category not in REJECTED_NAME_CATEGORIES | {"Zs"}, hex(code)
            continue
        is_rejected = category in REJECTED_NAME_CATEGORIES and char not in ALLOWED_FORMAT_CHARS
        is_blank = char in NAME_BLANK_CHARS
        assert is_blank == (category == "Zs" or char in ALLOWED_FORMAT_CHARS), hex(code)
        if not is_rejected:
            assert char.isspace() <= is_blank, hex(code)
        else:
            assert not char.isprintable(), hex(code)  # validate_new_item's fast path relies on it
        # The documented pattern agrees with the validator on every character but the surrogates.
        if category != "Cs":
            assert bool(DOCUMENTED_NAME_RE.search("x" + char)) is not is_rejected, hex(code)


def test_extra_fields_are_ignored() -> None:
    assert validate_new_item({"name": "n", "colour": "red"}) == "n"


@pytest.mark.parametrize(
    ("payload", "fragment"),
    [
        ({}, "required"),
        ({"nom": "x"}, "required"),
        ({"name": ""}, "empty"),
        ({"name": "   \u3000 "}, "empty"),
        ({"name": "   \t\n "}, "control"),
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
    # The encodings json.loads detects are still read: BOM, UTF-16.
    assert parse_json_body(b'\xef\xbb\xbf{"name": "bom"}') == {"name": "bom"}
    assert parse_json_body('{"name": "wide"}'.encode("utf-16")) == {"name": "wide"}
    assert parse_json_body(b'{"name": "\\ud800"}') == {"name": "\ud800"}  # validate_new_item rejects it


@pytest.mark.parametrize("depth", [1000, 3000, 100_000])
def test_deeply_nested_bodies_are_400_not_a_recursion_error(depth: int) -> None:
    for raw in (b"[" * depth + b"]" * depth, b'{"a":' * depth + b"1" + b"}" * depth, b"[" * depth):
        with pytest.raises(BadRequest) as info:
            parse_json_body(raw)
        assert info.value.error == "invalid json"
        assert "too deeply" in str(info.value.detail) or "not valid JSON" in str(info.value.detail)


def test_moderate_nesting_is_still_json() -> None:
    assert parse_json_body(b'{"name": "n", "x": ' + b"[" * 100 + b"]" * 100 + b"}")["name"] == "n"


@pytest.mark.parametrize(
    ("raw", "fragment"),
    [
        (b'{"name": "a", "name": "b"}', "duplicate key 'name'"),
        (b'{"x": {"k": 1, "k": 2}, "name": "a"}', "duplicate key 'k'"),
        (b'{"' + b"k" * 100 + b'": 1, "' + b"k" * 100 + b'": 2}', "duplicate key 'kkkk"),
        (b'{"name": NaN}', "NaN is not JSON"),
        (b'{"name": "x", "n": -Infinity}', "-Infinity is not JSON"),
        (b'"\xed\xa0\x80"', "can't decode"),  # a UTF-8-encoded surrogate is not UTF-8
        (b'{"n": ' + b"1" * 5000 + b"}", "not valid JSON"),  # int() digit limit
    ],
)
def test_duplicate_keys_non_json_constants_and_bad_utf8_are_400(raw: bytes, fragment: str) -> None:
    with pytest.raises(BadRequest) as info:
        parse_json_body(raw)
    assert info.value.error == "invalid json"
    assert fragment in str(info.value.detail)
    assert len(str(info.value.detail)) < 200  # a long duplicate key is not echoed in full


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


def test_absent_and_empty_cursors_are_the_first_page() -> None:
    assert decode_cursor(None) is None
    assert decode_cursor("") is None  # openapi.py: "Empty (cursor=) means the first page"


@pytest.mark.parametrize("seq", [1, 2, 12345, 2**53])
def test_issued_cursors_match_the_documented_pattern(seq: int) -> None:
    assert re.fullmatch(CURSOR_PATTERN, encode_cursor(seq))


def _b64(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


@pytest.mark.parametrize(
    "cursor",
    [
        " ",
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
        "djE6NQ==",  # padded: never issued, and outside the documented pattern
        "dj+6NQ",
        "d",  # 4n+1 characters is no base64
        "gA",  # decodes to a byte that is not ASCII
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
