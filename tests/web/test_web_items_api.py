"""POST/GET round trips, headers and stored layout, against a real redis-server."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime, timedelta

import pytest
import redis
from flask.testing import FlaskClient

REPLICA, ZONE = "web-test", "zt"  # see conftest.make_settings

pytestmark = pytest.mark.integration


def test_post_then_get_round_trip(client: FlaskClient) -> None:
    before = datetime.now(UTC)
    created = client.post("/items", json={"name": "widget"})
    assert created.status_code == 201
    body = created.get_json()
    assert set(body) == {"id", "name", "created_at"}
    assert body["name"] == "widget"
    assert uuid.UUID(hex=body["id"]).version == 4 and body["id"] == uuid.UUID(body["id"]).hex
    created_at = datetime.fromisoformat(body["created_at"])
    assert created_at.utcoffset() == timedelta(0)
    assert before - timedelta(seconds=1) <= created_at <= datetime.now(UTC) + timedelta(seconds=1)
    assert created.headers["Location"] == f"/items/{body['id']}"
    assert "Idempotent-Replayed" not in created.headers

    fetched = client.get(created.headers["Location"])
    assert fetched.status_code == 200
    assert fetched.get_json() == body

    listed = client.get("/items")
    assert listed.status_code == 200
    assert listed.get_json() == [body]


def test_each_post_creates_a_new_item(client: FlaskClient) -> None:
    ids = {client.post("/items", json={"name": "same"}).get_json()["id"] for _ in range(3)}
    assert len(ids) == 3


def test_item_layout_in_redis_matches_the_contract(client: FlaskClient, rdb: redis.Redis) -> None:
    first = client.post("/items", json={"name": "a"}).get_json()
    second = client.post("/items", json={"name": "b"}).get_json()
    assert rdb.get("items:seq") == "2"
    assert rdb.zrange("items:by_seq", 0, -1, withscores=True) == [(first["id"], 1.0), (second["id"], 2.0)]
    assert set(rdb.hkeys("items:data")) == {first["id"], second["id"]}
    assert rdb.type("items:data") == "hash"


def test_every_response_carries_replica_zone_and_request_id(client: FlaskClient) -> None:
    for response in (
        client.get("/items"),
        client.post("/items", json={"name": "x"}),
        client.get("/nope"),
        client.get("/livez"),
        client.get("/metrics"),
        client.post("/items", data=b"{"),
    ):
        assert response.headers["X-Served-By"] == REPLICA
        assert response.headers["X-Zone"] == ZONE
        assert re.fullmatch(r"[0-9a-f]{32}", response.headers["X-Request-ID"])


def test_sane_request_ids_are_echoed_others_replaced(client: FlaskClient) -> None:
    echoed = client.get("/items", headers={"X-Request-ID": "trace-123.abc"})
    assert echoed.headers["X-Request-ID"] == "trace-123.abc"
    replaced = client.get("/items", headers={"X-Request-ID": "<script>alert(1)</script>"})
    assert re.fullmatch(r"[0-9a-f]{32}", replaced.headers["X-Request-ID"])


def test_unicode_names_survive(client: FlaskClient) -> None:
    name = "café ☕ 日本"
    created = client.post("/items", json={"name": name}).get_json()
    assert client.get(f"/items/{created['id']}").get_json()["name"] == name


def test_probes_with_redis_up(client: FlaskClient) -> None:
    assert client.get("/health").get_json() == {"status": "healthy"}
    assert client.get("/readyz").status_code == 200
    assert client.get("/livez").get_json() == {"status": "alive"}


def test_openapi_is_served(client: FlaskClient) -> None:
    response = client.get("/openapi.json")
    assert response.status_code == 200
    spec = response.get_json()
    assert spec["openapi"].startswith("3.")
    assert {"/items", "/items/{item_id}", "/health", "/readyz", "/livez", "/metrics"} <= set(spec["paths"])


def test_probe_writes_are_kept_out_of_the_listing_and_expire(client: FlaskClient, rdb: redis.Redis) -> None:
    """The blackbox exporter's POST (X-Srelab-Probe) writes to Redis but never into the items."""
    probe = client.post("/items", json={"name": "srelab-probe"}, headers={"X-Srelab-Probe": "blackbox"})
    assert probe.status_code == 201
    assert probe.headers["X-Srelab-Probe"] == "stored" and "Location" not in probe.headers
    item_id = probe.get_json()["id"]
    ttl = rdb.ttl(f"items:probe:{item_id}")
    assert 0 < ttl <= 600
    assert client.get("/items").get_json() == []
    assert client.get(f"/items/{item_id}").status_code == 404
    assert rdb.hlen("items:data") == 0 and not rdb.exists("items:seq")
    # A probe name is validated like any other.
    bad = client.post("/items", json={"name": ""}, headers={"X-Srelab-Probe": "blackbox"})
    assert bad.status_code == 422 and bad.get_json()["error"]
