"""Pure logic: generator-CPU validity, thresholds, option parsing, target hosts, shapes."""

from __future__ import annotations

from pathlib import Path

import pytest

from loadtest.load_common import host_allowed, spike_users, steady_users, step_users
from srelab.load.checks import cpu_summary, evaluate_thresholds, validity
from srelab.load.cli import build_spec, parse_duration
from srelab.load.errors import LoadError
from srelab.load.presets import preset_spec
from srelab.load.runner import check_targets, locust_command, target_allowed
from srelab.load.types import CpuSummary, LatencyStats, LoadResult, LoadSpec, Scenario, Thresholds


def test_cpu_saturation_needs_a_sustained_share() -> None:
    assert not cpu_summary([95, 95, 50, 50, 50, 50, 50, 50, 50, 50]).saturated  # 2 s: a blip
    three = cpu_summary([95, 99, 91, 50, 50, 50, 50, 50, 50, 50])
    assert three.saturated and three.seconds_over == 3 and three.max == 99.0
    # 30 samples: needs max(3, 20 % = 6) seconds at >= 90 %
    assert not cpu_summary([95.0] * 5 + [40.0] * 25).saturated
    assert cpu_summary([95.0] * 6 + [40.0] * 24).saturated
    empty = cpu_summary([])
    assert empty.samples == 0 and not empty.saturated


def test_validity_reasons() -> None:
    ok, reasons = validity(100, cpu_summary([20.0] * 10))
    assert ok and reasons == []
    ok, reasons = validity(100, cpu_summary([99.0] * 10))
    assert not ok and "load generator CPU" in reasons[0]
    ok, reasons = validity(0, CpuSummary())
    assert not ok and reasons == ["no request completed"]


def _result(error_rate: float, p95: float | None, p99: float | None, rps: float) -> LoadResult:
    return LoadResult(
        spec=LoadSpec(host="http://127.0.0.1:1"), host="http://127.0.0.1:1", out_dir=Path("/tmp/x"),
        started_at=0, ended_at=1, duration_s=1, requests=100, successes=100, failures={},
        error_rate=error_rate, rps=rps, latency=LatencyStats(count=100, p95_ms=p95, p99_ms=p99),
        endpoints={}, served_by={}, generator_cpu=CpuSummary(), valid=True, stop_reason="duration",
    )  # fmt: skip


def test_thresholds_list_every_breach() -> None:
    limits = Thresholds(max_error_rate=0.01, p95_ms=100, p99_ms=200, min_rps=50)
    assert evaluate_thresholds(_result(0.0, 90, 150, 60), limits) == []
    breaches = evaluate_thresholds(_result(0.05, 120, 250, 40), limits)
    assert [b.name for b in breaches] == ["max_error_rate", "p95_ms", "p99_ms", "min_rps"]
    assert "120" in breaches[1].message and "100" in breaches[1].message
    only_p95 = evaluate_thresholds(_result(0.05, 120, 250, 40), Thresholds(p95_ms=100))
    assert [b.name for b in only_p95] == ["p95_ms"]
    no_data = evaluate_thresholds(_result(0.0, None, None, 0), Thresholds(p95_ms=100))
    assert no_data[0].actual is None
    assert evaluate_thresholds(_result(1.0, 1e6, 1e6, 0), Thresholds()) == []


@pytest.mark.parametrize(
    ("text", "seconds"), [("30s", 30), ("2m", 120), ("1m30s", 90), ("45", 45), ("1h", 3600)]
)
def test_parse_duration(text: str, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "abc", "3x", "-5s"])
def test_parse_duration_rejects(text: str) -> None:
    with pytest.raises(LoadError, match="--run-time"):
        parse_duration(text)


def _spec(**kw: object) -> LoadSpec:
    base: dict[str, object] = {
        "preset": None, "scale": 10.0, "scenario": None, "users": None, "spawn_rate": None,
        "run_time": None, "requests": None, "shape": "steady", "steps": 4, "reader_weight": 4,
        "writer_weight": 1, "wait_min": 0.0, "wait_max": 0.0, "timeout": 5.0, "write_retries": 0,
        "host": None,
    }  # fmt: skip
    base.update(kw)
    return build_spec(**base)  # type: ignore[arg-type]


def test_build_spec_errors_name_the_option() -> None:
    with pytest.raises(LoadError, match=r"^--users: "):
        _spec(users=0)
    with pytest.raises(LoadError, match="--preset: unknown preset 'nope'"):
        _spec(preset="nope")
    with pytest.raises(LoadError, match="--scenario"):
        _spec(scenario="hey-get")
    with pytest.raises(LoadError, match="--shape"):
        _spec(shape="zigzag")
    with pytest.raises(LoadError, match="wait_max_s must be >= wait_min_s"):
        _spec(wait_min=2.0, wait_max=1.0)


def test_presets_keep_concurrency_and_ratio() -> None:
    get = preset_spec("hey-get", 10)
    post = preset_spec("hey-post", 10)
    assert (get.users, get.requests, get.scenario) == (10, 10_000, Scenario.HEY_GET)
    assert (post.users, post.requests, post.scenario) == (10, 1_000, Scenario.HEY_POST)
    assert get.requests == 10 * post.requests
    assert preset_spec("hey-get", 1).requests == 100_000
    assert _spec(preset="hey-post", scale=100.0, users=3).users == 3  # explicit options win


def test_target_hosts() -> None:
    assert target_allowed("http://127.0.0.1:8080")
    assert target_allowed("http://localhost")
    assert target_allowed("http://[::1]:80")
    assert not target_allowed("http://10.0.0.5")
    assert not target_allowed("http://example.com")
    assert not target_allowed("ftp://127.0.0.1")
    assert target_allowed("http://172.20.0.3:8000", extra=["172.20.0.3"])
    assert target_allowed("http://127.0.0.1:18080", proxy_url="http://127.0.0.1:18080")
    with pytest.raises(LoadError, match="refusing to send load"):
        check_targets(["http://192.168.1.10"], "http://127.0.0.1")
    # the locustfile applies the same rule (plus the proxy's compose name)
    assert host_allowed("http://traefik:8081")
    assert not host_allowed("http://example.com")
    assert host_allowed("http://172.20.0.3:8000", {"172.20.0.3"})


def test_locust_command_carries_the_spec(tmp_path: Path) -> None:
    spec = LoadSpec(scenario="hey-post", users=10, requests=500, duration_s=12.5, timeout_s=2)
    cmd = locust_command(spec, "http://127.0.0.1:1", tmp_path, ["127.0.0.1"], html=False)
    assert cmd[-1] == "WriterUser"
    assert cmd[cmd.index("--request-budget") + 1] == "500"
    assert cmd[cmd.index("--run-time") + 1] == "13s"
    assert "--html" not in cmd


def test_shapes() -> None:
    assert steady_users(5, 10, 60) == 10 and steady_users(60, 10, 60) is None
    assert [step_users(t, 8, 40, 4) for t in (0, 10, 20, 39.9)] == [2, 4, 6, 8]
    assert step_users(40, 8, 40, 4) is None
    assert [spike_users(t, 20, 30) for t in (0, 10, 19.9, 20)] == [5, 20, 20, 5]
    assert spike_users(1, 2, 30) == 1
