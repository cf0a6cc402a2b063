"""`srelab load` (Locust, or the real hey with `--tool hey`) and `srelab bench`."""

from __future__ import annotations

import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer
from pydantic import ValidationError
from rich.console import Console
from rich.live import Live
from rich.table import Table
from rich.text import Text

from srelab.durations import seconds
from srelab.errors import field_problems, one_line
from srelab.load.bench import bench_table, derived_lines, goals_table, memory_table, run_bench
from srelab.load.checks import evaluate_thresholds
from srelab.load.errors import LoadError
from srelab.load.hey import HeyOptions, check_hey_spec, planned_requests, run_hey
from srelab.load.presets import PRESETS, TOOLS, preset_spec
from srelab.load.runner import run_load
from srelab.load.types import (
    FAILURE_KINDS,
    Breach,
    LoadResult,
    LoadSpec,
    Scenario,
    SecondBucket,
    Shape,
    Thresholds,
)
from srelab.stack.settings import get_settings

out = Console()
err = Console(stderr=True)

# LoadSpec / Thresholds field -> the option that sets it (for one-line error messages).
OPTION_OF = {
    "users": "--users",
    "spawn_rate": "--spawn-rate",
    "duration_s": "--run-time",
    "requests": "--requests",
    "steps": "--steps",
    "reader_weight": "--reader-weight",
    "writer_weight": "--writer-weight",
    "wait_min_s": "--wait-min",
    "wait_max_s": "--wait-max",
    "timeout_s": "--timeout",
    "write_retries": "--write-retries",
    "max_error_rate": "--max-error-rate",
    "p95_ms": "--p95-ms",
    "p99_ms": "--p99-ms",
    "min_rps": "--min-rps",
    "scenario": "--scenario",
    "shape": "--shape",
    "target_hosts": "--host",
    "rate_per_worker": "--rate",
}
USER_SCENARIOS = [s.value for s in Scenario if not s.value.startswith("hey-")]


def parse_duration(text: str, option: str = "--run-time") -> float:
    """A command-line time in seconds (srelab.durations); a bad value is one line naming `option`."""
    try:
        return seconds(text)
    except ValueError:
        raise LoadError(f"{option}: cannot read {text!r} (use e.g. 30s, 2m, 1m30s)") from None


def validation_message(exc: ValidationError) -> str:
    """One line naming the command-line option of each bad field."""
    parts = []
    for problem in field_problems(exc):
        field = problem.loc[0] if problem.loc else ""
        parts.append(f"{OPTION_OF.get(field, field or 'options')}: {problem.message}")
    return one_line(parts)


def build_spec(
    *,
    preset: str | None,
    scale: float,
    scenario: str | None,
    users: int | None,
    spawn_rate: float | None,
    run_time: str | None,
    requests: int | None,
    shape: str,
    steps: int,
    reader_weight: int,
    writer_weight: int,
    wait_min: float,
    wait_max: float,
    timeout: float,
    write_retries: int,
    host: str | None,
) -> LoadSpec:
    """Options -> LoadSpec; any invalid value raises LoadError with one readable line."""
    if shape not in [s.value for s in Shape]:
        raise LoadError(
            f"--shape: unknown shape {shape!r}: choose one of {', '.join(s.value for s in Shape)}"
        )
    values: dict[str, object] = {
        "shape": shape,
        "steps": steps,
        "reader_weight": reader_weight,
        "writer_weight": writer_weight,
        "wait_min_s": wait_min,
        "wait_max_s": wait_max,
        "timeout_s": timeout,
        "write_retries": write_retries,
        "host": host,
    }
    if users is not None:
        values["users"] = users
    if spawn_rate is not None:
        values["spawn_rate"] = spawn_rate
    if run_time is not None:
        values["duration_s"] = parse_duration(run_time)
    if requests is not None:
        values["requests"] = requests
    try:
        if preset is not None:
            if preset not in PRESETS:
                raise LoadError(f"--preset: unknown preset {preset!r}: choose one of {', '.join(PRESETS)}")
            if scenario is not None:
                raise LoadError("--preset and --scenario are exclusive")
            return preset_spec(preset, scale, **values)
        if scenario is not None and scenario not in USER_SCENARIOS:
            raise LoadError(
                f"--scenario: unknown scenario {scenario!r}: choose one of {', '.join(USER_SCENARIOS)} "
                f"(or --preset {'/'.join(PRESETS)})"
            )
        values["scenario"] = scenario or Scenario.MIXED.value
        return LoadSpec.model_validate(values)
    except ValidationError as exc:
        raise LoadError(validation_message(exc)) from None


def check_tool(
    tool: str,
    *,
    preset: str | None,
    spawn_rate: float | None,
    rate: float | None,
    spec: LoadSpec | None = None,
) -> HeyOptions | None:
    """--tool and the options only one tool understands; HeyOptions for hey, None for Locust."""
    if tool not in TOOLS:
        raise LoadError(f"--tool: unknown tool {tool!r}: choose one of {', '.join(TOOLS)}")
    if tool == "locust":
        if rate is not None:
            raise LoadError("--rate: only with --tool hey (it is hey -q, requests per second per worker)")
        return None
    if preset is None:
        raise LoadError(f"--tool hey runs the challenge's commands: give --preset {' or '.join(PRESETS)}")
    if spawn_rate is not None:
        raise LoadError("--spawn-rate: a Locust option; hey starts all its workers at once")
    if spec is not None:
        check_hey_spec(spec, lambda field: OPTION_OF.get(field, field))
    try:
        return HeyOptions(rate_per_worker=rate)
    except ValidationError as exc:
        raise LoadError(validation_message(exc)) from None


def build_thresholds(
    max_error_rate: float | None, p95_ms: float | None, p99_ms: float | None, min_rps: float | None
) -> Thresholds:
    try:
        return Thresholds(max_error_rate=max_error_rate, p95_ms=p95_ms, p99_ms=p99_ms, min_rps=min_rps)
    except ValidationError as exc:
        raise LoadError(validation_message(exc)) from None


def default_out_dir(prefix: str) -> Path:
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    return Path(get_settings().lab_results_dir) / f"{prefix}-{stamp}"


def progress_line(b: SecondBucket, total: int, failed: int, spec: LoadSpec) -> Text:
    p95 = f"{b.latency.p95_ms:.0f}" if b.latency.p95_ms is not None else "-"
    cpu = f"{b.generator_cpu:.0f}%" if b.generator_cpu is not None else "-"
    served = " ".join(f"{k}:{v}" for k, v in b.served_by.items()) or "-"
    bound = f"/{spec.requests}" if spec.requests else ""
    errors = ", ".join(f"{k} {v}" for k, v in b.failures.items() if v) or "0"
    line = Text()
    line.append(f"t={b.second + 1:>4}s ", style="bold")
    line.append(f"users {b.users if b.users is not None else '-':>3}  ")
    line.append(f"{b.requests:>5} req/s  ", style="cyan")
    line.append(f"errors {errors}  ", style="red" if b.failed else "green")
    line.append(f"p95 {p95} ms  cpu {cpu}  ")
    line.append(f"total {total}{bound} ({failed} failed)  served {served}", style="dim")
    return line


def result_table(result: LoadResult) -> Table:
    table = Table(title=f"load: {result.spec.label or result.spec.scenario.value} against {result.host}")
    table.add_column("endpoint", no_wrap=True)
    for col in ("reqs", "failed", "req/s", "p50 ms", "p95 ms", "p99 ms", "max ms"):
        table.add_column(col, justify="right", no_wrap=True)

    def fmt(v: float | None) -> str:
        return "-" if v is None else f"{v:,.1f}"

    for name, ep in result.endpoints.items():
        table.add_row(
            name, f"{ep.requests:,}", f"{sum(ep.failures.values()):,}", fmt(ep.rps),
            fmt(ep.latency.p50_ms), fmt(ep.latency.p95_ms), fmt(ep.latency.p99_ms), fmt(ep.latency.max_ms),
        )  # fmt: skip
    lat = result.latency
    table.add_row(
        "[bold]overall[/]", f"{result.requests:,}", f"{result.failed:,}", fmt(result.rps),
        fmt(lat.p50_ms), fmt(lat.p95_ms), fmt(lat.p99_ms), fmt(lat.max_ms), end_section=True,
    )  # fmt: skip
    return table


def print_result(result: LoadResult, breaches: list[Breach]) -> None:
    out.print(result_table(result))
    kinds = ", ".join(f"{k} {result.failures[k]}" for k in FAILURE_KINDS if result.failures.get(k))
    out.print(f"failures by kind: {kinds or 'none'}   error rate {result.error_rate:.4%}")
    served = ", ".join(f"{k} {v:,}" for k, v in result.served_by.items()) or "-"
    out.print(f"served by: {served}")
    if result.hey is not None:
        h = result.hey
        unanswered = (
            f"{h.unanswered:,} without an answer"
            if h.unanswered is not None
            else "requests without an answer: unknown (hey was stopped early)"
        )
        codes = ", ".join(f"{k} {v:,}" for k, v in h.status_codes.items()) or "-"
        out.print(f"hey: {h.planned:,} sent, {h.answered:,} answered ({h.acknowledged:,} 2xx), {unanswered}")
        out.print(f"hey status codes: {codes}")
        if h.item_name is not None:
            out.print(f"item name in every POST body: {h.item_name!r}")
    for note in result.notes:
        out.print(f"note: {note}", style="dim", highlight=False)
    cpu = result.generator_cpu
    out.print(
        f"generator CPU: mean {cpu.mean if cpu.mean is not None else '-'}%, "
        f"max {cpu.max if cpu.max is not None else '-'}%, "
        f"{cpu.seconds_over}/{cpu.samples} s >= {cpu.threshold:g}%"
    )
    out.print(f"stopped by: {result.stop_reason}; duration {result.duration_s:.1f} s")
    if result.valid:
        out.print("[green]valid run[/]")
    else:
        for reason in result.invalid_reasons:
            out.print(f"[bold yellow]INVALID run:[/] {reason}")
    out.print(f"results: {result.out_dir}")
    for b in breaches:
        out.print(f"[bold red]threshold breached:[/] {b.message}")


def load_command(
    users: Annotated[int | None, typer.Option("--users", "-u", help="concurrent users (default 10)")] = None,
    spawn_rate: Annotated[
        float | None, typer.Option("--spawn-rate", "-r", help="users started per second")
    ] = None,
    run_time: Annotated[str | None, typer.Option("--run-time", "-t", help="time bound, e.g. 30s, 2m")] = None,
    requests: Annotated[
        int | None, typer.Option("--requests", "-n", help="stop after this many requests")
    ] = None,
    scenario: Annotated[str | None, typer.Option(help=f"user mix: {', '.join(USER_SCENARIOS)}")] = None,
    preset: Annotated[str | None, typer.Option(help=f"replay the challenge: {', '.join(PRESETS)}")] = None,
    scale: Annotated[float, typer.Option(help="divide a preset's request count by this")] = 10.0,
    tool: Annotated[str, typer.Option(help=f"load generator: {' or '.join(TOOLS)} (hey: with --preset)")] = (
        "locust"
    ),
    rate: Annotated[
        float | None, typer.Option(help="hey only: requests per second per worker (hey -q); default no limit")
    ] = None,
    shape: Annotated[str, typer.Option(help="steady, step or spike")] = "steady",
    steps: Annotated[int, typer.Option(help="steps of the step shape")] = 4,
    reader_weight: Annotated[int, typer.Option(help="weight of readers in the mixed scenario")] = 4,
    writer_weight: Annotated[int, typer.Option(help="weight of writers in the mixed scenario")] = 1,
    wait_min: Annotated[float, typer.Option(help="think time lower bound, seconds")] = 0.0,
    wait_max: Annotated[float, typer.Option(help="think time upper bound, seconds")] = 0.0,
    timeout: Annotated[float, typer.Option(help="per-request timeout, seconds")] = 5.0,
    write_retries: Annotated[int, typer.Option(help="retries of a failed POST, same Idempotency-Key")] = 0,
    host: Annotated[
        str | None, typer.Option(help="target (default: the lab proxy, settings.proxy_url)")
    ] = None,
    out_dir: Annotated[Path | None, typer.Option("--out", help="results folder")] = None,
    max_error_rate: Annotated[
        float | None, typer.Option(help="fail (exit 1) above this error rate, 0..1")
    ] = None,
    p95_ms: Annotated[float | None, typer.Option(help="fail (exit 1) when overall p95 is above, ms")] = None,
    p99_ms: Annotated[float | None, typer.Option(help="fail (exit 1) when overall p99 is above, ms")] = None,
    min_rps: Annotated[
        float | None, typer.Option(help="fail (exit 1) when throughput is below, req/s")
    ] = None,
) -> None:
    """Headless Locust (or hey) run against the proxy: summary, 1 s timeline, plots; thresholds: exit 1."""
    check_tool(tool, preset=preset, spawn_rate=spawn_rate, rate=rate)
    spec = build_spec(
        preset=preset, scale=scale, scenario=scenario, users=users, spawn_rate=spawn_rate,
        run_time=run_time, requests=requests, shape=shape, steps=steps, reader_weight=reader_weight,
        writer_weight=writer_weight, wait_min=wait_min, wait_max=wait_max, timeout=timeout,
        write_retries=write_retries, host=host,
    )  # fmt: skip
    hey = check_tool(tool, preset=preset, spawn_rate=spawn_rate, rate=rate, spec=spec)
    thresholds = build_thresholds(max_error_rate, p95_ms, p99_ms, min_rps)
    target = out_dir or default_out_dir("load")
    if hey is not None:
        # A name of the run's own, so its writes can be counted afterwards (the original sent
        # "Sample Item" every time).
        named = hey.model_copy(update={"item_name": f"hey-{target.name}"})
        result = run_hey_with_progress(spec, target, named)
    else:
        result = run_with_progress(spec, target)
    breaches = evaluate_thresholds(result, thresholds)
    checked = any(v is not None for v in thresholds.model_dump().values())
    if checked and not result.valid:
        breaches.append(
            Breach(
                name="validity",
                limit=0,
                actual=None,
                message="run invalid: " + "; ".join(result.invalid_reasons),
            )
        )
    print_result(result, breaches)
    if result.stop_reason == "interrupted":
        sys.exit(130)
    if breaches:
        # SystemExit, not typer.Exit: srelab.cli runs click with standalone_mode=False, where
        # typer.Exit becomes a return value instead of an exit status.
        sys.exit(1)


def run_with_progress(spec: LoadSpec, target: Path) -> LoadResult:
    """run_load with a live progress line on stderr."""
    totals = {"requests": 0, "failed": 0}
    started = time.monotonic()
    with Live(Text("starting Locust ..."), console=err, refresh_per_second=4, transient=True) as live:

        def on_second(b: SecondBucket) -> None:
            totals["requests"] += b.requests
            totals["failed"] += b.failed
            live.update(progress_line(b, totals["requests"], totals["failed"], spec))

        result = run_load(spec, target, on_second=on_second)
    err.print(f"load finished in {time.monotonic() - started:.1f} s", style="dim")
    return result


class _HeyProgress:
    """hey has nothing to show before it ends: what runs and for how long."""

    def __init__(self, spec: LoadSpec, options: HeyOptions) -> None:
        self.spec, self.options, self.started = spec, options, time.monotonic()

    def __rich__(self) -> Text:
        rate = f", {self.options.rate_per_worker:g} req/s per worker" if self.options.rate_per_worker else ""
        return Text(
            f"hey running: {planned_requests(self.spec):,} requests, {self.spec.users} workers{rate}, "
            f"{time.monotonic() - self.started:.0f} s (bound {self.spec.duration_s:g} s); "
            "hey reports only when it ends",
            style="dim",
        )


def run_hey_with_progress(spec: LoadSpec, target: Path, options: HeyOptions) -> LoadResult:
    """run_hey with a live 'still running' line on stderr."""
    started = time.monotonic()
    with Live(_HeyProgress(spec, options), console=err, refresh_per_second=4, transient=True):
        result = run_hey(spec, target, options=options)
    err.print(f"hey finished in {time.monotonic() - started:.1f} s", style="dim")
    return result


def bench_command(
    users: Annotated[int, typer.Option(help="wrk connections / Locust users per row")] = 12,
    phase_time: Annotated[str, typer.Option(help="length of the Locust row")] = "20s",
    wrk_time: Annotated[str, typer.Option(help="length of each wrk row")] = "15s",
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
    phase_s = parse_duration(phase_time, "--phase-time")
    wrk_s = int(parse_duration(wrk_time, "--wrk-time"))
    seed_s = int(parse_duration(seed_time, "--seed-time"))
    if not (3 <= phase_s <= 300 and 3 <= wrk_s <= 300 and 10 <= seed_s <= 900):
        raise LoadError("phase and wrk times must be 3-300 s, the seed time 10-900 s")
    target = out_dir or default_out_dir("bench")
    report = run_bench(get_settings(), users=users, phase_s=phase_s, wrk_s=wrk_s, items=items,
                       seed_s=seed_s, fresh=fresh, out_dir=target)  # fmt: skip
    out.print(bench_table(report))
    out.print(goals_table(report))
    for line in derived_lines(report):
        out.print(f"  {line}")
    out.print(memory_table(report))
    for note in report.notes:
        out.print(f"[dim]note: {note}[/]")
    out.print(f"bench took {report.duration_s:.0f} s; results: {target / 'bench.json'}")


def register(app: typer.Typer) -> None:
    app.command("load", help="Headless Locust or hey run against the proxy (results/load-<ts>/).")(
        load_command
    )
    app.command("bench", help="Throughput, latency, proxy overhead, balance, memory: results/bench-<ts>/.")(
        bench_command
    )
