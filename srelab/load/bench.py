"""`srelab bench`: one bounded run measuring the lab on this machine (see docs/bench.md).

Phases, in order (defaults: 12 users, 20 s per Locust phase, 15 s of wrk, 100,000 items):
  memory at rest -> seed to >= 100 items -> GET via proxy -> GET direct -> wrk GET via proxy
  -> POST via proxy -> POST direct -> seed to 100,000 items (wrk, direct) -> GET via proxy
  -> memory at rest again. Memory is sampled during every load phase.
Writes results/bench-<ts>/bench.json (and one Locust results folder per phase).
"""

from __future__ import annotations

import contextlib
import json
import os
import platform
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import typer
from pydantic import BaseModel, Field
from rich.console import Console
from rich.table import Table

from srelab.load.errors import LoadError

console = Console()
GIB = 1024**3
CORE_GOAL_BYTES = GIB


class BenchRow(BaseModel):
    id: str
    what: str
    tool: str  # locust | wrk
    target: str  # proxy | direct
    concurrency: int
    duration_s: float
    items: int | None = None  # items stored during the phase
    requests: int
    failed: int
    rps: float
    p50_ms: float | None
    p95_ms: float | None
    p99_ms: float | None
    max_ms: float | None
    served_by: dict[str, int] = Field(default_factory=dict)
    generator_cpu_mean: float | None = None
    generator_cpu_max: float | None = None
    valid: bool | None = None  # Locust rows: False when the generator ran out of CPU
    results: str | None = None  # sub-folder with the phase's load results


class BenchReport(BaseModel):
    started_at: str
    duration_s: float = 0.0
    machine: dict[str, Any]
    project: str
    proxy_url: str
    replicas: dict[str, str]
    options: dict[str, Any]
    rows: list[BenchRow] = Field(default_factory=list)
    derived: dict[str, Any] = Field(default_factory=dict)
    memory: dict[str, Any] = Field(default_factory=dict)
    notes: list[str] = Field(default_factory=list)


# ----------------------------------------------------------------------------- derived numbers


def ratio(a: float | None, b: float | None) -> float | None:
    if a is None or b is None or b == 0:
        return None
    return round(a / b, 3)


def balance(served_by: dict[str, int], replicas: list[str]) -> dict[str, Any]:
    """How evenly requests spread: counts per replica and max/min (None if one got nothing)."""
    counts = {r: served_by.get(r, 0) for r in replicas}
    counts.update({k: v for k, v in served_by.items() if k not in counts})
    values = list(counts.values())
    lo = min(values) if values else 0
    return {
        "served_by": counts,
        "max_min_ratio": round(max(values) / lo, 3) if lo > 0 else None,
        "replicas_serving": sum(1 for v in values if v > 0),
    }


def memory_summary(rest: dict[str, int], load: dict[str, int], core: list[str]) -> dict[str, Any]:
    core_rest = sum(rest.get(s, 0) for s in core)
    core_load = sum(max(load.get(s, 0), rest.get(s, 0)) for s in core)
    return {
        "at_rest_bytes": dict(sorted(rest.items())),
        "under_load_max_bytes": dict(sorted(load.items())),
        "core_services": core,
        "core_total_at_rest_bytes": core_rest,
        "core_total_under_load_bytes": core_load,
        "core_goal_bytes": CORE_GOAL_BYTES,
        "core_goal_met": core_load < CORE_GOAL_BYTES if core_load else None,
    }


def derive(rows: dict[str, BenchRow], replicas: list[str]) -> dict[str, Any]:
    d: dict[str, Any] = {}

    def get(row_id: str) -> BenchRow | None:
        return rows.get(row_id)

    for method in ("get", "post"):
        proxy, direct = get(f"{method}_proxy"), get(f"{method}_direct")
        if proxy and direct:
            d[f"proxy_overhead_{method}"] = {
                "rps_direct_over_proxy": ratio(direct.rps, proxy.rps),
                "p50_proxy_over_direct": ratio(proxy.p50_ms, direct.p50_ms),
                "p50_added_ms": round(proxy.p50_ms - direct.p50_ms, 2)
                if proxy.p50_ms is not None and direct.p50_ms is not None
                else None,
            }
        if proxy:
            d[f"balance_{method}"] = balance(proxy.served_by, replicas)
    locust_get, wrk_get = get("get_proxy"), get("wrk_get_proxy")
    if locust_get and wrk_get:
        d["locust_over_wrk_rps"] = ratio(locust_get.rps, wrk_get.rps)
    small, large = get("get_proxy"), get("get_proxy_large")
    if small and large:
        d["listing_flatness"] = {
            "items_small": small.items,
            "items_large": large.items,
            "p50_large_over_small": ratio(large.p50_ms, small.p50_ms),
            "p95_large_over_small": ratio(large.p95_ms, small.p95_ms),
            "rps_large_over_small": ratio(large.rps, small.rps),
        }
    return d


def _cpu_idle_fraction(interval_s: float = 1.0) -> float | None:
    """Share of CPU time idle over `interval_s`, from /proc/stat (None where it does not exist)."""

    def sample() -> tuple[int, int]:
        fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
        return fields[3] + fields[4], sum(fields)  # idle + iowait, total

    try:
        idle0, total0 = sample()
        time.sleep(interval_s)
        idle1, total1 = sample()
    except (OSError, ValueError, IndexError):
        return None
    return (idle1 - idle0) / max(total1 - total0, 1)


def settle(max_s: float = 60.0, idle_min: float = 0.7, quiet_s: int = 3) -> float:
    """Wait (bounded) until the machine has been mostly idle for `quiet_s` seconds in a row, so a
    row is not measured in the tail of the previous phase's work; returns the seconds waited."""
    started = time.monotonic()
    quiet = 0
    while quiet < quiet_s and time.monotonic() - started < max_s:
        idle = _cpu_idle_fraction()
        if idle is None:
            break
        quiet = quiet + 1 if idle >= idle_min else 0
    return round(time.monotonic() - started, 1)


def _loadavg() -> list[str]:
    try:
        return Path("/proc/loadavg").read_text().split()[:3]
    except OSError:
        return []


def machine_info(docker: Any = None) -> dict[str, Any]:
    info: dict[str, Any] = {
        "cpus": os.cpu_count(),
        "platform": platform.platform(),
        "python": platform.python_version(),
    }
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                info["cpu_model"] = line.split(":", 1)[1].strip()
                break
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                info["mem_total_gib"] = round(int(line.split()[1]) / 1024 / 1024, 1)
                break
    except OSError:
        pass
    info["loadavg_at_start"] = _loadavg()
    if docker is not None:
        with contextlib.suppress(Exception):  # informative only
            info["docker_version"] = docker.version().server.version
    return info


# ----------------------------------------------------------------------------- the run


def _row_from_load(row_id: str, what: str, target: str, result: Any, items: int | None, sub: str) -> BenchRow:
    return BenchRow(
        id=row_id,
        what=what,
        tool="locust",
        target=target,
        concurrency=result.spec.users,
        duration_s=result.duration_s,
        items=items,
        requests=result.requests,
        failed=result.failed,
        rps=result.rps,
        p50_ms=result.latency.p50_ms,
        p95_ms=result.latency.p95_ms,
        p99_ms=result.latency.p99_ms,
        max_ms=result.latency.max_ms,
        served_by=result.served_by,
        generator_cpu_mean=result.generator_cpu.mean,
        generator_cpu_max=result.generator_cpu.max,
        valid=result.valid,
        results=sub,
    )


def _seed_small(proxy_url: str, needed: int) -> int:
    """POST `needed` items through the proxy (bounded: at most needed requests, 60 s)."""
    import requests

    made = 0
    deadline = time.monotonic() + 60
    with requests.Session() as session:
        for i in range(needed):
            if time.monotonic() > deadline:
                break
            r = session.post(f"{proxy_url}/items", json={"name": f"bench-small-{i}"}, timeout=5)
            made += 1 if r.status_code in (200, 201) else 0
    return made


def run_bench(
    *,
    users: int,
    phase_s: float,
    wrk_s: int,
    items: int,
    seed_s: int,
    fresh: bool,
    out_dir: Path,
) -> BenchReport:
    from srelab.docker_client import compose_client, require_engine
    from srelab.load.api import LoadSpec, Scenario, run_load
    from srelab.load.lab import (
        MemorySampler,
        discover,
        flush_items,
        item_count,
        memory_snapshot,
    )
    from srelab.load.runner import check_targets
    from srelab.load.wrk import run_wrk, seed_with_wrk, wrk_binary
    from srelab.settings import PROFILES, get_settings

    started = time.monotonic()
    settings = get_settings()
    docker = compose_client(settings, PROFILES)
    require_engine(docker)
    wrk_binary()
    lab = discover(docker, settings.project, settings.proxy_url, settings.web_services)
    check_targets([settings.proxy_url], settings.proxy_url)
    replicas = list(lab.replica_urls)
    direct_urls = list(lab.replica_urls.values())
    assert lab.redis_container is not None
    redis_container = lab.redis_container
    out_dir.mkdir(parents=True, exist_ok=True)

    report = BenchReport(
        started_at=datetime.now(UTC).isoformat(timespec="seconds"),
        machine=machine_info(docker),
        project=settings.project,
        proxy_url=settings.proxy_url,
        replicas=lab.replica_urls,
        options={
            "users": users,
            "phase_s": phase_s,
            "wrk_s": wrk_s,
            "items": items,
            "seed_s": seed_s,
            "fresh": fresh,
        },
    )
    report.notes.append(
        "direct rows reach the replicas at their container IPs on the compose edge network "
        "(no published ports, no helper container)"
    )
    rows: dict[str, BenchRow] = {}
    load_max: dict[str, int] = {}
    steps = 8
    step = 0

    def say(text: str) -> None:
        nonlocal step
        step += 1
        console.print(f"[bold cyan][{step}/{steps}][/] {text}  [dim]({time.monotonic() - started:.0f} s)[/]")

    def sampled(fn: Any) -> Any:
        with MemorySampler(docker, lab.containers) as sampler:
            value = fn()
        for service, b in sampler.max_bytes.items():
            load_max[service] = max(load_max.get(service, 0), b)
        return value

    def locust_phase(
        row_id: str, what: str, scenario: Scenario, direct: bool, n_items: int | None
    ) -> BenchRow:
        spec = LoadSpec(
            scenario=scenario,
            users=users,
            spawn_rate=users,
            duration_s=phase_s,
            host=direct_urls[0] if direct else settings.proxy_url,
            target_hosts=tuple(direct_urls) if direct else (),
            timeout_s=5,
            label=f"bench {row_id}",
        )
        allowed = lab.replica_hosts if direct else []
        result = sampled(lambda: run_load(spec, out_dir / row_id, allowed_hosts=allowed, html=False))
        row = _row_from_load(row_id, what, "direct" if direct else "proxy", result, n_items, row_id)
        rows[row_id] = row
        report.rows.append(row)
        flag = "" if row.valid else "  [yellow]generator CPU saturated[/]"
        console.print(
            f"    {row.rps:,.0f} req/s, p50 {row.p50_ms} ms, p95 {row.p95_ms} ms, {row.failed} failed{flag}"
        )
        return row

    # 1. memory at rest, store size
    say("memory at rest, items stored")
    if fresh:
        flush_items(docker, redis_container)
        report.notes.append("--fresh: the lab's Redis was flushed before the bench")
    rest = memory_snapshot(docker, lab.containers)
    n = item_count(docker, redis_container)
    if n < 100:
        _seed_small(settings.proxy_url, 100 - n)
        n = item_count(docker, redis_container)
    if n > 1000:
        report.notes.append(f"the store already held {n} items for the 'small store' rows (use --fresh)")
    n_small = n

    say(f"GET /items via Traefik (Locust, {users} users, {phase_s:g} s, {n_small} items)")
    locust_phase("get_proxy", "GET /items via Traefik", Scenario.LIST, False, n_small)
    say("GET /items direct to the replicas (Locust)")
    locust_phase("get_direct", "GET /items direct to replicas", Scenario.LIST, True, n_small)

    say(f"GET /items via Traefik (wrk, {users} connections, {wrk_s} s)")
    wrk = sampled(lambda: run_wrk(f"{settings.proxy_url}/items", threads=2, connections=users,
                                  duration_s=wrk_s, log=out_dir / "wrk_get_proxy.txt"))  # fmt: skip
    rows["wrk_get_proxy"] = BenchRow(
        id="wrk_get_proxy", what="GET /items via Traefik (wrk)", tool="wrk", target="proxy",
        concurrency=users, duration_s=wrk.duration_s, items=n_small, requests=wrk.requests,
        failed=wrk.failed, rps=wrk.rps, p50_ms=wrk.p50_ms, p95_ms=wrk.p95_ms, p99_ms=wrk.p99_ms,
        max_ms=wrk.max_ms,
    )  # fmt: skip
    report.rows.append(rows["wrk_get_proxy"])
    console.print(f"    {wrk.rps:,.0f} req/s, p50 {wrk.p50_ms} ms, p99 {wrk.p99_ms} ms, {wrk.failed} errors")

    say("POST /items via Traefik (Locust)")
    locust_phase("post_proxy", "POST /items via Traefik", Scenario.WRITE, False, None)
    say("POST /items direct to the replicas (Locust)")
    locust_phase("post_direct", "POST /items direct to replicas", Scenario.WRITE, True, None)

    n = item_count(docker, redis_container)
    if items > n:
        say(f"seeding {items - n:,} items (wrk POST direct to the replicas, at most {seed_s} s)")
        elapsed, seeds = sampled(
            lambda: seed_with_wrk(
                direct_urls, needed=items - n, count=lambda: item_count(docker, redis_container),
                target=items, max_s=seed_s, log=out_dir / "wrk_seed.txt",
            )
        )  # fmt: skip
        n_large = item_count(docker, redis_container)
        report.derived["seeding"] = {
            "items_before": n, "items_after": n_large, "seconds": round(elapsed, 1),
            "items_per_s": round((n_large - n) / elapsed, 1) if elapsed > 0 else None,
            "wrk_errors": sum(s.failed for s in seeds),
        }  # fmt: skip
        console.print(
            f"    {n_large:,} items after {elapsed:.0f} s ({(n_large - n) / max(elapsed, 1e-3):,.0f}/s)"
        )
        if n_large < items:
            report.notes.append(f"seeding stopped at {n_large} items (time bound {seed_s} s)")
    else:
        say(f"store already holds {n:,} items")
        n_large = n
    # Seeding saturates both cores; the large-store row must not measure its aftermath.
    waited = settle()
    report.derived["settle_before_large_s"] = waited
    console.print(f"    machine settled after {waited:.0f} s")
    say(f"GET /items via Traefik with {n_large:,} items (Locust)")
    locust_phase(
        "get_proxy_large", f"GET /items via Traefik, {n_large:,} items", Scenario.LIST, False, n_large
    )

    rest_after = memory_snapshot(docker, lab.containers)
    loadavg_end = _loadavg()
    report.machine["loadavg_at_end"] = loadavg_end
    start_avg = report.machine.get("loadavg_at_start") or []
    busiest = max((float(v[0]) for v in (start_avg, loadavg_end) if v), default=0.0)
    cpus = os.cpu_count() or 1
    if busiest > cpus:
        report.notes.append(
            f"the machine was busy (1-min load average up to {busiest:g} on {cpus} CPUs): "
            "the numbers include contention with other work"
        )
    report.memory = memory_summary(rest, load_max, lab.core_services())
    report.memory["at_rest_after_bytes"] = dict(sorted(rest_after.items()))
    report.derived.update(derive(rows, replicas))
    report.duration_s = round(time.monotonic() - started, 1)
    (out_dir / "bench.json").write_text(report.model_dump_json(indent=2) + "\n", encoding="utf-8")
    (out_dir / "bench.md").write_text(markdown(report), encoding="utf-8")
    return report


# ----------------------------------------------------------------------------- rendering


def _ms(v: float | None) -> str:
    if v is None:
        return "-"
    return f"{v:,.0f}" if v >= 100 else f"{v:.1f}"


def _mib(v: int | None) -> str:
    return "-" if not v else f"{v / 1024 / 1024:,.0f} MiB"


def compact(n: int) -> str:
    """100 -> '100', 70870 -> '71k', 100000 -> '100k'."""
    return str(n) if n < 1000 else f"{n / 1000:.0f}k"


def row_label(r: BenchRow) -> str:
    method = "POST" if r.id.startswith("post") else "GET"
    label = f"{method} {r.target}"
    if r.tool == "wrk":
        label += " (wrk)"
    if r.id in ("get_proxy", "get_proxy_large") and r.items is not None:
        label += f", {compact(r.items)} items"
    return label


def bench_table(report: BenchReport) -> Table:
    users = report.options.get("users")
    cpus = report.machine.get("cpus")
    t = Table(title=f"srelab bench {report.started_at}, {cpus} CPUs, {users} users/connections")
    t.add_column("row", no_wrap=True)
    for col in ("req/s", "p50 ms", "p95 ms", "p99 ms", "failed", "gen CPU"):
        t.add_column(col, justify="right", no_wrap=True)
    for r in report.rows:
        cpu = "-" if r.generator_cpu_mean is None else f"{r.generator_cpu_mean:.0f}%"
        if r.valid is False:
            cpu += "!"
        t.add_row(
            row_label(r), f"{r.rps:,.0f}", _ms(r.p50_ms), _ms(r.p95_ms), _ms(r.p99_ms), f"{r.failed:,}", cpu
        )
    return t


def derived_lines(report: BenchReport) -> list[str]:
    d = report.derived
    lines = []
    for method in ("get", "post"):
        o = d.get(f"proxy_overhead_{method}")
        if o:
            lines.append(
                f"proxy overhead {method.upper()}: direct/proxy throughput {o['rps_direct_over_proxy']}x, "
                f"p50 +{o['p50_added_ms']} ms ({o['p50_proxy_over_direct']}x)"
            )
    for method in ("get", "post"):
        b = d.get(f"balance_{method}")
        if b:
            counts = ", ".join(f"{k} {v:,}" for k, v in b["served_by"].items())
            lines.append(f"balance {method.upper()}: {counts}; max/min {b['max_min_ratio']}")
    if "locust_over_wrk_rps" in d:
        lines.append(f"Locust reaches {d['locust_over_wrk_rps']:.0%} of wrk's GET throughput")
    f = d.get("listing_flatness")
    if f:
        lines.append(
            f"GET /items with {f['items_large']:,} vs {f['items_small']:,} items: "
            f"p50 x{f['p50_large_over_small']}, p95 x{f['p95_large_over_small']}, "
            f"throughput x{f['rps_large_over_small']}"
        )
    s = d.get("seeding")
    if s:
        lines.append(f"seeding: {s['items_after'] - s['items_before']:,} items in {s['seconds']} s "
                     f"({s['items_per_s']}/s)")  # fmt: skip
    return lines


def memory_table(report: BenchReport) -> Table:
    m = report.memory
    t = Table(title="memory (docker stats)")
    for col in ("service", "at rest", "under load (max)"):
        t.add_column(col, justify="left" if col == "service" else "right")
    rest, load = m.get("at_rest_bytes", {}), m.get("under_load_max_bytes", {})
    for service in sorted(set(rest) | set(load)):
        t.add_row(service, _mib(rest.get(service)), _mib(load.get(service)))
    goal = "met" if m.get("core_goal_met") else "NOT met"
    t.add_row(
        "[bold]core total[/]",
        _mib(m.get("core_total_at_rest_bytes")),
        f"{_mib(m.get('core_total_under_load_bytes'))} (goal < 1 GiB: {goal})",
        end_section=True,
    )
    return t


def markdown(report: BenchReport) -> str:
    """The bench as Markdown (pasted into README / docs/bench.md)."""
    m = report.machine
    load_start = (m.get("loadavg_at_start") or ["?"])[0]
    load_end = (m.get("loadavg_at_end") or ["?"])[0]
    lines = [
        f"Measured {report.started_at} on {m.get('cpus')} CPUs ({m.get('cpu_model', '?')}), "
        f"{m.get('mem_total_gib', '?')} GiB, Docker {m.get('docker_version', '?')}; "
        f"{report.options.get('users')} Locust users / wrk connections, "
        f"{report.options.get('phase_s'):g} s per phase; 1-min load average "
        f"{load_start} at start, {load_end} at end.",
        "",
        "| row | req/s | p50 ms | p95 ms | p99 ms | failed | Locust CPU |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for r in report.rows:
        cpu = "-" if r.generator_cpu_mean is None else f"{r.generator_cpu_mean:.0f}%"
        if r.valid is False:
            cpu += " (saturated)"
        lines.append(
            f"| {row_label(r)} | {r.rps:,.0f} | {_ms(r.p50_ms)} | {_ms(r.p95_ms)} | {_ms(r.p99_ms)} "
            f"| {r.failed:,} | {cpu} |"
        )
    lines.append("")
    lines += [f"- {line}" for line in derived_lines(report)]
    mem = report.memory
    if mem:
        lines += ["", "| service | memory at rest | under load (max) |", "|---|---:|---:|"]
        rest, load = mem.get("at_rest_bytes", {}), mem.get("under_load_max_bytes", {})
        for service in sorted(set(rest) | set(load)):
            lines.append(f"| {service} | {_mib(rest.get(service))} | {_mib(load.get(service))} |")
        goal = "met" if mem.get("core_goal_met") else "not met"
        lines.append(
            f"| **core total** (traefik, web-a/b/c, redis) | {_mib(mem.get('core_total_at_rest_bytes'))} "
            f"| {_mib(mem.get('core_total_under_load_bytes'))} (goal < 1 GiB: {goal}) |"
        )
    if report.notes:
        lines += [""] + [f"Note: {n}." for n in report.notes]
    return "\n".join(lines) + "\n"


def parse_seconds(text: str, option: str) -> float:
    from srelab.load.cli import parse_duration

    try:
        return parse_duration(text)
    except LoadError:
        raise LoadError(f"{option}: cannot read {text!r} (use e.g. 20s, 1m)") from None


def bench_command(
    users: Annotated[int, typer.Option(help="Locust users / wrk connections per phase")] = 12,
    phase_time: Annotated[str, typer.Option(help="length of each Locust phase")] = "20s",
    wrk_time: Annotated[str, typer.Option(help="length of the wrk phase")] = "15s",
    items: Annotated[
        int, typer.Option(help="store size for the large-listing row (0: skip seeding)")
    ] = 100_000,
    seed_time: Annotated[str, typer.Option(help="time bound of the seeding")] = "300s",
    fresh: Annotated[bool, typer.Option(help="flush the lab's Redis first (deletes every item)")] = False,
    out_dir: Annotated[Path | None, typer.Option("--out", help="results folder")] = None,
) -> None:
    """Throughput, latency, proxy overhead, balance, listing cost and memory of the running lab."""
    if not 1 <= users <= 200:
        raise LoadError("--users must be between 1 and 200")
    if not 0 <= items <= 1_000_000:
        raise LoadError("--items must be between 0 and 1000000")
    phase_s = parse_seconds(phase_time, "--phase-time")
    wrk_s = int(parse_seconds(wrk_time, "--wrk-time"))
    seed_s = int(parse_seconds(seed_time, "--seed-time"))
    if not (3 <= phase_s <= 300 and 3 <= wrk_s <= 300 and 10 <= seed_s <= 900):
        raise LoadError("phase and wrk times must be 3-300 s, the seed time 10-900 s")
    from srelab.load.cli import default_out_dir

    target = out_dir or default_out_dir("bench")
    report = run_bench(users=users, phase_s=phase_s, wrk_s=wrk_s, items=items, seed_s=seed_s, fresh=fresh,
                       out_dir=target)  # fmt: skip
    console.print(bench_table(report))
    for line in derived_lines(report):
        console.print(f"  {line}")
    console.print(memory_table(report))
    for note in report.notes:
        console.print(f"[dim]note: {note}[/]")
    console.print(f"bench took {report.duration_s:.0f} s; results: {target / 'bench.json'}")


def load_report(path: Path) -> BenchReport:
    return BenchReport.model_validate(json.loads(path.read_text()))
