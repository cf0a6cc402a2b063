"""`srelab bench`: one bounded run measuring the lab on this machine (see docs/bench.md).

Phases, in order (defaults: 12 connections, 15 s per wrk row, 20 s of Locust, 100,000 items):
  idle CPU share (20 s) -> seed to >= 100 items -> wrk GET via proxy -> wrk GET direct (one wrk per
  replica) -> wrk POST via proxy -> (HA with WAIT on: the same with WAIT off, the replicas recreated
  with LAB_REDIS_MIN_REPLICA_ACKS=0 and then back) -> wrk POST direct -> wrk POST via proxy with Redis at
  appendfsync everysec (then back to always) -> Locust GET via proxy -> seed to 100,000 items
  -> wrk GET via proxy -> memory at rest again.
Every row records the CPU each component used per request (cgroup and /proc counters, see
srelab/load/cpu.py): figures that noise on these shared machines moves far less than req/s.
Memory is sampled from the cgroups during every load phase.
Writes results/bench-<ts>/bench.json and bench.md (and the Locust row's results folder).
"""

from __future__ import annotations

import contextlib
import json
import os
import platform
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import requests
from pydantic import BaseModel, Field
from python_on_whales.exceptions import DockerException
from rich.console import Console
from rich.table import Table

from srelab.errors import last_line
from srelab.load.cpu import CpuUsage, per_request_ms, snapshot, usage
from srelab.load.errors import LoadError
from srelab.load.lab import LabTargets, MemorySampler, discover, flush_items, item_count, memory_snapshot
from srelab.load.runner import check_targets, run_load
from srelab.load.types import LoadSpec, Scenario
from srelab.load.webenv import WAIT_SERVICE_VARIABLE, WAIT_VARIABLE, replica_env, web_with_variable
from srelab.load.wrk import run_wrk_many, seed_with_wrk, wrk_binary
from srelab.stack.compose_model import web_services
from srelab.stack.engine import compose_client, require_engine
from srelab.stack.redis_acl import admin_cli
from srelab.stack.settings import PROFILES, Settings

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
    # CPU milliseconds per request: service (all replicas), traefik, redis, generator, engine.
    cpu_ms: dict[str, float | None] = Field(default_factory=dict)
    host_busy: float | None = None  # share of the machine's CPU busy during the row (0..1)
    appendfsync: str | None = None  # Redis's fsync policy during the row (POST rows)
    # POST rows in HA: the replicas a create WAITs for (REDIS_MIN_REPLICA_ACKS; 0 = WAIT off).
    min_replica_acks: int | None = None


class BenchReport(BaseModel):
    started_at: str
    duration_s: float = 0.0
    machine: dict[str, Any]
    project: str
    proxy_url: str
    replicas: dict[str, str]
    options: dict[str, Any]
    rows: list[BenchRow] = Field(default_factory=list)
    idle: dict[str, Any] = Field(default_factory=dict)  # the idle stack's CPU share
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
    for method in ("get", "post"):
        proxy, direct = rows.get(f"{method}_proxy"), rows.get(f"{method}_direct")
        if proxy and direct:
            d[f"proxy_overhead_{method}"] = {
                "rps_direct_over_proxy": ratio(direct.rps, proxy.rps),
                "rps_proxy_over_direct": ratio(proxy.rps, direct.rps),
                "p50_proxy_over_direct": ratio(proxy.p50_ms, direct.p50_ms),
                "p50_added_ms": round(proxy.p50_ms - direct.p50_ms, 2)
                if proxy.p50_ms is not None and direct.p50_ms is not None
                else None,
            }
    locust, wrk_get = rows.get("get_proxy_locust"), rows.get("get_proxy")
    if locust:
        d["balance_get"] = balance(locust.served_by, replicas)
    if locust and wrk_get:
        d["locust_over_wrk_rps"] = ratio(locust.rps, wrk_get.rps)
    small, large = rows.get("get_proxy"), rows.get("get_proxy_large")
    if small and large:
        d["listing_flatness"] = {
            "items_small": small.items,
            "items_large": large.items,
            "p50_large_over_small": ratio(large.p50_ms, small.p50_ms),
            "p95_large_over_small": ratio(large.p95_ms, small.p95_ms),
            "rps_large_over_small": ratio(large.rps, small.rps),
        }
    on, off = rows.get("post_proxy"), rows.get("post_proxy_nowait")
    if on and off:
        d["wait"] = {
            "min_replica_acks": on.min_replica_acks,
            "rps_wait": on.rps,
            "rps_nowait": off.rps,
            "rps_wait_over_nowait": ratio(on.rps, off.rps),
            "p50_wait_ms": on.p50_ms,
            "p50_nowait_ms": off.p50_ms,
            "p50_added_ms": round(on.p50_ms - off.p50_ms, 2)
            if on.p50_ms is not None and off.p50_ms is not None
            else None,
            "p99_wait_ms": on.p99_ms,
            "p99_nowait_ms": off.p99_ms,
            "cpu_ms_wait": on.cpu_ms,
            "cpu_ms_nowait": off.cpu_ms,
        }
    always, everysec = rows.get("post_proxy"), rows.get("post_proxy_everysec")
    if always and everysec:
        d["fsync"] = {
            "rps_everysec_over_always": ratio(everysec.rps, always.rps),
            "p50_always_ms": always.p50_ms,
            "p50_everysec_ms": everysec.p50_ms,
            "redis_cpu_ms_always": always.cpu_ms.get("redis"),
            "redis_cpu_ms_everysec": everysec.cpu_ms.get("redis"),
        }
    return d


# Issue 9's goals on this 2-core machine: (id, text, row, figure, "min" | "max", target).
GOALS: tuple[tuple[str, str, str, str, str, float], ...] = (
    ("get_rps", "GET /items (50) via proxy, req/s", "get_proxy", "rps", "min", 1000),
    ("post_rps", "POST /items via proxy, req/s", "post_proxy", "rps", "min", 800),
    ("get_ratio", "GET proxy/direct req/s", "proxy_overhead_get", "rps_proxy_over_direct", "min", 0.8),
    ("post_ratio", "POST proxy/direct req/s", "proxy_overhead_post", "rps_proxy_over_direct", "min", 0.8),
    ("get_service", "service CPU ms per GET", "get_proxy", "cpu:service", "max", 1.0),
    ("post_service", "service CPU ms per POST", "post_proxy", "cpu:service", "max", 0.6),
    ("get_traefik", "Traefik CPU ms per GET", "get_proxy", "cpu:traefik", "max", 0.3),
    ("post_traefik", "Traefik CPU ms per POST", "post_proxy", "cpu:traefik", "max", 0.3),
    ("idle", "idle stack CPU share of the machine", "idle", "lab_share", "max", 0.05),
)


def goals(rows: dict[str, BenchRow], derived: dict[str, Any], idle: dict[str, Any]) -> list[dict[str, Any]]:
    """Each goal with the measured figure and whether it was met (None: not measured)."""
    out = []
    for goal_id, text, where, figure, kind, target in GOALS:
        actual: float | None = None
        if where == "idle":
            actual = idle.get(figure)
        elif where in rows:
            row = rows[where]
            actual = row.cpu_ms.get(figure[4:]) if figure.startswith("cpu:") else getattr(row, figure)
        elif where in derived:
            actual = derived[where].get(figure)
        met = None if actual is None else (actual >= target if kind == "min" else actual <= target)
        out.append(
            {"id": goal_id, "goal": text, "target": target, "kind": kind, "actual": actual, "met": met}
        )
    return out


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


def _seed_small(proxy_url: str, needed: int) -> int:
    """POST `needed` items through the proxy (bounded: at most needed requests, 60 s)."""
    made = 0
    deadline = time.monotonic() + 60
    with requests.Session() as session:
        for i in range(needed):
            if time.monotonic() > deadline:
                break
            r = session.post(f"{proxy_url}/items", json={"name": f"bench-small-{i}"}, timeout=5)
            made += 1 if r.status_code in (200, 201) else 0
    return made


class _Bench:
    """The state one bench run shares between its phases (kept out of run_bench's locals)."""

    def __init__(
        self, docker: Any, lab: LabTargets, settings: Any, report: BenchReport, out_dir: Path, started: float
    ) -> None:
        self.docker, self.lab, self.settings, self.report, self.out_dir = (
            docker,
            lab,
            settings,
            report,
            out_dir,
        )
        self.started = started  # time.monotonic() at the start of the bench
        self.rows: dict[str, BenchRow] = {}
        self.load_max: dict[str, int] = {}
        self.cpus = os.cpu_count() or 1
        # HA with WAIT on: one more phase, the same POST row with WAIT off (issue 11).
        self.acks: int | None = (
            settings.lab_redis_min_replica_acks if settings.lab_redis_topology == "ha" else None
        )
        self.steps, self.step = (10 if self.acks else 9), 0

    def say(self, text: str) -> None:
        """Progress line of the next phase: [step/steps], with the seconds since the start."""
        self.step += 1
        console.print(
            f"[bold cyan][{self.step}/{self.steps}][/] {text}  "
            f"[dim]({time.monotonic() - self.started:.0f} s)[/]"
        )

    def items(self) -> int:
        assert self.lab.redis_container is not None
        return item_count(self.docker, self.lab.redis_container)

    def measured(self, fn: Callable[[], Any]) -> tuple[Any, CpuUsage]:
        """Run fn() with memory sampling and CPU counters around it: (its value, CpuUsage)."""
        with MemorySampler(self.lab.container_ids) as sampler:
            before = snapshot(self.lab.container_ids)
            value = fn()
            after = snapshot(self.lab.container_ids)
        for service, b in sampler.max_bytes.items():
            self.load_max[service] = max(self.load_max.get(service, 0), b)
        return value, usage(before, after)

    def add(self, row: BenchRow) -> BenchRow:
        self.rows[row.id] = row
        self.report.rows.append(row)
        cpu = ", ".join(f"{k} {v:.2f}" for k, v in row.cpu_ms.items() if v is not None)
        flag = "" if row.valid is not False else "  [yellow]generator CPU saturated[/]"
        console.print(
            f"    {row.rps:,.0f} req/s, p50 {row.p50_ms} ms, p99 {row.p99_ms} ms, {row.failed} failed; "
            f"CPU ms/request: {cpu}{flag}"
        )
        return row

    def wrk_row(
        self,
        row_id: str,
        what: str,
        direct: bool,
        seconds: int,
        connections: int,
        *,
        post: bool = False,
        items: int | None = None,
        appendfsync: str | None = None,
        min_replica_acks: int | None = None,
    ) -> BenchRow:
        bases = list(self.lab.replica_urls.values()) if direct else [self.settings.proxy_url]
        urls = [f"{base}/items" for base in bases]
        run, cpu = self.measured(
            lambda: run_wrk_many(
                urls,
                connections=connections,
                duration_s=seconds,
                post_prefix=f"bench-{row_id}" if post else None,
                log=self.out_dir / f"{row_id}.txt",
            )
        )
        w = run.result
        return self.add(BenchRow(
            id=row_id, what=what, tool="wrk", target="direct" if direct else "proxy",
            concurrency=connections, duration_s=w.duration_s, items=items, requests=w.requests,
            failed=w.failed, rps=w.rps, p50_ms=w.p50_ms, p95_ms=w.p95_ms, p99_ms=w.p99_ms, max_ms=w.max_ms,
            cpu_ms=per_request_ms(cpu, w.requests, run.cpu_s),
            host_busy=round(cpu.host_busy_s / cpu.host_total_s, 3) if cpu.host_total_s else None,
            appendfsync=appendfsync, min_replica_acks=min_replica_acks,
        ))  # fmt: skip

    def locust_row(self, row_id: str, what: str, users: int, seconds: float, items: int) -> BenchRow:
        spec = LoadSpec(scenario=Scenario.LIST, users=users, spawn_rate=users, duration_s=seconds,
                        host=self.settings.proxy_url, timeout_s=5, label=f"bench {row_id}")  # fmt: skip
        result, cpu = self.measured(lambda: run_load(spec, self.out_dir / row_id, html=False))
        gen = result.generator_cpu.mean
        generator_s = None if gen is None else gen / 100 * result.duration_s  # sampled once a second
        return self.add(BenchRow(
            id=row_id, what=what, tool="locust", target="proxy", concurrency=users,
            duration_s=result.duration_s, items=items, requests=result.requests, failed=result.failed,
            rps=result.rps, p50_ms=result.latency.p50_ms, p95_ms=result.latency.p95_ms,
            p99_ms=result.latency.p99_ms, max_ms=result.latency.max_ms, served_by=result.served_by,
            generator_cpu_mean=result.generator_cpu.mean, generator_cpu_max=result.generator_cpu.max,
            valid=result.valid, results=row_id, cpu_ms=per_request_ms(cpu, result.requests, generator_s),
            host_busy=round(cpu.host_busy_s / cpu.host_total_s, 3) if cpu.host_total_s else None,
        ))  # fmt: skip

    def rediscover(self) -> LabTargets:
        """The lab again after replicas were recreated (new container ids, new edge addresses)."""
        self.lab = discover(self.docker, self.settings.project, self.settings.proxy_url,
                            web_services(self.settings))  # fmt: skip
        self.report.replicas = self.lab.replica_urls
        return self.lab

    def wait_off_row(self, seconds: int, connections: int, fsync: str, acks: int) -> LabTargets:
        """POST via Traefik with WAIT off: the replicas recreated with LAB_REDIS_MIN_REPLICA_ACKS=0
        through the compose client, measured, then recreated with the configured value again
        (also when the row fails). Returns the lab as it runs afterwards."""
        web = list(web_services(self.settings))
        with web_with_variable(
            self.docker, web, WAIT_VARIABLE, "0", service_variable=WAIT_SERVICE_VARIABLE,
            proxy_url=self.settings.proxy_url,
            containers=lambda: {s: self.rediscover().containers[s] for s in web},
        ):  # fmt: skip
            self.report.derived["settle_before_nowait_s"] = settle()
            self.wrk_row("post_proxy_nowait", "POST /items via Traefik, WAIT off (REDIS_MIN_REPLICA_ACKS=0)",
                         False, seconds, connections, post=True, appendfsync=fsync,
                         min_replica_acks=0)  # fmt: skip
        lab = self.rediscover()
        restored = {s: replica_env(self.docker, lab.containers[s]).get(WAIT_SERVICE_VARIABLE) for s in web}
        if set(restored.values()) != {str(acks)}:
            raise LoadError(f"replicas not restored to {WAIT_SERVICE_VARIABLE}={acks}: {restored}")
        self.report.notes.append(
            f"the WAIT-off row ran on replicas recreated with {WAIT_VARIABLE}=0 (compose client, "
            f"--no-deps), then recreated with {acks} again and checked"
        )
        self.report.derived["settle_after_nowait_s"] = settle()
        return lab

    def idle_share(self, seconds: float = 20.0) -> dict[str, Any]:
        """The idle stack's CPU: containers + engine over `seconds` with no load, as machine shares."""
        _, cpu = self.measured(lambda: time.sleep(seconds))
        share = {k: cpu.share_of_machine(v, self.cpus) for k, v in sorted(cpu.containers.items())}
        return {
            "seconds": round(cpu.wall_s, 1),
            "lab_share": cpu.share_of_machine(cpu.lab_s, self.cpus),
            "engine_share": cpu.share_of_machine(cpu.engine_s, self.cpus),
            "host_busy_share": round(cpu.host_busy_s / cpu.host_total_s, 4) if cpu.host_total_s else None,
            "by_service": share,
        }

    def redis_config(self, key: str, value: str | None = None) -> str:
        """CONFIG GET (value None) or SET inside the Redis container; returns the value in force."""
        cmd = admin_cli("CONFIG", *(["SET", key, value] if value else ["GET", key]))
        try:
            out = str(self.docker.container.execute(self.lab.redis_container, cmd) or "")
        except DockerException as exc:
            raise LoadError(f"redis CONFIG {key}: {(exc.stderr or str(exc)).strip()[:200]}") from None
        if value is not None:
            if "OK" not in out:
                raise LoadError(f"redis CONFIG SET {key} {value}: {out.strip()[:200]}")
            return value
        return last_line(out)


def run_bench(
    settings: Settings,
    *,
    users: int,
    phase_s: float,
    wrk_s: int,
    items: int,
    seed_s: int,
    fresh: bool,
    out_dir: Path,
) -> BenchReport:
    """The bench's phases in order (module docstring); writes bench.json and bench.md."""
    options = {"users": users, "phase_s": phase_s, "wrk_s": wrk_s, "items": items, "seed_s": seed_s,
               "fresh": fresh}  # fmt: skip
    b = _open(settings, out_dir, options)
    rest = _rest_phase(b, fresh)
    n = _small_store(b)
    _wrk_phases(b, users, wrk_s, n)
    b.say(f"GET /items via Traefik (Locust, {users} users, {phase_s:g} s)")
    b.locust_row("get_proxy_locust", "GET /items via Traefik (Locust)", users, phase_s, n)
    n_large = _seed_phase(b, items, seed_s)
    # Seeding saturates both cores; the large-store row must not measure its aftermath.
    b.report.derived["settle_before_large_s"] = settle()
    b.say(f"GET /items via Traefik with {n_large:,} items (wrk)")
    b.wrk_row("get_proxy_large", f"GET /items via Traefik, {n_large:,} items", False, wrk_s, users,
              items=n_large)  # fmt: skip
    return _finish(b, rest)


def _open(settings: Settings, out_dir: Path, options: dict[str, Any]) -> _Bench:
    """The engine, the running lab and an empty report; refuses a lab that is not running."""
    started = time.monotonic()
    docker = compose_client(settings, PROFILES)
    require_engine(docker)
    wrk_binary()
    lab = discover(docker, settings.project, settings.proxy_url, web_services(settings))
    check_targets([settings.proxy_url], settings.proxy_url)
    assert lab.redis_container is not None
    out_dir.mkdir(parents=True, exist_ok=True)
    report = BenchReport(
        started_at=datetime.now(UTC).isoformat(timespec="seconds"),
        machine=machine_info(docker),
        project=settings.project,
        proxy_url=settings.proxy_url,
        replicas=lab.replica_urls,
        options=options,
    )
    report.notes.append(
        "direct rows reach the replicas at their container IPs on the compose edge network (one wrk "
        "per replica, the connections split between them; no published ports, no helper container)"
    )
    return _Bench(docker, lab, settings, report, out_dir, started)


def _rest_phase(b: _Bench, fresh: bool) -> dict[str, int]:
    """Phase 1: memory at rest and the idle stack's CPU share; returns the memory at rest."""
    b.say("memory and CPU at rest (20 s, no load)")
    if fresh:
        assert b.lab.redis_container is not None
        flush_items(b.docker, b.lab.redis_container)
        b.report.notes.append("--fresh: the lab's Redis was flushed before the bench")
    rest = memory_snapshot(b.lab.container_ids)
    settle()
    b.report.idle = b.idle_share()
    console.print(f"    idle stack: {b.report.idle['lab_share']:.1%} of the machine "
                  f"(host busy {b.report.idle['host_busy_share']:.1%})")  # fmt: skip
    return rest


def _small_store(b: _Bench) -> int:
    """At least 100 items for the small-store rows; returns how many there are."""
    n = b.items()
    if n < 100:
        _seed_small(b.settings.proxy_url, 100 - n)
        n = b.items()
    if n > 1000:
        b.report.notes.append(f"the store already held {n} items for the 'small store' rows (use --fresh)")
    return n


def _wrk_phases(b: _Bench, users: int, wrk_s: int, n: int) -> None:
    """The wrk rows on the small store: GET and POST, via Traefik and direct, WAIT off, fsync everysec."""
    acks = b.acks
    b.say(f"GET /items via Traefik and direct (wrk, {users} connections, {wrk_s} s each, {n} items)")
    b.wrk_row("get_proxy", "GET /items via Traefik", False, wrk_s, users, items=n)
    b.wrk_row("get_direct", "GET /items direct to the replicas", True, wrk_s, users, items=n)
    fsync = b.redis_config("appendfsync")
    wait = f"; WAIT for {acks} replica(s)" if acks else ""
    b.say(f"POST /items via Traefik and direct (wrk; Redis appendfsync {fsync}{wait})")
    b.wrk_row("post_proxy", "POST /items via Traefik", False, wrk_s, users, post=True, appendfsync=fsync,
              min_replica_acks=acks)  # fmt: skip
    if acks:
        b.say(
            "POST /items via Traefik with WAIT off "
            "(replicas recreated with LAB_REDIS_MIN_REPLICA_ACKS=0, then back)"
        )
        b.wait_off_row(wrk_s, users, fsync, acks)  # b.lab: the recreated replicas from here on
    b.wrk_row("post_direct", "POST /items direct to the replicas", True, wrk_s, users, post=True,
              appendfsync=fsync, min_replica_acks=acks)  # fmt: skip
    b.say("POST /items via Traefik with Redis at appendfsync everysec (then back)")
    b.redis_config("appendfsync", "everysec")
    try:
        b.wrk_row("post_proxy_everysec", "POST /items via Traefik, appendfsync everysec", False, wrk_s, users,
                  post=True, appendfsync="everysec", min_replica_acks=acks)  # fmt: skip
    finally:
        b.redis_config("appendfsync", fsync)


def _seed_phase(b: _Bench, items: int, seed_s: int) -> int:
    """Seed to `items` (wrk POST direct, bounded by seed_s); returns the items stored afterwards."""
    n = b.items()
    if items <= n:
        b.say(f"store already holds {n:,} items")
        return n
    b.say(f"seeding {items - n:,} items (wrk POST direct to the replicas, at most {seed_s} s)")
    (elapsed, seeds), _ = b.measured(
        lambda: seed_with_wrk(
            list(b.lab.replica_urls.values()), needed=items - n, count=b.items, target=items,
            max_s=seed_s, log=b.out_dir / "wrk_seed.txt",
        )
    )  # fmt: skip
    n_large = b.items()
    b.report.derived["seeding"] = {
        "items_before": n, "items_after": n_large, "seconds": round(elapsed, 1),
        "items_per_s": round((n_large - n) / elapsed, 1) if elapsed > 0 else None,
        "wrk_errors": sum(s.failed for s in seeds),
    }  # fmt: skip
    if n_large < items:
        b.report.notes.append(f"seeding stopped at {n_large} items (time bound {seed_s} s)")
    return n_large


def _finish(b: _Bench, rest: dict[str, int]) -> BenchReport:
    """Memory at rest again, the derived figures and goals; bench.json and bench.md written."""
    report, lab = b.report, b.lab
    b.say("memory at rest again")
    rest_after = memory_snapshot(lab.container_ids)
    report.machine["loadavg_at_end"] = _loadavg()
    # The load average at the end is mostly the bench's own load; what says that something else
    # competed is the host's busy share while the lab idled (phase 1).
    busy_at_rest = report.idle.get("host_busy_share")
    if busy_at_rest is not None and busy_at_rest > 0.1:
        report.notes.append(
            f"something else used the CPU: the host was {busy_at_rest:.0%} busy while the lab idled "
            f"(the lab itself {report.idle.get('lab_share', 0):.1%}); req/s include that contention"
        )
    report.memory = memory_summary(rest, b.load_max, lab.core_services())
    report.memory["at_rest_after_bytes"] = dict(sorted(rest_after.items()))
    report.derived.update(derive(b.rows, list(lab.replica_urls)))
    report.derived["goals"] = goals(b.rows, report.derived, report.idle)
    report.duration_s = round(time.monotonic() - b.started, 1)
    (b.out_dir / "bench.json").write_text(report.model_dump_json(indent=2) + "\n", encoding="utf-8")
    (b.out_dir / "bench.md").write_text(markdown(report), encoding="utf-8")
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
    if r.tool == "locust":
        label += " (Locust)"
    if r.id in ("get_proxy", "get_proxy_large") and r.items is not None:
        label += f", {compact(r.items)} items"
    if r.id == "post_proxy_everysec":
        label += ", fsync everysec"
    if r.min_replica_acks is not None:
        label += f", WAIT {r.min_replica_acks} replica" if r.min_replica_acks else ", WAIT off"
    return label


CPU_COLUMNS = ("service", "traefik", "redis", "generator", "engine")


def _cpu(r: BenchRow, component: str) -> str:
    v = r.cpu_ms.get(component)
    return "-" if v is None else f"{v:.2f}"


def bench_table(report: BenchReport) -> Table:
    users = report.options.get("users")
    cpus = report.machine.get("cpus")
    t = Table(title=f"srelab bench {report.started_at}, {cpus} CPUs, {users} connections/users")
    t.add_column("row", no_wrap=True)
    for col in ("req/s", "p50 ms", "p99 ms", "failed"):
        t.add_column(col, justify="right", no_wrap=True)
    for col in CPU_COLUMNS:
        t.add_column(f"{col[:5]} ms", justify="right", no_wrap=True)
    for r in report.rows:
        gen = _cpu(r, "generator") + ("!" if r.valid is False else "")
        t.add_row(
            row_label(r), f"{r.rps:,.0f}", _ms(r.p50_ms), _ms(r.p99_ms), f"{r.failed:,}",
            _cpu(r, "service"), _cpu(r, "traefik"), _cpu(r, "redis"), gen, _cpu(r, "engine"),
        )  # fmt: skip
    t.caption = "CPU ms per request of each component (service = the three replicas together)"
    return t


def _goal_value(g: dict[str, Any]) -> str:
    v = g.get("actual")
    if v is None:
        return "-"
    if g["id"] == "idle":
        return f"{v:.1%}"
    return f"{v:,.0f}" if v >= 100 else f"{v:.2f}"


def goals_table(report: BenchReport) -> Table:
    t = Table(title="goals (issue 9)")
    for col in ("goal", "target", "measured", "met"):
        t.add_column(col, justify="left" if col == "goal" else "right")
    for g in report.derived.get("goals", []):
        sign = ">=" if g["kind"] == "min" else "<="
        target = f"{g['target']:.0%}" if g["id"] == "idle" else f"{g['target']:g}"
        met = "-" if g["met"] is None else ("[green]yes[/]" if g["met"] else "[red]no[/]")
        t.add_row(g["goal"], f"{sign} {target}", _goal_value(g), met)
    return t


def derived_lines(report: BenchReport) -> list[str]:
    d = report.derived
    lines = []
    idle = report.idle
    if idle:
        lines.append(
            f"idle stack (containers + engine): {idle['lab_share']:.1%} of the machine over "
            f"{idle['seconds']:g} s (the whole host was {idle['host_busy_share']:.1%} busy)"
        )
    for method in ("get", "post"):
        o = d.get(f"proxy_overhead_{method}")
        if o:
            lines.append(
                f"proxy {method.upper()}: proxy/direct throughput {o['rps_proxy_over_direct']}, "
                f"p50 +{o['p50_added_ms']} ms"
            )
    b = d.get("balance_get")
    if b:
        counts = ", ".join(f"{k} {v:,}" for k, v in b["served_by"].items())
        lines.append(f"balance GET (Locust row): {counts}; max/min {b['max_min_ratio']}")
    if "locust_over_wrk_rps" in d:
        lines.append(f"Locust reaches {d['locust_over_wrk_rps']:.0%} of wrk's GET throughput")
    w = d.get("wait")
    if w:
        cpu_on, cpu_off = w["cpu_ms_wait"], w["cpu_ms_nowait"]
        cpu = ", ".join(
            f"{k} {cpu_on.get(k):.2f} vs {cpu_off.get(k):.2f}"
            for k in ("service", "redis")
            if cpu_on.get(k) is not None and cpu_off.get(k) is not None
        )
        lines.append(
            f"WAIT for {w['min_replica_acks']} replica vs WAIT off (POST via Traefik, same run): "
            f"{w['rps_wait']:,.0f} vs {w['rps_nowait']:,.0f} req/s (x{w['rps_wait_over_nowait']}), "
            f"p50 {w['p50_wait_ms']} vs {w['p50_nowait_ms']} ms, p99 {w['p99_wait_ms']} vs "
            f"{w['p99_nowait_ms']} ms; CPU ms per POST {cpu}"
        )
    f = d.get("fsync")
    if f:
        lines.append(
            f"appendfsync everysec/always POST throughput {f['rps_everysec_over_always']}; p50 "
            f"{f['p50_always_ms']} ms (always) vs {f['p50_everysec_ms']} ms (everysec); Redis CPU "
            f"{f['redis_cpu_ms_always']} vs {f['redis_cpu_ms_everysec']} ms per POST"
        )
    f = d.get("listing_flatness")
    if f:
        lines.append(
            f"GET /items with {f['items_large']:,} vs {f['items_small']:,} items: "
            f"p50 x{f['p50_large_over_small']}, p95 x{f['p95_large_over_small']}, "
            f"throughput x{f['rps_large_over_small']}"
        )
    s = d.get("seeding")
    if s:
        lines.append(
            f"seeding: {s['items_after'] - s['items_before']:,} items in {s['seconds']} s "
            f"({s['items_per_s']}/s)"
        )
    return lines


def memory_table(report: BenchReport) -> Table:
    m = report.memory
    t = Table(title="memory (cgroups)")
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
        f"{report.options.get('users')} wrk connections / Locust users, "
        f"{report.options.get('wrk_s')} s per wrk row; 1-min load average "
        f"{load_start} at start, {load_end} at end.",
        "",
        "| row | req/s | p50 ms | p99 ms | failed | service | traefik | redis | generator | engine |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in report.rows:
        gen = _cpu(r, "generator") + (" (saturated)" if r.valid is False else "")
        lines.append(
            f"| {row_label(r)} | {r.rps:,.0f} | {_ms(r.p50_ms)} | {_ms(r.p99_ms)} | {r.failed:,} "
            f"| {_cpu(r, 'service')} | {_cpu(r, 'traefik')} | {_cpu(r, 'redis')} | {gen} "
            f"| {_cpu(r, 'engine')} |"
        )
    lines += ["", "The last five columns are CPU milliseconds per request of each component.", ""]
    goal_rows = report.derived.get("goals", [])
    if goal_rows:
        lines += ["| goal | target | measured | met |", "|---|---:|---:|---|"]
        for g in goal_rows:
            sign = ">=" if g["kind"] == "min" else "<="
            target = f"{g['target']:.0%}" if g["id"] == "idle" else f"{g['target']:g}"
            met = "-" if g["met"] is None else ("yes" if g["met"] else "**no**")
            lines.append(f"| {g['goal']} | {sign} {target} | {_goal_value(g)} | {met} |")
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
            "| **core total** (traefik, web replicas, Redis nodes, Sentinels) "
            f"| {_mib(mem.get('core_total_at_rest_bytes'))} "
            f"| {_mib(mem.get('core_total_under_load_bytes'))} (goal < 1 GiB: {goal}) |"
        )
    if report.notes:
        lines += [""] + [f"Note: {n}." for n in report.notes]
    return "\n".join(lines) + "\n"


def load_report(path: Path) -> BenchReport:
    return BenchReport.model_validate(json.loads(path.read_text()))
