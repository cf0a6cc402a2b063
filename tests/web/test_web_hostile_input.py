"""Hand-written hostile input (issue 12): never a 5xx, every 4xx a JSON {"error", "detail"}, nothing
stored by a rejected request. In-process first, then through the real server (granian) for what only
a socket can send: slow chunked bodies, oversized header blocks, deep nesting on granian's threads."""

from __future__ import annotations

import http.client
import json
import time
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import pytest
import redis
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from tests.web.test_web_server import CHUNKED_HEAD, Server, chunk, raw_exchange, running_server

if TYPE_CHECKING:
    from tests.conftest import RedisServer

pytestmark = pytest.mark.integration


def _json_error(response: TestResponse, status: int, error: str) -> dict[str, Any]:
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.mimetype == "application/json"
    body = response.get_json()
    assert set(body) == {"error", "detail"} and body["error"] == error, body
    assert isinstance(body["detail"], str) and body["detail"]
    return body


def _post_raw(client: FlaskClient, raw: bytes, **kwargs: Any) -> TestResponse:
    kwargs.setdefault("content_type", "application/json")
    return client.post("/items", data=raw, **kwargs)


# --- bodies -----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "raw",
    [
        b"[" * 1500 + b"]" * 1500,  # the 3 KB of nested arrays
        b"[" * 16384,  # as deep as the body limit allows, never closed
        b'{"a":' * 2000 + b"1" + b"}" * 2000,
        b'{"name": "x", "pad": ' + b"[" * 5000 + b"]" * 5000 + b"}",
    ],
    ids=["arrays-3k", "arrays-16k-open", "objects", "deep-field-of-a-valid-item"],
)
def test_deep_nesting_is_400(client: FlaskClient, rdb: redis.Redis, raw: bytes) -> None:
    body = _json_error(_post_raw(client, raw), 400, "invalid json")
    assert "too deeply" in body["detail"]
    assert rdb.hlen("items:data") == 0


@pytest.mark.parametrize("escaped", ["\\ud800", "\\udfff", "x\\udc00\\ud800y", "\\ud83d"])
def test_lone_surrogates_are_422(client: FlaskClient, rdb: redis.Redis, escaped: str) -> None:
    body = _json_error(_post_raw(client, b'{"name": "' + escaped.encode() + b'"}'), 422, "invalid item")
    assert "(Cs)" in body["detail"]
    assert rdb.hlen("items:data") == 0


def test_utf8_encoded_surrogates_are_400(client: FlaskClient, rdb: redis.Redis) -> None:
    _json_error(_post_raw(client, b'{"name": "\xed\xa0\x80"}'), 400, "invalid json")
    assert rdb.hlen("items:data") == 0


def test_a_surrogate_pair_is_one_character(client: FlaskClient) -> None:
    response = _post_raw(client, b'{"name": "\\ud83d\\ude00"}')
    assert response.status_code == 201
    assert response.get_json()["name"] == "\U0001f600"


@pytest.mark.parametrize(
    ("escaped", "code"),
    [
        ("a\\u0000b", "U+0000"),
        ("\\u001b[2J\\u001b[31mroot", "U+001B"),
        ("invoice\\u202egnp.exe", "U+202E"),
        ("fake\\nlog line", "U+000A"),
        ("\\u200bzero width", "U+200B"),
        ("\\ufeffbom", "U+FEFF"),
    ],
)
def test_spoofing_characters_are_422(client: FlaskClient, rdb: redis.Redis, escaped: str, code: str) -> None:
    body = _json_error(_post_raw(client, b'{"name": "' + escaped.encode() + b'"}'), 422, "invalid item")
    assert code in body["detail"] and "control or format characters" in body["detail"]
    assert rdb.hlen("items:data") == 0


def test_emoji_zwj_sequences_are_accepted(client: FlaskClient) -> None:
    family = "\U0001f468\u200d\U0001f469\u200d\U0001f467"
    assert client.post("/items", json={"name": family}).get_json()["name"] == family


def test_names_are_stored_in_nfc_and_replays_match_across_forms(
    client: FlaskClient, rdb: redis.Redis
) -> None:
    headers = {"Idempotency-Key": "nfc-1"}
    first = client.post("/items", json={"name": "cafe\u0301"}, headers=headers)
    assert first.status_code == 201
    assert first.get_json()["name"] == "caf\u00e9"
    assert client.get(first.headers["Location"]).get_json()["name"] == "caf\u00e9"
    # The precomposed form is the same name: a replay, not a 409.
    again = client.post("/items", json={"name": "caf\u00e9"}, headers=headers)
    assert again.status_code == 201 and again.headers["Idempotent-Replayed"] == "true"
    assert rdb.hlen("items:data") == 1
    # 400 code points that compose into 200 fit the limit (NFC comes before the length check).
    assert client.post("/items", json={"name": "e\u0301" * 200}).status_code == 201


@pytest.mark.parametrize(
    "raw",
    [b'{"name": "a", "name": "b"}', b'{"name": "a", "meta": {"x": 1, "x": 2}}'],
    ids=["top-level", "nested"],
)
def test_duplicate_keys_are_400(client: FlaskClient, rdb: redis.Redis, raw: bytes) -> None:
    body = _json_error(_post_raw(client, raw), 400, "invalid json")
    assert "duplicate key" in body["detail"]
    assert rdb.hlen("items:data") == 0


@pytest.mark.parametrize("raw", [b'{"name": NaN}', b'{"name": "x", "n": Infinity}', b"\xff" * 100])
def test_other_non_json_is_400(client: FlaskClient, raw: bytes) -> None:
    _json_error(_post_raw(client, raw), 400, "invalid json")


# --- content types ----------------------------------------------------------------------------
# The body is read as JSON whatever the Content-Type says (some of the original clients send none
# or text/plain): the type is neither trusted nor needed, and a lying one cannot make the service
# parse anything but JSON.
CONTENT_TYPES = [
    None,
    "text/plain",
    "application/x-www-form-urlencoded",
    "multipart/form-data; boundary=zzz",
    "application/json; charset=iso-8859-1",
    "application/xml",
    "%%%; garbage=",
    "application/json" + "; x=y" * 2000,
]


@pytest.mark.parametrize("content_type", CONTENT_TYPES)
def test_any_content_type_reads_a_json_body(client: FlaskClient, content_type: str | None) -> None:
    environ = {} if content_type is None else {"CONTENT_TYPE": content_type}
    response = client.post("/items", data=b'{"name": "typed"}', environ_overrides=environ)
    assert response.status_code == 201, response.get_data(as_text=True)
    assert response.get_json()["name"] == "typed"


@pytest.mark.parametrize("content_type", CONTENT_TYPES)
def test_any_content_type_with_a_body_that_is_not_json_is_400(
    client: FlaskClient, rdb: redis.Redis, content_type: str | None
) -> None:
    raw = b"--zzz\r\nContent-Disposition: form-data; name=name\r\n\r\nx\r\n--zzz--\r\n"
    environ = {} if content_type is None else {"CONTENT_TYPE": content_type}
    for data in (b"name=x", raw, b"<item><name>x</name></item>"):
        _json_error(client.post("/items", data=data, environ_overrides=environ), 400, "invalid json")
    assert rdb.hlen("items:data") == 0


# --- headers ----------------------------------------------------------------------------------
HUGE = "k" * 65536


def test_huge_idempotency_key_is_400(client: FlaskClient, rdb: redis.Redis) -> None:
    response = client.post("/items", json={"name": "x"}, headers={"Idempotency-Key": HUGE})
    _json_error(response, 400, "invalid idempotency key")
    assert rdb.hlen("items:data") == 0


@pytest.mark.parametrize("header", ["X-Request-ID", "X-Proxy-Request-Id", "Cookie", "X-Whatever"])
def test_huge_ignorable_headers_are_ignored(client: FlaskClient, rdb: redis.Redis, header: str) -> None:
    response = client.post("/items", json={"name": "x"}, headers={header: HUGE})
    assert response.status_code == 201
    assert len(response.headers["X-Request-ID"]) < 129  # a fresh id, the huge one is not echoed
    assert not rdb.keys("items:req:*")  # a malformed proxy id is no implicit key


def test_thousands_of_headers(client: FlaskClient) -> None:
    headers = {f"X-Junk-{i}": "v" * 100 for i in range(3000)}
    assert client.post("/items", json={"name": "x"}, headers=headers).status_code == 201
    assert client.get("/items", headers=headers).status_code == 200


def test_control_characters_in_header_values(client: FlaskClient) -> None:
    environ = {"HTTP_X_REQUEST_ID": "abc\r\nX-Injected: 1", "HTTP_IDEMPOTENCY_KEY": "k\x00"}
    response = client.post("/items", json={"name": "x"}, environ_overrides=environ)
    _json_error(response, 400, "invalid idempotency key")
    assert "X-Injected" not in response.headers
    assert "\n" not in response.headers["X-Request-ID"]


# --- query strings and paths ------------------------------------------------------------------
@pytest.mark.parametrize(
    ("query", "error"),
    [
        ("cursor=" + "A" * 100_000, "invalid cursor"),
        ("limit=" + "9" * 10_000, "invalid limit"),
        ("cursor=%00", "invalid cursor"),
        ("cursor=%ff%fe", "invalid cursor"),
        ("cursor=djE6NQ%0a", "invalid cursor"),
        ("limit=%ef%bc%95", "invalid limit"),  # fullwidth digit five: str.isdigit says yes, the API no
        ("limit=5&limit=abc", None),  # the first value counts
        ("&".join(f"p{i}=v" for i in range(5000)), None),  # unknown parameters are ignored
    ],
)
def test_hostile_queries(client: FlaskClient, query: str, error: str | None) -> None:
    response = client.get(f"/items?{query}")
    if error is None:
        assert response.status_code == 200 and response.get_json() == []
    else:
        _json_error(response, 400, error)


@pytest.mark.parametrize("path", ["/items/%00", "/items/%ff", "/items/" + "a" * 10_000, "/items/%E2%80%AE"])
def test_hostile_item_paths_are_404(client: FlaskClient, path: str) -> None:
    body = _json_error(client.get(path), 404, "item not found")
    assert len(body["detail"]) < 120  # what is echoed back is bounded and escaped
    assert "\u202e" not in body["detail"] and "\x00" not in body["detail"]


# --- through the real server ------------------------------------------------------------------
@pytest.fixture(scope="module")
def server(_redis_server_session: RedisServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    with running_server(_redis_server_session, tmp_path_factory) as server:
        yield server


def _request(
    server: Server, raw: bytes, headers: dict[str, str] | None = None
) -> tuple[int, http.client.HTTPMessage, bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    try:
        all_headers = {"Connection": "close", "Content-Type": "application/json", **(headers or {})}
        conn.request("POST", "/items", body=raw, headers=all_headers)
        response = conn.getresponse()
        return response.status, response.msg, response.read()
    finally:
        conn.close()


def test_slow_chunked_body_over_the_limit_is_413(server: Server) -> None:
    parts = [chunk(b'{"name": "slow", "pad": "')] + [chunk(b"y" * 1024) for _ in range(20)]
    parts.append(chunk(b'"}') + b"0\r\n\r\n")
    started = time.monotonic()
    status, body = raw_exchange(server, CHUNKED_HEAD, parts, pause=0.05)
    assert status == 413, body
    assert json.loads(body)["error"] == "payload too large"
    assert time.monotonic() - started < 5


def test_slow_chunked_valid_body_is_accepted(server: Server) -> None:
    parts = [chunk(bytes([c])) for c in b'{"name": "drip"}'] + [b"0\r\n\r\n"]
    status, body = raw_exchange(server, CHUNKED_HEAD, parts, pause=0.02)
    assert (status, json.loads(body)["name"]) == (201, "drip")


def test_content_length_over_the_limit_is_413_before_the_body(server: Server) -> None:
    head = b"POST /items HTTP/1.1\r\nHost: t\r\nContent-Length: 10000000\r\nConnection: close\r\n\r\n"
    status, body = raw_exchange(server, head, [b'{"name": "x", "pad": "' + b"y" * 1000], pause=0.0)
    assert status == 413
    assert json.loads(body)["error"] == "payload too large"


def test_deep_nesting_on_the_servers_threads_is_400(server: Server) -> None:
    status, _, body = _request(server, b"[" * 16384)
    assert status == 400 and json.loads(body)["error"] == "invalid json"


def test_huge_headers_through_the_server_are_no_5xx(server: Server) -> None:
    status, _, body = _request(server, b'{"name": "h"}', {"Idempotency-Key": "k" * 8000})
    assert (status, json.loads(body)["error"]) == (400, "invalid idempotency key")
    status, headers, body = _request(server, b'{"name": "h"}', {"X-Request-ID": "r" * 200_000})
    assert status == 201 and len(headers["X-Request-ID"]) == 32


def test_too_many_headers_are_refused_by_granian_before_the_app(server: Server) -> None:
    """The one 4xx that is not the app's JSON: granian (hyper) caps a request at 100 header lines
    and answers 431 with an empty body itself (docs/security.md). Still no 5xx, nothing stored."""
    status, _, body = _request(server, b'{"name": "h"}', {f"X-Junk-{i}": "v" for i in range(500)})
    assert (status, body) == (431, b"")
