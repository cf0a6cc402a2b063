"""Made-up result folders written through the real writers' models (bench, load, chaos)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from srelab.chaos.journal import read_journal
from srelab.chaos.report import write_report
from srelab.load import CpuSummary, EndpointSummary, LatencyStats, LoadResult, LoadSpec, SecondBucket
from srelab.load.bench import BenchReport, BenchRow
from srelab.load.report import write_results

CHAOS_DATA = Path(__file__).resolve().parents[1] / "chaos" / "data"


def bench_run(results: Path, name: str, started: datetime, get_rps: float, post_rps: float) -> Path:
    """bench.json as run_bench writes it (BenchReport.model_dump_json), with two rows and goals."""
    rows = [
        BenchRow(
            id=rid,
            what=what,
            tool="wrk",
            target="proxy",
            concurrency=12,
            duration_s=15,
            requests=int(rps * 15),
            failed=0,
            rps=rps,
            p50_ms=6.5,
            p95_ms=15.0,
            p99_ms=22.0,
            max_ms=40.0,
        )
        for rid, what, rps in (
            ("get_proxy", "GET /items via Traefik", get_rps),
            ("post_proxy", "POST", post_rps),
        )
    ]
    goals = [
        {
            "id": "get_rps",
            "goal": "GET req/s",
            "target": 1000,
            "kind": "min",
            "actual": get_rps,
            "met": get_rps >= 1000,
        },
        {
            "id": "post_rps",
            "goal": "POST req/s",
            "target": 800,
            "kind": "min",
            "actual": post_rps,
            "met": post_rps >= 800,
        },
    ]
    report = BenchReport(
        started_at=started.isoformat(timespec="seconds"),
        duration_s=150.0,
        machine={"cpus": 2},
        project="srelab",
        proxy_url="http://127.0.0.1",
        replicas={"web-a": "a", "web-b": "b", "web-c": "c"},
        options={"users": 12},
        rows=rows,
        derived={"goals": goals},
    )
    folder = results / name
    folder.mkdir(parents=True)
    (folder / "bench.json").write_text(report.model_dump_json(indent=2) + "\n", encoding="utf-8")
    (folder / "bench.md").write_text(f"# bench {name}\n", encoding="utf-8")
    return folder


def load_run(
    results: Path, name: str, started: datetime, requests: int, failed: int, valid: bool = True
) -> Path:
    """A Locust run's folder as write_results writes it (summary.json, timeline.*)."""
    folder = results / name
    folder.mkdir(parents=True)
    t0 = started.timestamp()
    timeline = [
        SecondBucket(second=i, t=t0 + i, requests=requests // 10, successes=(requests - failed) // 10)
        for i in range(10)
    ]
    result = LoadResult(
        spec=LoadSpec(users=4, duration_s=10),
        host="http://127.0.0.1",
        out_dir=folder,
        started_at=t0,
        ended_at=t0 + 10,
        duration_s=10.0,
        requests=requests,
        successes=requests - failed,
        failures={"http_503": failed} if failed else {},
        error_rate=failed / requests,
        rps=requests / 10,
        latency=LatencyStats(count=requests, p50_ms=3.0, p95_ms=12.0, p99_ms=20.0, max_ms=30.0),
        endpoints={"GET /items": EndpointSummary(requests=requests, successes=requests - failed)},
        served_by={"web-a": requests},
        generator_cpu=CpuSummary(samples=10, mean=20.0, max=30.0),
        valid=valid,
        invalid_reasons=[] if valid else ["Locust at >= 90 % CPU"],
        stop_reason="duration",
        timeline=timeline,
    )
    write_results(result)
    return folder


def chaos_run(results: Path, journal: str, name: str, started: datetime) -> Path:
    """A recorded chaos journal re-rendered by the report writer, moved to `started`."""
    recorded = read_journal(CHAOS_DATA / journal)
    shift = started.timestamp() - recorded.started_at
    recorded = recorded.model_copy(
        update={"started_at": recorded.started_at + shift, "ended_at": recorded.ended_at + shift}
    )
    folder = results / name
    write_report(recorded, folder)
    return folder


def at(hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 12, 1, hour, minute, tzinfo=UTC)
