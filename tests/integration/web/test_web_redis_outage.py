"""Redis down or hung: fast 503 JSON with Retry-After, /livez unaffected, recovery without restart."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

import pytest
from flask import Flask
from werkzeug.test import TestResponse

if TYPE_CHECKING:
    from tests.conftest import RedisServer

pytestmark = pytest.mark.integration

ITEM = "/items/0123456789abcdef0123456789abcdef"


def _timed(call: Callable[[], TestResponse]) -> tuple[TestResponse, float]:
    started = time.monotonic()
    response = call()
    return response, time.monotonic() - started


def _assert_unavailable(response: TestResponse, elapsed: float, budget: float) -> None:
    assert response.status_code == 503, response.get_data(as_text=True)
    assert response.is_json
    assert response.headers["Retry-After"] == "1"
    assert elapsed < budget, elapsed


def test_redis_stopped_gives_fast_503_and_recovers(app: Flask, redis_server: RedisServer) -> None:
    client = app.test_client()
    created = client.post("/items", json={"name": "before"})
    assert created.status_code == 201  # pool now holds live connections that will go stale

    redis_server.stop()
    calls: dict[str, Callable[[], TestResponse]] = {
        "post": lambda: client.post("/items", json={"name": "during"}, headers={"Idempotency-Key": "k1"}),
        "list": lambda: client.get("/items"),
        "get": lambda: client.get(ITEM),
        "health": lambda: client.get("/health"),
        "readyz": lambda: client.get("/readyz"),
    }
    for name, call in calls.items():
        response, elapsed = _timed(call)
        _assert_unavailable(response, elapsed, 2.0)
        body = response.get_json()
        if name == "health":
            assert body["status"] == "unhealthy" and "error" in body
        elif name == "readyz":
            assert body["status"] == "unavailable"
        else:
            assert body["error"] == "storage unavailable"
    live, elapsed = _timed(lambda: client.get("/livez"))
    assert live.status_code == 200 and elapsed < 0.5

    metrics = client.get("/metrics").get_data(as_text=True)
    for operation, count in (("create", 1), ("list", 1), ("get", 1), ("ping", 2)):
        assert (
            f'items_redis_errors_total{{operation="{operation}",replica="web-test",zone="zt"}} {count}.0'
            in metrics
        )
    assert 'route="/items",status="503"' in metrics

    redis_server.start()  # same port, empty data, empty script cache; the app is not restarted
    assert client.get("/health").get_json() == {"status": "healthy"}
    again = client.post("/items", json={"name": "after"}, headers={"Idempotency-Key": "k1"})
    assert again.status_code == 201
    assert client.get(again.headers["Location"]).get_json()["name"] == "after"


def test_hung_redis_times_out_into_503(app_factory: Callable[..., Flask], redis_server: RedisServer) -> None:
    client = app_factory(redis_socket_timeout=0.5).test_client()
    assert client.get("/items").status_code == 200  # a pooled, authenticated connection
    redis_server.pause()  # accepts TCP connections, never answers
    try:
        for call in (lambda: client.get("/items"), lambda: client.post("/items", json={"name": "x"})):
            response, elapsed = _timed(call)
            _assert_unavailable(response, elapsed, 1.5)
            assert elapsed >= 0.4  # it did wait for the socket timeout: Redis really was hung
        live, elapsed = _timed(lambda: client.get("/livez"))
        assert live.status_code == 200 and elapsed < 0.5
    finally:
        redis_server.resume()
    assert client.get("/items").status_code == 200


def test_health_answers_while_requests_wait_on_a_hung_redis(
    app_factory: Callable[..., Flask], redis_server: RedisServer
) -> None:
    """Several threads stuck on Redis do not block /livez (no global lock in the request path)."""
    app = app_factory(redis_socket_timeout=1.0)
    app.test_client().get("/items")
    redis_server.pause()
    statuses: list[int] = []
    try:
        threads = [
            threading.Thread(target=lambda: statuses.append(app.test_client().get("/items").status_code))
            for _ in range(4)
        ]
        for t in threads:
            t.start()
        time.sleep(0.1)
        live, elapsed = _timed(lambda: app.test_client().get("/livez"))
        assert live.status_code == 200 and elapsed < 0.5
        for t in threads:
            t.join(timeout=5)
    finally:
        redis_server.resume()
    assert statuses == [503] * 4
