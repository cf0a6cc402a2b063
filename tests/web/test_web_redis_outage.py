"""Redis down or hung: fast 503 JSON with Retry-After, /livez unaffected, recovery without restart;
a create whose reply was lost says its outcome is unknown."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

import pytest
import redis
from flask import Flask
from items_service.errors import OUTCOME_UNKNOWN
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


# --- POST /items: "the item was not stored" versus "it may have been" -----------------------------
PROXY_ID_A = "a" * 32
PROXY_ID_B = "b" * 32


def test_create_whose_reply_is_lost_says_outcome_unknown_and_a_keyed_retry_is_safe(
    app_factory: Callable[..., Flask], redis_server: RedisServer, rdb: redis.Redis
) -> None:
    """A frozen Redis (SIGSTOP) has the EVALSHA in its socket buffer when the read times out: the
    create runs once Redis thaws. The 503 must say so, and the keyed retry returns that item."""
    client = app_factory(redis_socket_timeout=0.3).test_client()
    assert client.post("/items", json={"name": "warm-up"}).status_code == 201  # a pooled connection
    redis_server.pause()
    try:
        lost = client.post("/items", json={"name": "pen"}, headers={"Idempotency-Key": "order-7"})
    finally:
        redis_server.resume()
    assert lost.status_code == 503 and lost.is_json
    assert lost.headers["Retry-After"] == "1"
    body = lost.get_json()
    assert set(body) == {"error", "detail"}
    assert body["error"] == OUTCOME_UNKNOWN == "outcome unknown; retry with the same Idempotency-Key"
    assert "TimeoutError" in body["detail"] and "may or may not have been stored" in body["detail"]

    assert _wait_for(lambda: rdb.hlen("items:data") == 2)  # it did run: warm-up + pen
    retry = client.post("/items", json={"name": "pen"}, headers={"Idempotency-Key": "order-7"})
    assert retry.status_code == 201
    assert retry.headers["Idempotent-Replayed"] == "true"
    assert rdb.hlen("items:data") == 2  # the retry stored nothing new
    assert retry.get_json()["id"] == rdb.get("items:idem:order-7")


def test_keyless_create_whose_reply_is_lost_is_duplicated_by_a_client_retry(
    app_factory: Callable[..., Flask], redis_server: RedisServer, rdb: redis.Redis
) -> None:
    """Why the message asks for an Idempotency-Key: a keyless POST's implicit key is the proxy's
    X-Proxy-Request-Id, and the client's retry is a new request with a new id: a second item."""
    client = app_factory(redis_socket_timeout=0.3).test_client()
    assert client.get("/items").status_code == 200
    redis_server.pause()
    try:
        lost = client.post("/items", json={"name": "mug"}, headers={"X-Proxy-Request-Id": PROXY_ID_A})
    finally:
        redis_server.resume()
    assert (lost.status_code, lost.get_json()["error"]) == (503, OUTCOME_UNKNOWN)
    assert "a retry without one is a new request" in lost.get_json()["detail"]
    assert _wait_for(lambda: rdb.hlen("items:data") == 1)
    # The proxy's own retry (same id) is still stored once ...
    replay = client.post("/items", json={"name": "mug"}, headers={"X-Proxy-Request-Id": PROXY_ID_A})
    assert replay.headers.get("Idempotent-Replayed") == "true"
    # ... but the client's retry through the proxy carries a fresh id.
    retry = client.post("/items", json={"name": "mug"}, headers={"X-Proxy-Request-Id": PROXY_ID_B})
    assert retry.status_code == 201 and "Idempotent-Replayed" not in retry.headers
    assert rdb.hlen("items:data") == 2


def test_create_on_a_stopped_redis_is_plain_storage_unavailable(
    app: Flask, redis_server: RedisServer, rdb: redis.Redis
) -> None:
    """Connection refused: the command never left; "storage unavailable" (a keyless retry is safe)."""
    client = app.test_client()
    assert client.post("/items", json={"name": "before"}).status_code == 201
    redis_server.stop()
    try:
        for headers in ({"Idempotency-Key": "k-refused"}, {}, {"X-Proxy-Request-Id": PROXY_ID_A}):
            response = client.post("/items", json={"name": "during"}, headers=headers)
            assert response.status_code == 503 and response.headers["Retry-After"] == "1"
            assert response.get_json()["error"] == "storage unavailable"
            assert "ConnectionError" in response.get_json()["detail"]
    finally:
        redis_server.start()


def test_create_that_times_out_while_connecting_is_plain_storage_unavailable(
    app_factory: Callable[..., Flask], redis_server: RedisServer, rdb: redis.Redis
) -> None:
    """A frozen Redis still accepts TCP connections; a new connection then times out on its AUTH
    reply, before the create is sent: not run, "storage unavailable", and nothing appears later."""
    client = app_factory(redis_socket_timeout=0.3).test_client()  # no pooled connection yet
    redis_server.pause()
    try:
        response = client.post("/items", json={"name": "never"}, headers={"Idempotency-Key": "k-auth"})
    finally:
        redis_server.resume()
    assert response.status_code == 503 and response.headers["Retry-After"] == "1"
    assert response.get_json()["error"] == "storage unavailable"
    assert client.get("/health").status_code == 200  # Redis has caught up with its backlog
    assert rdb.hlen("items:data") == 0
    assert rdb.get("items:idem:k-auth") is None


def test_reads_whose_reply_is_lost_stay_storage_unavailable(
    app_factory: Callable[..., Flask], redis_server: RedisServer
) -> None:
    client = app_factory(redis_socket_timeout=0.3).test_client()
    assert client.get("/items").status_code == 200
    redis_server.pause()
    try:
        listing = client.get("/items")
        one = client.get(ITEM)
    finally:
        redis_server.resume()
    for response in (listing, one):
        assert response.status_code == 503
        assert response.get_json()["error"] == "storage unavailable"


def _wait_for(condition: Callable[[], bool], timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True
