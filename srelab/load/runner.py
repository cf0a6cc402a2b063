"""Run Locust in a child process, tail its per-request events, build the timeline and results."""

from __future__ import annotations

import contextlib
import ipaddress
import json
import math
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from urllib.parse import urlsplit

import psutil

from srelab.load.api import (
    FAILURE_KINDS,
    LatencyStats,
    LoadResult,
    LoadSpec,
    Scenario,
    SecondBucket,
    StopReason,
)
from srelab.load.checks import cpu_summary, validity
from srelab.load.errors import LoadError
from srelab.load.timeline import Event, Marker, TimelineBuilder, build_timeline, latency_stats, parse_line

ROOT = Path(__file__).resolve().parents[2]
LOCUSTFILE = ROOT / "loadtest" / "locustfile.py"

# Locust user classes per scenario (class names in loadtest/locustfile.py).
SCENARIO_USERS: dict[Scenario, tuple[str, ...]] = {
    Scenario.MIXED: ("ReaderUser", "WriterUser"),
    Scenario.READ: ("ReaderUser",),
    Scenario.WRITE: ("WriterUser",),
    Scenario.LIST: ("ListUser",),
    Scenario.HEY_GET: ("ListUser",),
    Scenario.HEY_POST: ("WriterUser",),
}

POLL_S = 0.25
# A second is handed to on_second this long after it ended: the child flushes every 0.25 s.
EMIT_LAG_S = 1.5
STARTUP_GRACE_S = 30.0  # Locust import + spawn, before the first request


def _host_of(url: str) -> str | None:
    try:
        parts = urlsplit(url)
    except ValueError:
        return None
    if parts.scheme not in ("http", "https"):
        return None
    return (parts.hostname or "").lower() or None


def target_allowed(url: str, proxy_url: str | None = None, extra: Iterable[str] = ()) -> bool:
    """Loopback (127.0.0.0/8, ::1, localhost), the proxy URL's host, or a host in `extra`."""
    host = _host_of(url)
    if host is None:
        return False
    if host == "localhost" or host in {h.lower() for h in extra}:
        return True
    if proxy_url is not None and host == _host_of(proxy_url):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_targets(urls: Iterable[str], proxy_url: str | None, extra: Iterable[str] = ()) -> None:
    extra = tuple(extra)
    for url in urls:
        if _host_of(url) is None:
            raise LoadError(f"target {url!r} is not an http:// or https:// URL")
        if not target_allowed(url, proxy_url, extra):
            raise LoadError(
                f"refusing to send load to {url!r}: targets are 127.0.0.1 / the lab proxy "
                f"({proxy_url or 'settings.proxy_url'}) only"
            )


def _default_host() -> str:
    from srelab.stack.settings import get_settings

    return get_settings().proxy_url


def locust_command(
    spec: LoadSpec, host: str, out_dir: Path, extra_hosts: Iterable[str], html: bool
) -> list[str]:
    stop_timeout = math.ceil(spec.timeout_s) + 1
    cmd = [
        sys.executable, "-m", "locust",
        "-f", str(LOCUSTFILE),
        "--headless",
        "--host", host,
        "--users", str(spec.users),
        "--spawn-rate", f"{spec.spawn_rate:g}",
        "--run-time", f"{math.ceil(spec.duration_s)}s",
        "--stop-timeout", str(stop_timeout),
        "--exit-code-on-error", "0",
        "--csv", str(out_dir / "locust"),
        "--only-summary",
        "--loglevel", "INFO",
        "--logfile", str(out_dir / "locust.log"),
        "--load-shape", spec.shape.value,
        "--steps", str(spec.steps),
        "--reader-weight", str(spec.reader_weight),
        "--writer-weight", str(spec.writer_weight),
        "--wait-min", f"{spec.wait_min_s:g}",
        "--wait-max", f"{spec.wait_max_s:g}",
        "--user-rate", f"{(spec.target_rps or 0) / spec.users:g}",
        "--request-timeout", f"{spec.timeout_s:g}",
        "--write-retries", str(spec.write_retries),
        "--request-budget", str(spec.requests or 0),
        "--events-file", str(out_dir / "events.tsv"),
        "--writes-file", str(out_dir / "writes.jsonl"),
    ]  # fmt: skip
    if spec.target_hosts:
        cmd += ["--target-hosts", ",".join(spec.target_hosts)]
    hosts = sorted({h for h in extra_hosts if h})
    if hosts:
        cmd += ["--allowed-hosts", ",".join(hosts)]
    if html:
        cmd += ["--html", str(out_dir / "report.html")]
    cmd += list(SCENARIO_USERS[spec.scenario])
    return cmd


class _Tail:
    """Reads complete lines appended to a file since the last call."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.pos = 0
        self.partial = ""

    def read(self) -> list[str]:
        try:
            with self.path.open(encoding="utf-8", errors="replace") as fh:
                fh.seek(self.pos)
                data = fh.read()
                self.pos = fh.tell()
        except FileNotFoundError:
            return []
        if not data:
            return []
        data = self.partial + data
        lines = data.split("\n")
        self.partial = lines.pop()
        return lines


def _child_env() -> dict[str, str]:
    """The child's environment without LOCUST_*/LOAD_* variables: the spec decides everything."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LOCUST_", "LOAD_"))}
    env["PYTHONUNBUFFERED"] = "1"
    return env


def run(
    spec: LoadSpec,
    out_dir: Path,
    on_second: Callable[[SecondBucket], None] | None = None,
    stop_event: threading.Event | None = None,
    allowed_hosts: tuple[str, ...] = (),
    html: bool = True,
) -> LoadResult:
    proxy_url: str | None = None
    host = spec.host
    if host is None:
        host = proxy_url = _default_host()
    else:
        with contextlib.suppress(Exception):  # settings may be unavailable (tests, bare checkout)
            proxy_url = _default_host()
    targets = spec.target_hosts or (host,)
    check_targets((host, *targets), proxy_url, allowed_hosts)
    child_hosts = {h for h in (_host_of(u) for u in (host, *targets)) if h}

    out_dir.mkdir(parents=True, exist_ok=True)
    for name in ("events.tsv", "writes.jsonl"):
        (out_dir / name).unlink(missing_ok=True)
    cmd = locust_command(spec, host, out_dir, child_hosts, html)
    (out_dir / "command.txt").write_text(" ".join(cmd) + "\n", encoding="utf-8")

    with (out_dir / "locust.out").open("wb") as out_fh:
        try:
            proc = subprocess.Popen(
                cmd, cwd=out_dir, stdout=out_fh, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                env=_child_env(),
            )  # fmt: skip
        except OSError as exc:
            raise LoadError(f"cannot start Locust: {exc}") from None
        try:
            _live, stop_reason, cpu_samples = _supervise(proc, spec, out_dir, on_second, stop_event)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait(timeout=10)
    rc = proc.returncode

    # The final timeline is rebuilt from the whole file (exact, whatever arrived late).
    lines = (
        (out_dir / "events.tsv").read_text(encoding="utf-8", errors="replace").splitlines()
        if (out_dir / "events.tsv").exists()
        else []
    )
    final = build_timeline(lines)
    if final is None:
        tail = _output_tail(out_dir)
        if rc not in (0, None) or stop_reason not in ("stop_event",):
            raise LoadError(f"Locust sent no request (exit code {rc}): {tail}")
        final = TimelineBuilder(time.time())
    for t_sampled, pct in cpu_samples:
        final.add_cpu(t_sampled, pct)

    if stop_reason is None:
        done = final.run.overall.requests
        if spec.requests and done >= spec.requests:
            stop_reason = "requests"
        elif rc == 0:
            stop_reason = "duration"
        else:
            stop_reason = "generator_exit"

    from srelab.load.report import write_results

    result = summarize(spec, host, out_dir, final, [p for _, p in cpu_samples], stop_reason, rc)
    write_results(result)
    return result


def _supervise(
    proc: subprocess.Popen[bytes],
    spec: LoadSpec,
    out_dir: Path,
    on_second: Callable[[SecondBucket], None] | None,
    stop_event: threading.Event | None,
) -> tuple[TimelineBuilder | None, StopReason | None, list[tuple[float, float]]]:
    """Follow the child until it exits: live buckets, CPU samples, stop and time limits."""
    tail = _Tail(out_dir / "events.tsv")
    builder: TimelineBuilder | None = None
    early: list[Event] = []
    cpu_samples: list[tuple[float, float]] = []
    stop_reason: StopReason | None = None
    signalled_at: float | None = None
    started = time.time()
    hard_deadline = started + STARTUP_GRACE_S + spec.duration_s + spec.timeout_s + 15
    try:
        ps = psutil.Process(proc.pid)
        ps.cpu_percent(None)
    except psutil.Error:
        ps = None
    next_cpu = time.time() + 1.0

    def feed(lines: list[str]) -> None:
        nonlocal builder
        for line in lines:
            item = parse_line(line)
            if isinstance(item, Marker):
                if item.name == "start" and builder is None:
                    builder = TimelineBuilder(item.t)
                    for ev in early:
                        builder.add(ev)
                    early.clear()
                elif item.name == "users" and builder is not None and item.value is not None:
                    builder.add_users(item.t, int(item.value))
            elif item is not None:
                if builder is None:
                    early.append(item)
                else:
                    builder.add(item)

    def tick() -> bool:
        """One poll of the child; False once it has exited."""
        nonlocal next_cpu, stop_reason, signalled_at
        running = proc.poll() is None
        feed(tail.read())
        now = time.time()
        if ps is not None and now >= next_cpu and running:
            with contextlib.suppress(psutil.Error):
                cpu_samples.append((now, ps.cpu_percent(None)))
                if builder is not None:
                    builder.add_cpu(now, cpu_samples[-1][1])
            next_cpu += 1.0
        if builder is not None and on_second is not None:
            for bucket in builder.emit_until(now - EMIT_LAG_S):
                on_second(bucket)
        if not running:
            return False
        if stop_event is not None and stop_event.is_set() and signalled_at is None:
            stop_reason = "stop_event"
            signalled_at = now
            proc.send_signal(signal.SIGTERM)
        if signalled_at is not None and now - signalled_at > spec.timeout_s + 10:
            proc.kill()
        if now > hard_deadline:
            stop_reason = "hard_timeout"
            proc.kill()
        time.sleep(POLL_S)
        return True

    while True:
        try:
            if not tick():
                break
        except KeyboardInterrupt:
            # First Ctrl-C: stop Locust and keep what was measured; a second one aborts.
            if signalled_at is not None:
                raise
            stop_reason = "interrupted"
            signalled_at = time.time()
            with contextlib.suppress(ProcessLookupError):
                proc.send_signal(signal.SIGTERM)
    feed(tail.read())
    if builder is not None and on_second is not None:
        # Emit the remaining seconds from the complete data (the child has exited).
        last = builder.last_second()
        while builder.next_second <= last:
            on_second(builder.bucket(builder.next_second))
            builder.next_second += 1
    # Drop CPU samples taken before the load started (Locust's import and spawn).
    if builder is not None:
        cpu_samples = [(t, p) for t, p in cpu_samples if t - 0.5 >= builder.t0]
    return builder, stop_reason, cpu_samples


def _output_tail(out_dir: Path) -> str:
    path = out_dir / "locust.out"
    try:
        lines = [ln.strip() for ln in path.read_text(errors="replace").splitlines() if ln.strip()]
    except OSError:
        return "(no output)"
    useful = [ln for ln in lines if "srelab:" in ln or "Error" in ln or "error" in ln]
    return (useful or lines or ["(no output)"])[-1][:300]


def summarize(
    spec: LoadSpec,
    host: str,
    out_dir: Path,
    tl: TimelineBuilder,
    cpu: list[float],
    stop_reason: StopReason,
    rc: int | None,
) -> LoadResult:
    run_acc = tl.run.overall
    timeline = tl.all_buckets()
    duration = max(tl.last_t - tl.t0, 1e-3) if run_acc.requests else 0.0
    failures = dict.fromkeys(FAILURE_KINDS, 0)
    failures.update(run_acc.failures)
    failed = sum(failures.values())
    cpu_sum = cpu_summary(cpu)
    valid, reasons = validity(run_acc.requests, cpu_sum)
    served: dict[str, int] = dict(sorted(tl.run.served_by.items()))
    return LoadResult(
        spec=spec,
        host=host,
        out_dir=out_dir,
        started_at=round(tl.t0, 4),
        ended_at=round(tl.last_t, 4),
        duration_s=round(duration, 3),
        requests=run_acc.requests,
        successes=run_acc.successes,
        failures=failures,
        error_rate=round(failed / run_acc.requests, 6) if run_acc.requests else 0.0,
        rps=round(run_acc.requests / duration, 2) if duration > 0 else 0.0,
        latency=latency_stats(run_acc.latencies) if run_acc.requests else LatencyStats(),
        endpoints=tl.endpoint_summaries(duration),
        served_by=served,
        generator_cpu=cpu_sum,
        valid=valid,
        invalid_reasons=reasons,
        stop_reason=stop_reason,
        locust_exit_code=rc,
        timeline=timeline,
        locust_reported=_locust_totals(out_dir),
    )


def _locust_totals(out_dir: Path) -> dict[str, int] | None:
    """Locust's own Aggregated counts (locust_stats.csv), for cross-checking the timeline."""
    path = out_dir / "locust_stats.csv"
    if not path.exists():
        return None
    import csv

    with path.open(encoding="utf-8") as fh:
        for row in csv.DictReader(fh):
            if row.get("Name") == "Aggregated":
                try:
                    return {"requests": int(row["Request Count"]), "failures": int(row["Failure Count"])}
                except (KeyError, ValueError):
                    return None
    return None


def dump_json(path: Path, data: object) -> None:
    path.write_text(json.dumps(data, indent=2, sort_keys=False) + "\n", encoding="utf-8")
