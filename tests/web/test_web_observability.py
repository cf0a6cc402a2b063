"""Metrics and JSON access logs of the items service (in-process registry)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from flask.testing import FlaskClient
from items_service.metrics import METRIC_NAMES
from prometheus_client.parser import text_string_to_metric_families

pytestmark = pytest.mark.integration

ACCESS_FIELDS = [
    "time", "level", "logger", "service", "replica", "zone",
    "method", "route", "path", "status", "duration_ms", "request_id", "message",
]  # fmt: skip


def _samples(client: FlaskClient) -> list[Any]:
    response = client.get("/metrics")
    assert response.status_code == 200
    assert response.content_type.startswith("text/plain")
    text = response.get_data(as_text=True)
    return [s for family in text_string_to_metric_families(text) for s in family.samples]


def _value(samples: list[Any], name: str, **labels: str) -> float:
    matching = [
        s.value for s in samples if s.name == name and all(s.labels.get(k) == v for k, v in labels.items())
    ]
    assert len(matching) == 1, (name, labels, matching)
    return float(matching[0])


def test_metrics_cover_the_contract_with_bounded_route_labels(client: FlaskClient) -> None:
    item = client.post("/items", json={"name": "m"}).get_json()
    client.get(f"/items/{item['id']}")
    client.get("/items/0123456789abcdef0123456789abcdef")
    client.get("/does/not/exist")
    client.get("/other/unknown/path")
    samples = _samples(client)

    names = {s.name for s in samples}
    for name in METRIC_NAMES:
        assert any(n == name or n.startswith(name + "_") for n in names), name
    for sample in samples:
        assert (sample.labels["replica"], sample.labels["zone"]) == ("web-test", "zt"), sample

    total = "items_http_requests_total"
    assert _value(samples, total, method="POST", route="/items", status="201") == 1
    assert _value(samples, total, method="GET", route="/items/<item_id>", status="200") == 1
    assert _value(samples, total, method="GET", route="/items/<item_id>", status="404") == 1
    assert _value(samples, total, method="GET", route="unmatched", status="404") == 2
    assert not any(item["id"] in s.labels.get("route", "") for s in samples)  # raw paths never leak
    hist = "items_http_request_duration_seconds_count"
    assert _value(samples, hist, method="GET", route="/items/<item_id>") == 2
    assert _value(samples, "items_http_requests_in_progress", method="POST", route="/items") == 0
    # The scrape being served is itself in flight.
    assert _value(samples, "items_http_requests_in_progress", method="GET", route="/metrics") == 1
    assert _value(samples, "items_created_total") == 1
    assert _value(samples, "items_idempotent_replays_total") == 0
    assert _value(samples, "items_redis_errors_total", operation="create") == 0


def test_one_json_access_line_per_items_request(
    client: FlaskClient, capsys: pytest.CaptureFixture[str]
) -> None:
    capsys.readouterr()
    created = client.post("/items", json={"name": "log"}, headers={"X-Request-ID": "rid-1"})
    client.get(f"/items/{created.get_json()['id']}?x=1")
    client.get("/nowhere")
    client.get("/livez")  # probes log at DEBUG: not at INFO
    client.get("/metrics")
    out = capsys.readouterr().out
    lines = [json.loads(line) for line in out.splitlines()]
    access = [line for line in lines if line["logger"] == "items_service.access"]
    assert len(access) == 3, out
    for line in access:
        assert list(line) == ACCESS_FIELDS
        assert (line["service"], line["replica"], line["zone"]) == ("items", "web-test", "zt")
        assert isinstance(line["duration_ms"], float) and line["duration_ms"] >= 0
    post, get, missing = access
    assert (post["method"], post["route"], post["path"], post["status"]) == ("POST", "/items", "/items", 201)
    assert post["request_id"] == "rid-1" == created.headers["X-Request-ID"]
    assert (get["route"], get["path"], get["status"]) == (
        "/items/<item_id>",
        f"/items/{created.get_json()['id']}",
        200,
    )
    assert (missing["route"], missing["status"], missing["level"]) == ("unmatched", 404, "info")


def test_probes_are_logged_at_debug_level(app_factory: Any, capsys: pytest.CaptureFixture[str]) -> None:
    client = app_factory(log_level="DEBUG").test_client()
    capsys.readouterr()
    client.get("/livez")
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [(line["route"], line["level"]) for line in lines if line["logger"] == "items_service.access"] == [
        ("/livez", "debug")
    ]
