"""Idempotency-Key: replays, conflicts, concurrency, and the single atomic Lua write."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import pytest
import redis
from flask import Flask
from flask.testing import FlaskClient
from items_service.runtime import EXTENSION_KEY

pytestmark = pytest.mark.integration


def test_same_key_twice_returns_the_same_item_once(client: FlaskClient, rdb: redis.Redis) -> None:
    headers = {"Idempotency-Key": "order-1"}
    first = client.post("/items", json={"name": "pen"}, headers=headers)
    second = client.post("/items", json={"name": "pen"}, headers=headers)
    assert (first.status_code, second.status_code) == (201, 201)
    assert second.get_json() == first.get_json()
    assert "Idempotent-Replayed" not in first.headers
    assert second.headers["Idempotent-Replayed"] == "true"
    assert second.headers["Location"] == first.headers["Location"]
    assert rdb.hlen("items:data") == 1
    assert rdb.zcard("items:by_seq") == 1
    assert rdb.get("items:idem:order-1") == first.get_json()["id"]
    assert 86400 - 5 <= rdb.ttl("items:idem:order-1") <= 86400
    metrics = client.get("/metrics").get_data(as_text=True)
    assert 'items_idempotent_replays_total{replica="web-test",zone="zt"} 1.0' in metrics
    assert 'items_created_total{replica="web-test",zone="zt"} 1.0' in metrics


def test_same_key_different_name_is_409(client: FlaskClient, rdb: redis.Redis) -> None:
    headers = {"Idempotency-Key": "k"}
    first = client.post("/items", json={"name": "pen"}, headers=headers).get_json()
    conflict = client.post("/items", json={"name": "pencil"}, headers=headers)
    assert conflict.status_code == 409
    assert conflict.is_json
    assert conflict.get_json()["error"] == "idempotency key conflict"
    assert first["id"] in conflict.get_json()["detail"]
    assert rdb.hlen("items:data") == 1


def test_different_keys_make_different_items(client: FlaskClient, rdb: redis.Redis) -> None:
    a = client.post("/items", json={"name": "x"}, headers={"Idempotency-Key": "a"}).get_json()
    b = client.post("/items", json={"name": "x"}, headers={"Idempotency-Key": "b"}).get_json()
    assert a["id"] != b["id"]
    assert rdb.hlen("items:data") == 2


@pytest.mark.parametrize("key", ["", "x" * 129, "clé"])
def test_invalid_keys_are_400_and_store_nothing(client: FlaskClient, rdb: redis.Redis, key: str) -> None:
    # Non-latin-1 header values cannot even be sent: send raw bytes decoded as latin-1 by WSGI.
    environ: dict[str, Any] = {"HTTP_IDEMPOTENCY_KEY": key.encode().decode("latin-1")}
    response = client.post("/items", json={"name": "x"}, environ_overrides=environ)
    assert response.status_code == 400
    assert response.get_json()["error"] == "invalid idempotency key"
    assert rdb.hlen("items:data") == 0


def test_twenty_concurrent_posts_with_one_key_store_one_item(app: Flask, rdb: redis.Redis) -> None:
    barrier = threading.Barrier(20)
    results: list[tuple[int, str, str | None]] = []
    lock = threading.Lock()

    def post() -> None:
        client = app.test_client()
        barrier.wait()
        response = client.post("/items", json={"name": "race"}, headers={"Idempotency-Key": "race-key"})
        with lock:
            results.append(
                (response.status_code, response.get_json()["id"], response.headers.get("Idempotent-Replayed"))
            )

    threads = [threading.Thread(target=post) for _ in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=10)
    assert len(results) == 20
    assert {status for status, _, _ in results} == {201}
    assert len({item_id for _, item_id, _ in results}) == 1
    assert sum(1 for *_, replayed in results if replayed is None) == 1
    assert sum(1 for *_, replayed in results if replayed == "true") == 19
    assert rdb.hlen("items:data") == 1
    assert rdb.zcard("items:by_seq") == 1
    assert rdb.get("items:seq") == "1"


def _count_commands(app: Flask) -> list[str]:
    """Record the commands the app's Redis client sends (the real server still executes them)."""
    client = app.extensions[EXTENSION_KEY].store.client
    sent: list[str] = []
    original: Callable[..., Any] = client.execute_command

    def recording(*args: Any, **kwargs: Any) -> Any:
        sent.append(str(args[0]).upper())
        return original(*args, **kwargs)

    client.execute_command = recording  # type: ignore[method-assign]
    return sent


def test_create_is_one_script_call_not_separate_writes(app: Flask, client: FlaskClient) -> None:
    client.post("/items", json={"name": "warm-up"})  # loads the script
    sent = _count_commands(app)
    client.post("/items", json={"name": "x"}, headers={"Idempotency-Key": "atomic"})
    assert sent == ["EVALSHA"]
    sent.clear()
    client.post("/items", json={"name": "x"}, headers={"Idempotency-Key": "atomic"})
    assert sent == ["EVALSHA"]


def test_script_is_reloaded_after_a_redis_script_flush(client: FlaskClient, rdb: redis.Redis) -> None:
    client.post("/items", json={"name": "a"})
    rdb.script_flush()  # what a Redis restart does to the script cache
    response = client.post("/items", json={"name": "b"}, headers={"Idempotency-Key": "after-flush"})
    assert response.status_code == 201
    assert rdb.hlen("items:data") == 2
