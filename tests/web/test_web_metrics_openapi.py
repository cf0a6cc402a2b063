"""Metric definitions and the OpenAPI document, without Redis (nothing here connects to it)."""

from __future__ import annotations

import re
from typing import Any

import pytest
from items_service.app import create_app
from items_service.config import Settings
from items_service.errors import OUTCOME_UNKNOWN
from items_service.metrics import METRIC_NAMES, Metrics
from items_service.openapi import build_spec
from prometheus_client.parser import text_string_to_metric_families


def _samples(text: str) -> list[Any]:
    return [s for family in text_string_to_metric_families(text) for s in family.samples]


def test_every_contract_metric_is_exposed_with_replica_and_zone() -> None:
    m = Metrics("web-a", "a")
    m.request_started("GET", "/items")
    m.request_finished("GET", "/items", 200, 0.012)
    m.redis_error("list")
    m.item_created()
    m.idempotent_replay()
    text = m.render().decode()
    samples = _samples(text)
    names = {s.name for s in samples}
    for name in METRIC_NAMES:
        assert any(n == name or n.startswith(name + "_") for n in names), name
    for sample in samples:
        assert sample.labels.get("replica") == "web-a", sample
        assert sample.labels.get("zone") == "a", sample

    def value(name: str, **labels: str) -> float:
        labels.update(replica="web-a", zone="a")
        (found,) = [s.value for s in samples if s.name == name and s.labels == labels]
        return float(found)

    assert value("items_http_requests_in_progress", method="GET", route="/items") == 0
    assert value("items_http_requests_total", method="GET", route="/items", status="200") == 1
    assert value("items_http_request_duration_seconds_count", method="GET", route="/items") == 1
    assert value("items_redis_errors_total", operation="list") == 1
    assert value("items_redis_errors_total", operation="ping") == 0
    assert value("items_created_total") == 1
    assert value("items_idempotent_replays_total") == 1


def test_two_apps_in_one_process_have_separate_metrics() -> None:
    a, b = Metrics("r1", "z"), Metrics("r2", "z")
    a.item_created()
    assert 'items_created_total{replica="r1",zone="z"} 1.0' in a.render().decode()
    assert 'items_created_total{replica="r2",zone="z"} 0.0' in b.render().decode()


def _resolve(spec: dict[str, Any], ref: str) -> Any:
    node: Any = spec
    for part in ref.removeprefix("#/").split("/"):
        node = node[part]
    return node


def _refs(node: Any) -> list[str]:
    if isinstance(node, dict):
        found = [node["$ref"]] if "$ref" in node else []
        return found + [r for v in node.values() for r in _refs(v)]
    if isinstance(node, list):
        return [r for v in node for r in _refs(v)]
    return []


def test_openapi_documents_every_route_and_method() -> None:
    app = create_app(Settings(redis_port=1, replica="r", zone="z"))
    spec = build_spec()
    assert spec["openapi"].startswith("3.")
    documented = {(path, method) for path, ops in spec["paths"].items() for method in ops}
    served = set()
    for rule in app.url_map.iter_rules():
        path = re.sub(r"<(?:[^:>]+:)?([^>]+)>", r"{\1}", rule.rule)
        for method in rule.methods or ():
            if method not in {"HEAD", "OPTIONS"}:
                served.add((path, method.lower()))
    assert served == documented
    assert ("/items", "post") in served


def test_openapi_refs_resolve_and_errors_are_described() -> None:
    spec = build_spec()
    refs = _refs(spec)
    assert refs
    for ref in refs:
        assert _resolve(spec, ref) is not None, ref
    post = spec["paths"]["/items"]["post"]["responses"]
    assert {"201", "400", "409", "413", "422", "500", "503"} <= set(post)
    error = spec["components"]["schemas"]["Error"]
    assert error["required"] == ["error", "detail"]
    for op in (op for ops in spec["paths"].values() for op in ops.values()):
        assert "500" in op["responses"], op["operationId"]


def test_openapi_name_rules_are_ecma_patterns_a_validator_enforces() -> None:
    """jsonschema_rs (what Schemathesis validates with) reads the patterns as ECMA-262 does."""
    jsonschema_rs = pytest.importorskip("jsonschema_rs")
    schemas = build_spec()["components"]["schemas"]
    name = schemas["NewItem"]["properties"]["name"]
    assert "NFC" in name["description"] and "ZWJ" in name["description"]
    validator = jsonschema_rs.Draft202012Validator(schemas["NewItem"])
    for good in ["x", "caf\u00e9", "\U0001f468\u200d\U0001f469", "a b", "\u3000\u540d"]:
        assert validator.is_valid({"name": good}), ascii(good)
    for bad in ["", " ", "\u200d", "a\n", "a\x00", "\x1b[0m", "abc\u202e", "\ufeff", "t\U000e0041", "\u2028"]:
        assert not validator.is_valid({"name": bad}), ascii(bad)
    cursor = jsonschema_rs.Draft202012Validator(build_spec()["components"]["parameters"]["Cursor"]["schema"])
    assert cursor.is_valid("") and cursor.is_valid("djE6NQ")
    assert not cursor.is_valid("djE6NQ==") and not cursor.is_valid("A" * 65)


def test_openapi_documents_both_meanings_of_a_create_503() -> None:
    spec = build_spec()
    response = _resolve(spec, spec["paths"]["/items"]["post"]["responses"]["503"]["$ref"])
    assert "Retry-After" in response["headers"]
    assert "'storage unavailable'" in response["description"]
    assert f"'{OUTCOME_UNKNOWN}'" in response["description"]
    assert "X-Proxy-Request-Id" in response["description"]
    # Reads have only the one meaning.
    listing = spec["paths"]["/items"]["get"]["responses"]["503"]["$ref"]
    assert listing == "#/components/responses/StorageUnavailable"
