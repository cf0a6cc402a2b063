"""Pure logic of the bench: wrk report parsing, balance, derived ratios, memory totals."""

from __future__ import annotations

import pytest

from srelab.load.bench import CORE_GOAL_BYTES, BenchRow, balance, derive, goals, memory_summary, ratio
from srelab.load.errors import LoadError
from srelab.load.wrk import parse_wrk_output

WRK_OUT = """Running 5s test @ http://127.0.0.1:18082/items
  2 threads and 12 connections
  3000 requests in 5.00s, 1.00MB read
Requests/sec:    600.00
WRKJSON {"requests":3000,"duration_us":5000000,"bytes":1000000,"connect":0,"read":1,"write":0,\
"status":4,"timeout":2,"p50_us":12500,"p95_us":30000,"p99_us":45000,"max_us":90000,"mean_us":14000.5}
"""


def test_parse_wrk_output() -> None:
    r = parse_wrk_output(WRK_OUT)
    assert (r.requests, r.rps, r.duration_s) == (3000, 600.0, 5.0)
    assert (r.p50_ms, r.p95_ms, r.p99_ms, r.max_ms) == (12.5, 30.0, 45.0, 90.0)
    assert r.failed == 7 and r.errors["status"] == 4
    with pytest.raises(LoadError, match="no report"):
        parse_wrk_output("unable to connect to 127.0.0.1:1 Connection refused")


def test_balance() -> None:
    even = balance({"web-a": 100, "web-b": 100, "web-c": 98}, ["web-a", "web-b", "web-c"])
    assert even["max_min_ratio"] == round(100 / 98, 3) and even["replicas_serving"] == 3
    starved = balance({"web-a": 100, "web-b": 50}, ["web-a", "web-b", "web-c"])
    assert starved["served_by"]["web-c"] == 0
    assert starved["max_min_ratio"] is None and starved["replicas_serving"] == 2


def _row(row_id: str, rps: float, p50: float, p95: float = 10.0, items: int | None = None) -> BenchRow:
    return BenchRow(
        id=row_id, what=row_id, tool="locust" if row_id.endswith("locust") else "wrk",
        target="direct" if "direct" in row_id else "proxy", concurrency=12, duration_s=20, items=items,
        requests=int(rps * 20), failed=0, rps=rps, p50_ms=p50, p95_ms=p95, p99_ms=p95, max_ms=p95,
        served_by={"web-a": 10, "web-b": 10, "web-c": 5},
    )  # fmt: skip


def test_derive_ratios() -> None:
    rows = {
        "get_proxy": _row("get_proxy", 400, 20, 40, items=100),
        "get_direct": _row("get_direct", 600, 12),
        "get_proxy_locust": _row("get_proxy_locust", 200, 10),
        "post_proxy": _row("post_proxy", 200, 30),
        "post_proxy_everysec": _row("post_proxy_everysec", 250, 24),
        "get_proxy_large": _row("get_proxy_large", 380, 22, 44, items=100_000),
    }
    d = derive(rows, ["web-a", "web-b", "web-c"])
    assert d["proxy_overhead_get"] == {"rps_direct_over_proxy": 1.5, "rps_proxy_over_direct": 0.667,
                                       "p50_proxy_over_direct": 1.667, "p50_added_ms": 8.0}  # fmt: skip
    assert "proxy_overhead_post" not in d  # no direct POST row
    assert d["locust_over_wrk_rps"] == 0.5
    assert d["fsync"]["rps_everysec_over_always"] == 1.25
    assert d["balance_get"]["max_min_ratio"] == 2.0
    assert d["listing_flatness"]["p50_large_over_small"] == 1.1
    assert d["listing_flatness"]["items_large"] == 100_000
    assert ratio(1.0, 0) is None and ratio(None, 2.0) is None


def test_memory_totals_and_goal() -> None:
    mib = 1024 * 1024
    rest = {"traefik": 20 * mib, "web-a": 70 * mib, "web-b": 70 * mib, "web-c": 70 * mib, "redis": 5 * mib,
            "prometheus": 200 * mib}  # fmt: skip
    load = {"traefik": 90 * mib, "web-a": 80 * mib, "redis": 4 * mib}
    core = ["traefik", "web-a", "web-b", "web-c", "redis"]
    m = memory_summary(rest, load, core)
    assert m["core_total_at_rest_bytes"] == 235 * mib  # prometheus is not core
    assert m["core_total_under_load_bytes"] == (90 + 80 + 70 + 70 + 5) * mib  # max(load, rest) each
    assert m["core_goal_met"] is True
    heavy = memory_summary(rest, {"traefik": CORE_GOAL_BYTES}, core)
    assert heavy["core_goal_met"] is False


def test_goals_judge_rows_derived_figures_and_idle_share() -> None:
    rows = {
        "get_proxy": _row("get_proxy", 1100, 9).model_copy(
            update={"cpu_ms": {"service": 0.9, "traefik": 0.4}}
        ),
        "get_direct": _row("get_direct", 1200, 8),
        "post_proxy": _row("post_proxy", 700, 12).model_copy(update={"cpu_ms": {"service": 0.8}}),
    }
    d = derive(rows, ["web-a"])
    result = {g["id"]: (g["actual"], g["met"]) for g in goals(rows, d, {"lab_share": 0.03})}
    assert result["get_rps"] == (1100, True)
    assert result["post_rps"] == (700, False)
    assert result["get_ratio"] == (0.917, True)
    assert result["post_ratio"] == (None, None)  # no direct POST row: not measured, never "met"
    assert result["get_service"] == (0.9, True) and result["get_traefik"] == (0.4, False)
    assert result["post_traefik"] == (None, None)
    assert result["idle"] == (0.03, True)


def test_wait_on_and_off_rows_side_by_side() -> None:
    from srelab.load.bench import row_label

    on = _row("post_proxy", 500, 12).model_copy(
        update={"min_replica_acks": 1, "cpu_ms": {"service": 0.8, "redis": 0.3}}
    )
    off = _row("post_proxy_nowait", 800, 8).model_copy(
        update={"min_replica_acks": 0, "cpu_ms": {"service": 0.7, "redis": 0.1}}
    )
    d = derive({"post_proxy": on, "post_proxy_nowait": off}, ["web-a"])
    assert d["wait"]["rps_wait_over_nowait"] == 0.625
    assert d["wait"]["p50_added_ms"] == 4.0 and d["wait"]["min_replica_acks"] == 1
    assert row_label(on) == "POST proxy, WAIT 1 replica"
    assert row_label(off) == "POST proxy, WAIT off"
    assert row_label(_row("post_proxy", 1, 1)) == "POST proxy"  # single: no WAIT, no label
    assert "wait" not in derive({"post_proxy": on}, ["web-a"])


def test_web_recreated_with_the_variable_and_restored(monkeypatch: pytest.MonkeyPatch) -> None:
    """The override is in the process environment while compose recreates the replicas (compose
    prefers it to lab.env), checked in each replica, and gone for the restoring `up`."""
    import os
    from types import SimpleNamespace

    from srelab.load import webenv

    seen: list[str | None] = []
    running = {"value": "1"}

    class Compose:
        def up(self, **kwargs: object) -> None:
            assert kwargs["dependencies"] is False and kwargs["force_recreate"] is True
            seen.append(os.environ.get("LAB_TEST_ACKS"))
            running["value"] = os.environ.get("LAB_TEST_ACKS") or "1"

    class Container:
        def inspect(self, name: str) -> SimpleNamespace:
            return SimpleNamespace(config=SimpleNamespace(env=[f"ACKS={running['value']}", "X"]))

    docker = SimpleNamespace(compose=Compose(), container=Container())
    monkeypatch.setattr(webenv, "wait_in_rotation", lambda *a, **k: 0.1)
    monkeypatch.delenv("LAB_TEST_ACKS", raising=False)
    with webenv.web_with_variable(
        docker, ["web-a"], "LAB_TEST_ACKS", "0", service_variable="ACKS", proxy_url="http://x",
        containers=lambda: {"web-a": "c1"},
    ):  # fmt: skip
        assert running["value"] == "0"
    assert seen == ["0", None] and "LAB_TEST_ACKS" not in os.environ and running["value"] == "1"
    # A replica that did not take the value: the row is not measured, the replicas are restored.
    monkeypatch.setattr(Compose, "up", lambda self, **k: seen.append("up"))
    with pytest.raises(LoadError, match="ACKS='1', not '0'"), webenv.web_with_variable(
        docker, ["web-a"], "LAB_TEST_ACKS", "0", service_variable="ACKS", proxy_url="http://x",
        containers=lambda: {"web-a": "c1"},
    ):  # fmt: skip
        pytest.fail("measured with the wrong value")
    assert seen[-2:] == ["up", "up"]
