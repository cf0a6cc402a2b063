"""Every error is JSON {"error", "detail"} with the right status, never an HTML page."""

from __future__ import annotations

import json
from typing import Any

import pytest
import redis
from flask import Flask
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

pytestmark = pytest.mark.integration


def _assert_json_error(response: TestResponse, status: int, error: str | None = None) -> dict[str, Any]:
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.mimetype == "application/json"
    assert b"<html" not in response.get_data().lower()
    body = response.get_json()
    assert set(body) == {"error", "detail"}
    assert isinstance(body["error"], str) and body["error"]
    if error is not None:
        assert body["error"] == error
    return body


@pytest.mark.parametrize("raw", [b"{", b"not json", b"", b"\xff\xfe", b"{'name': 'single quotes'}"])
def test_invalid_json_is_400(client: FlaskClient, rdb: redis.Redis, raw: bytes) -> None:
    response = client.post("/items", data=raw, content_type="application/json")
    _assert_json_error(response, 400, "invalid json")
    assert rdb.hlen("items:data") == 0


@pytest.mark.parametrize(
    "payload",
    [
        {},
        {"name": ""},
        {"name": "   "},
        {"name": "x" * 201},
        {"name": 5},
        {"name": None},
        {"name": []},
        [],
        "x",
    ],
)
def test_invalid_items_are_422(client: FlaskClient, rdb: redis.Redis, payload: Any) -> None:
    response = client.post("/items", data=json.dumps(payload), content_type="application/json")
    _assert_json_error(response, 422, "invalid item")
    assert rdb.hlen("items:data") == 0


def test_name_of_exactly_200_chars_is_accepted(client: FlaskClient) -> None:
    assert client.post("/items", json={"name": "x" * 200}).status_code == 201


def test_json_without_content_type_is_accepted(client: FlaskClient) -> None:
    # The original challenge's clients do not all send Content-Type: application/json.
    assert client.post("/items", data=b'{"name": "plain"}', content_type="text/plain").status_code == 201


def test_body_over_16_kib_is_413(client: FlaskClient, rdb: redis.Redis) -> None:
    body = json.dumps({"name": "x", "pad": "y" * (16 * 1024)}).encode()
    response = client.post("/items", data=body, content_type="application/json")
    body_json = _assert_json_error(response, 413, "payload too large")
    assert "16384" in body_json["detail"]
    assert rdb.hlen("items:data") == 0


def _body_of_size(size: int) -> bytes:
    head = b'{"name": "ok", "pad": "'
    body = head + b"y" * (size - len(head) - 2) + b'"}'
    assert len(body) == size
    return body


def test_body_of_exactly_16_kib_is_processed_one_more_byte_is_413(client: FlaskClient) -> None:
    ok = client.post("/items", data=_body_of_size(16384), content_type="application/json")
    assert ok.status_code == 201
    _assert_json_error(
        client.post("/items", data=_body_of_size(16385), content_type="application/json"),
        413,
        "payload too large",
    )


@pytest.mark.parametrize("path", ["/nope", "/items/", "/items/abc/def", "/"])
def test_unknown_route_is_404_json(client: FlaskClient, path: str) -> None:
    _assert_json_error(client.get(path), 404, "not found")


@pytest.mark.parametrize("item_id", ["0123456789abcdef0123456789abcdef", "not-an-id", "DROP TABLE"])
def test_missing_item_is_404_json(client: FlaskClient, item_id: str) -> None:
    _assert_json_error(client.get(f"/items/{item_id}"), 404, "item not found")


@pytest.mark.parametrize(
    ("method", "path", "allowed"),
    [
        ("PUT", "/items", {"GET", "POST"}),
        ("DELETE", "/items", {"GET", "POST"}),
        ("POST", "/items/0123456789abcdef0123456789abcdef", {"GET"}),
        ("PATCH", "/health", {"GET"}),
        ("POST", "/metrics", {"GET"}),
    ],
)
def test_wrong_method_is_405_json_with_allow(
    client: FlaskClient, method: str, path: str, allowed: set[str]
) -> None:
    response = client.open(path, method=method)
    _assert_json_error(response, 405, "method not allowed")
    allow = {m.strip() for m in response.headers["Allow"].split(",")}
    assert allowed <= allow
    assert method not in allow


def test_bad_idempotency_key_is_400_json(client: FlaskClient) -> None:
    response = client.post("/items", json={"name": "x"}, headers={"Idempotency-Key": "k" * 200})
    _assert_json_error(response, 400, "invalid idempotency key")


def test_unexpected_exception_is_500_json_and_logged_with_traceback(
    app: Flask, capsys: pytest.CaptureFixture[str]
) -> None:
    @app.get("/boom")
    def boom() -> str:
        raise RuntimeError("kaboom")

    capsys.readouterr()
    response = app.test_client().get("/boom", headers={"X-Request-ID": "req-500"})
    body = _assert_json_error(response, 500, "internal server error")
    assert "req-500" in body["detail"]
    assert "kaboom" not in body["detail"]  # internals stay in the log
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    errors = [line for line in lines if line["logger"] == "items_service.errors"]
    assert len(errors) == 1
    assert errors[0]["level"] == "error"
    assert errors[0]["request_id"] == "req-500"
    assert "RuntimeError: kaboom" in errors[0]["traceback"]
    access = [line for line in lines if line["logger"] == "items_service.access"]
    assert [(a["status"], a["route"], a["level"]) for a in access] == [(500, "/boom", "error")]
