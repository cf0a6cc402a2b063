"""Prometheus against the live stack: every target found and up, Redis seen, counters moving.

Uses the session `lab` (tests/lab.py): core + prometheus + redis-exporter, local images
where no registry is reachable. Every wait is a bounded poll (Prometheus scrapes every 5 s).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
import requests
import yaml

from srelab.stack.compose_model import web_services
from tests.lab import wait_until

pytestmark = pytest.mark.live

RULES_DIR = Path(__file__).resolve().parents[2] / "services" / "config" / "prometheus" / "rules"
DEADLINE_S = 60


def _api(lab: Any, path: str, **params: str) -> Any:
    url = lab.settings.url(lab.settings.lab_prometheus_port, f"/api/v1/{path}")
    response = requests.get(url, params=params, timeout=5)
    response.raise_for_status()
    body = response.json()
    assert body["status"] == "success", body
    return body["data"]


def _query(lab: Any, expr: str) -> list[dict[str, Any]]:
    return _api(lab, "query", query=expr)["result"]


def _scalar(lab: Any, expr: str) -> float | None:
    result = _query(lab, expr)
    return float(result[0]["value"][1]) if result else None


def _targets(lab: Any) -> list[dict[str, Any]]:
    return _api(lab, "targets", state="active")["activeTargets"]


def _send_requests(lab: Any, count: int) -> None:
    for i in range(count):
        lab.get("/items")
        lab.post("/items", json={"name": f"prom-{i}"}, headers={"Idempotency-Key": f"prom-{time.time_ns()}"})


def test_every_target_is_found_and_up(lab: Any) -> None:
    _send_requests(lab, 10)
    replicas = set(web_services(lab.settings))
    assert len(replicas) == 3

    def all_up() -> dict[str, int] | None:
        by_job: dict[str, int] = {}
        for target in _targets(lab):
            if target["health"] == "up":
                job = target["labels"]["job"]
                by_job[job] = by_job.get(job, 0) + 1
        wanted = {
            "web": len(replicas),
            "traefik": 1,
            # One target per Redis node of the topology (ha: 3, single: 1), plus the exporter.
            "redis": len(_redis_nodes(lab)),
            "redis-exporter": 1,
            "prometheus": 1,
            "blackbox": 3,
            "alertmanager": 1,
        }
        return by_job if all(by_job.get(job, 0) >= n for job, n in wanted.items()) else None

    by_job = wait_until(all_up, DEADLINE_S, interval_s=1, what="every Prometheus target up")
    # DNS service discovery on the alias `web` finds exactly the replicas, no stale extra one.
    assert by_job["web"] == len(replicas), by_job

    # The targets are the replicas themselves: each replica's own `replica` label is scraped.
    def replicas_scraped() -> set[str] | None:
        seen = {s["metric"]["replica"] for s in _query(lab, "count by (replica) (items_http_requests_total)")}
        return seen if seen == replicas else None

    what = f"metrics from every replica {sorted(replicas)}"
    wait_until(replicas_scraped, DEADLINE_S, interval_s=1, what=what)


def _redis_nodes(lab: Any) -> dict[str, str]:
    """The Redis nodes of the running topology (compose model, label srelab.role=redis) -> zone."""
    from srelab.stack.compose_model import services

    return {
        name: svc["labels"]["srelab.zone"]
        for name, svc in services(lab.settings, ()).items()
        if (svc.get("labels") or {}).get("srelab.role") == "redis"
    }


def test_every_redis_node_is_up_through_the_exporter_with_its_role(lab: Any) -> None:
    nodes = _redis_nodes(lab)

    def every_node_up() -> dict[str, str] | None:
        up = {s["metric"]["instance"]: s["value"][1] for s in _query(lab, 'redis_up{job="redis"}')}
        return up if up == dict.fromkeys(nodes, "1") else None

    wait_until(every_node_up, DEADLINE_S, interval_s=1, what=f"redis_up == 1 for each of {sorted(nodes)}")
    # The exporter authenticated to each node (the password file keyed by each address).
    found = _query(lab, 'redis_connected_clients{job="redis"}')
    clients = {s["metric"]["instance"]: float(s["value"][1]) for s in found}
    assert set(clients) == set(nodes) and min(clients.values()) >= 1, clients
    zones = {s["metric"]["instance"]: s["metric"]["zone"] for s in _query(lab, 'redis_up{job="redis"}')}
    assert zones == nodes

    # Exactly one primary; in ha the others are its replicas, linked, and writes are possible.
    def roles() -> dict[str, str] | None:
        got = {s["metric"]["instance"]: s["value"][1] for s in _query(lab, "instance:redis_primary:bool")}
        return got if set(got) == set(nodes) and list(got.values()).count("1") == 1 else None

    role = wait_until(roles, DEADLINE_S, interval_s=1, what="one primary among the Redis nodes")
    (primary,) = [n for n, v in role.items() if v == "1"]
    assert _scalar(lab, f'redis_connected_slaves{{job="redis",instance="{primary}"}}') == len(nodes) - 1
    links = {s["metric"]["instance"]: s["value"][1] for s in _query(lab, 'redis_master_link_up{job="redis"}')}
    assert links == dict.fromkeys(set(nodes) - {primary}, "1"), links
    wait_until(
        lambda: _scalar(lab, "job:redis_writable_primaries:count") == 1.0,
        DEADLINE_S,
        interval_s=1,
        what="one writable primary",
    )
    # The exporter's own /metrics scrapes no node (REDIS_ADDR empty): no redis_up of its own.
    assert _query(lab, 'redis_up{job="redis-exporter"}') == []


def test_request_counter_rises_with_traffic(lab: Any) -> None:
    expr = 'sum(items_http_requests_total{route="/items"})'
    wait_until(lambda: _scalar(lab, expr) is not None, DEADLINE_S, interval_s=1, what="the request counter")
    before = _scalar(lab, expr) or 0.0
    sent = 20
    _send_requests(lab, sent // 2)  # one GET and one POST each
    after = wait_until(
        lambda: (value := _scalar(lab, expr) or 0.0) >= before + sent and value,
        DEADLINE_S,
        interval_s=1,
        what=f"{expr} to rise by {sent} from {before}",
    )
    assert after >= before + sent
    # The recording rules are evaluated on the same data.
    rate = wait_until(
        lambda: (_scalar(lab, "job:items_http_requests:rate1m") or 0) > 0,
        DEADLINE_S,
        interval_s=1,
        what="job:items_http_requests:rate1m > 0",
    )
    assert rate


def test_every_alert_rule_is_loaded(lab: Any) -> None:
    expected = {
        rule["alert"]
        for path in RULES_DIR.glob("*.yml")
        for group in yaml.safe_load(path.read_text())["groups"]
        for rule in group["rules"]
        if "alert" in rule
    }
    assert expected, "no alert rules found in services/config/prometheus/rules"
    groups = _api(lab, "rules", type="alert")["groups"]
    loaded = {rule["name"] for group in groups for rule in group["rules"]}
    assert expected <= loaded, f"alert rules not loaded by Prometheus: {sorted(expected - loaded)}"


def test_a_restarted_replica_is_found_again(lab: Any) -> None:
    """DNS SD follows the replica across a restart; the fleet is whole again before we return."""
    service = web_services(lab.settings)[-1]
    replicas = len(web_services(lab.settings))
    healthy = 'count(up{job="web"} == 1)'
    wait_until(lambda: _scalar(lab, healthy) == replicas, DEADLINE_S, interval_s=1, what="all replicas up")
    lab.container(service).restart()
    restarted_at = time.time()
    # items_created_total is exported from a replica's start: a sample of it stamped after the
    # restart can only come from the new container, scraped at its (possibly new) address.
    last_scrape = f'max(timestamp(items_created_total{{replica="{service}"}}))'
    wait_until(
        lambda: (_scalar(lab, last_scrape) or 0.0) > restarted_at,
        DEADLINE_S,
        interval_s=1,
        what=f"{service} scraped again after its restart",
    )
    what = "all replicas up again"
    wait_until(lambda: _scalar(lab, healthy) == replicas, DEADLINE_S, interval_s=1, what=what)


def test_every_metric_the_dashboards_use_exists(lab: Any) -> None:
    """The static tests check dashboards against a list of exported names; this checks the list."""
    import promql_parser

    from tests.observability.test_grafana import substitute, targets
    from tests.observability.test_prometheus_config import metric_names

    used: set[str] = set()
    for _, _, target in targets("prometheus"):
        used |= metric_names(promql_parser.parse(substitute(target["expr"])))
    # Series that exist only once something happened (a retry, a firing alert).
    event_only = {"traefik_service_retries_total", "ALERTS", "ALERTS_FOR_STATE"}
    assert len(used) > 30

    deadline = time.monotonic() + DEADLINE_S
    while True:
        _send_requests(lab, 3)
        missing = used - event_only - set(_api(lab, "label/__name__/values"))
        if not missing:
            break
        if time.monotonic() > deadline:
            pytest.fail(f"dashboards use metrics Prometheus does not have: {sorted(missing)}", pytrace=False)
        time.sleep(2)


def test_every_series_the_rules_read_from_exporters_exists(lab: Any) -> None:
    """tests/observability/ allows the rules a list of exporter series (Traefik, blackbox, redis_exporter);
    this checks that list against what the running programs really export."""
    from tests.observability.test_prometheus_config import EXPORTER_SERIES

    deadline = time.monotonic() + DEADLINE_S
    while True:
        _send_requests(lab, 3)
        missing = EXPORTER_SERIES - set(_api(lab, "label/__name__/values"))
        if not missing:
            break
        if time.monotonic() > deadline:
            pytest.fail(f"rules read series no exporter has: {sorted(missing)}", pytrace=False)
        time.sleep(2)
    # The readiness gauge the NoReplicaReady alert sums is per replica of the checked service.
    servers = _query(lab, 'traefik_service_server_up{service="items@docker"}')
    assert len({s["metric"]["url"] for s in servers}) >= len(web_services(lab.settings)), servers


def test_the_synthetic_probes_pass_through_the_proxy_and_stay_out_of_the_listing(lab: Any) -> None:
    def all_pass() -> dict[str, str] | None:
        got = {s["metric"]["module"]: s["value"][1] for s in _query(lab, 'probe_success{job="blackbox"}')}
        return got if got == {"items_get": "1", "items_post": "1", "items_health": "1"} else None

    wait_until(all_pass, DEADLINE_S, interval_s=1, what="every blackbox probe passing")
    listed = lab.get("/items", params={"limit": 200}).json()
    assert all(item["name"] != "srelab-probe" for item in listed), "a probe write is listed"


def test_alerts_reach_alertmanager_and_nothing_fires_on_the_healthy_stack(lab: Any) -> None:
    am = lab.settings.url(lab.settings.lab_alertmanager_port, "/api/v2")
    active = _api(lab, "alertmanagers")["activeAlertmanagers"]
    assert [a["url"] for a in active] == ["http://alertmanager:9093/api/v2/alerts"], active
    status = requests.get(f"{am}/status", timeout=5).json()
    assert status["config"]["original"].count("lab-webhook") >= 2, status["config"]

    # The stack is healthy, so the alerts of a broken dependency clear (an earlier test's fault may
    # have left them firing for a few seconds; slow-window burns may linger, by design).
    def quiet() -> bool:
        firing = {a["labels"]["alertname"] for a in requests.get(f"{am}/alerts", timeout=5).json()}
        return not firing & {
            "RedisDown",
            "RedisNoWritablePrimary",
            "RedisExporterDown",
            "TraefikDown",
            "NoReplicaReady",
            "WebReplicasMissing",
        }

    wait_until(quiet, DEADLINE_S, interval_s=1, what="no dependency alert firing on the healthy stack")
