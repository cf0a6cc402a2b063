"""Plain builders for chaos unit tests: experiments as dicts, one-second buckets, fakes."""

from __future__ import annotations

import copy
import json
import time
from pathlib import Path
from typing import Any

from srelab.chaos.faults import Outcome, Snapshot
from srelab.chaos.model import Experiment, Fault, parse_experiment
from srelab.load import CpuSummary, LatencyStats, LoadResult, LoadSpec, SecondBucket

BASE: dict[str, Any] = {
    "name": "unit-kill",
    "description": "Kill one replica under load (unit test).",
    "load": {"scenario": "mixed", "users": 4, "duration_s": 40},
    "targets": {"victim": {"service": "web", "count": 1, "seed": 3}},
    "faults": [{"action": "kill", "target": "victim", "at": 10, "duration": 8}],
    "hypothesis": {
        "steady": {"max_error_rate": 0.0, "p95_ms": 500, "min_rps": 5},
        "during": {"max_error_rate": 0.05, "p95_ms": 1000},
    },
}


def experiment_dict(**changes: Any) -> dict[str, Any]:
    data = copy.deepcopy(BASE)
    data.update(changes)
    return data


def experiment(**changes: Any) -> Experiment:
    return parse_experiment(experiment_dict(**changes), "unit.yaml")


def bucket(
    second: int,
    t0: float,
    requests: int = 10,
    failures: dict[str, int] | None = None,
    p95: float = 50.0,
    served_by: dict[str, int] | None = None,
) -> SecondBucket:
    failures = failures or {}
    failed = sum(failures.values())
    return SecondBucket(
        second=second,
        t=t0 + second,
        requests=requests,
        successes=requests - failed,
        failures={
            **dict.fromkeys(
                [
                    "conn_refused",
                    "conn_reset",
                    "http_502",
                    "http_503",
                    "http_504",
                    "timeout",
                    "http_4xx",
                    "http_5xx",
                    "other",
                ],
                0,
            ),
            **failures,
        },
        latency=LatencyStats(count=requests, p50_ms=p95 / 2, p95_ms=p95, p99_ms=p95 * 1.2),
        served_by=served_by or {"web-a": requests // 2, "web-b": requests - requests // 2},
    )


def load_result(spec: LoadSpec, out_dir: Path, buckets: list[SecondBucket]) -> LoadResult:
    requests = sum(b.requests for b in buckets)
    failed = sum(b.failed for b in buckets)
    failures: dict[str, int] = {}
    for b in buckets:
        for kind, count in b.failures.items():
            failures[kind] = failures.get(kind, 0) + count
    start = buckets[0].t if buckets else time.time()
    end = buckets[-1].t + 1 if buckets else start
    return LoadResult(
        spec=spec,
        host="http://127.0.0.1:1",
        out_dir=out_dir,
        started_at=start,
        ended_at=end,
        duration_s=end - start,
        requests=requests,
        successes=requests - failed,
        failures=failures,
        error_rate=failed / requests if requests else 0.0,
        rps=requests / max(end - start, 1e-3),
        latency=LatencyStats(),
        endpoints={},
        served_by={},
        generator_cpu=CpuSummary(),
        valid=True,
        stop_reason="duration",
        timeline=buckets,
    )


def write_log(path: Path, records: list[dict[str, Any]]) -> None:
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")


class FakeDriver:
    """Records inject/restore calls; optional failures. No Docker."""

    def __init__(
        self,
        fail_inject: bool = False,
        verify_problems: list[str] | None = None,
        fail_services: frozenset[str] = frozenset(),
    ) -> None:
        self.calls: list[tuple[str, str, str]] = []
        self.fail_inject = fail_inject
        self.fail_services = fail_services  # inject fails on these services only
        self.verify_problems = verify_problems or []

    def snapshot(self, service: str) -> Snapshot:
        return Snapshot(
            service,
            f"id-{service}",
            f"proj-{service}-1",
            True,
            False,
            "healthy",
            None,
            1,
            {"proj_edge": [service]},
            {"proj_edge": "02:42:00:00:00:01"},
        )

    def network_name(self, snap: Snapshot, network: str) -> str:
        return f"proj_{network}"

    def ensure_helper(self) -> str:
        return "helper"

    def inject(self, fault: Fault, snap: Snapshot) -> Outcome:
        self.calls.append(("inject", fault.action.value, snap.service))
        if self.fail_inject or snap.service in self.fail_services:
            from srelab.chaos.faults import FaultError

            raise FaultError("boom: injection refused")
        return Outcome(f"{fault.action.value} done", "fake")

    def restore(self, fault: Fault, snap: Snapshot) -> Outcome:
        self.calls.append(("restore", fault.action.value, snap.service))
        return Outcome("restored")

    def verify(self, snap: Snapshot, deadline: float) -> list[str]:
        self.calls.append(("verify", "", snap.service))
        return list(self.verify_problems)
