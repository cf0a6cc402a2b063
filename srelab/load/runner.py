"""run_load: Locust in a child process; tail its per-request events, build the timeline and results."""

from __future__ import annotations

import contextlib
import csv
import math
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterable
from pathlib import Path

import psutil

from srelab.load.checks import cpu_summary, validity
from srelab.load.contract import (
    LIST_USER,
    LOCAL_NAMES,
    LOCUSTFILE,
    MARKER_START,
    MARKER_USERS,
    READER_USER,
    WRITER_USER,
    host_allowed,
    host_of,
)
from srelab.load.errors import LoadError
from srelab.load.report import write_results
from srelab.load.timeline import Event, Marker, TimelineBuilder, build_timeline, latency_stats, parse_line
from srelab.load.types import (
    FAILURE_KINDS,
    LatencyStats,
    LoadResult,
    LoadSpec,
    Scenario,
    SecondBucket,
    StopReason,
)

# Locust user classes per scenario (class names in loadtest/locustfile.py, via load_common).
SCENARIO_USERS: dict[Scenario, tuple[str, ...]] = {
    Scenario.MIXED: (READER_USER, WRITER_USER),
    Scenario.READ: (READER_USER,),
    Scenario.WRITE: (WRITER_USER,),
    Scenario.LIST: (LIST_USER,),
    Scenario.HEY_GET: (LIST_USER,),
    Scenario.HEY_POST: (WRITER_USER,),
}

POLL_S = 0.25
# A second is handed to on_second this long after it ended: the child flushes every 0.25 s.
EMIT_LAG_S = 1.5
STARTUP_GRACE_S = 30.0  # Locust import + spawn, before the first request


def target_allowed(url: str, proxy_url: str | None = None, extra: Iterable[str] = ()) -> bool:
    """Loopback (127.0.0.0/8, ::1, localhost), the proxy URL's host, or a host in `extra`: the
    locustfile's rule (load_common.host_allowed) with the proxy's host in place of `traefik`."""
    listed = {h.lower() for h in extra}
    proxy_host = host_of(proxy_url) if proxy_url is not None else None
    if proxy_host is not None:
        listed.add(proxy_host)
    return host_allowed(url, listed, names=LOCAL_NAMES)


def check_targets(urls: Iterable[str], proxy_url: str | None, extra: Iterable[str] = ()) -> None:
    extra = tuple(extra)
    for url in urls:
        if host_of(url) is None:
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


def run_load(
    spec: LoadSpec,
    out_dir: Path,
    on_second: Callable[[SecondBucket], None] | None = None,
    stop_event: threading.Event | None = None,
    *,
    allowed_hosts: Iterable[str] = (),
    html: bool = True,
) -> LoadResult:
    """Run `spec` against the lab (blocking) and write its results folder.

    out_dir (created) receives: events.tsv (one line per request), writes.jsonl (one per POST),
    timeline.csv / timeline.json (1 s buckets), summary.json, Locust's CSVs (locust_stats.csv,
    locust_failures.csv, locust_stats_history.csv) and report.html, and locust.log.

    on_second is called from the calling thread for every completed second, in order, about
    1.5 s after the second ended (and for the remaining seconds at the end). stop_event, when
    set, stops the load (Locust gets SIGTERM; in-flight requests finish within timeout_s).

    The target must be loopback (or the proxy URL from settings); `allowed_hosts` adds hosts the
    caller vouches for (the bench passes the lab's own container IPs). Anything else raises
    LoadError (a LabError) before any request is sent. Bad specs raise pydantic's
    ValidationError at construction.

    Locust runs in a child process (``python -m locust -f loadtest/locustfile.py --headless``),
    whose request listener appends to events.tsv and writes.jsonl; this process tails them. No
    gevent monkey-patching happens here, so this can run in a plain thread while another thread
    injects faults.
    """
    out_dir = Path(out_dir)
    host, child_hosts = _resolve_targets(spec, tuple(allowed_hosts))
    out_dir.mkdir(parents=True, exist_ok=True)
    for name in ("events.tsv", "writes.jsonl"):
        (out_dir / name).unlink(missing_ok=True)
    cmd = locust_command(spec, host, out_dir, child_hosts, html)
    (out_dir / "command.txt").write_text(" ".join(cmd) + "\n", encoding="utf-8")
    rc, stop_reason, cpu_samples = _run_child(cmd, spec, out_dir, on_second, stop_event)

    final = _final_timeline(out_dir, rc, stop_reason)
    for t_sampled, pct in cpu_samples:
        final.add_cpu(t_sampled, pct)
    if stop_reason is None:
        stop_reason = _ended_by(spec, final, rc)
    result = summarize(spec, host, out_dir, final, [p for _, p in cpu_samples], stop_reason, rc)
    write_results(result)
    return result


def _resolve_targets(spec: LoadSpec, allowed_hosts: tuple[str, ...]) -> tuple[str, set[str]]:
    """(base URL, the hosts the child may send to); LoadError for a target that is not allowed."""
    proxy_url: str | None = None
    host = spec.host
    if host is None:
        host = proxy_url = _default_host()
    else:
        with contextlib.suppress(Exception):  # settings may be unavailable (tests, bare checkout)
            proxy_url = _default_host()
    targets = spec.target_hosts or (host,)
    check_targets((host, *targets), proxy_url, allowed_hosts)
    return host, {h for h in (host_of(u) for u in (host, *targets)) if h}


def _run_child(
    cmd: list[str],
    spec: LoadSpec,
    out_dir: Path,
    on_second: Callable[[SecondBucket], None] | None,
    stop_event: threading.Event | None,
) -> tuple[int | None, StopReason | None, list[tuple[float, float]]]:
    """Start Locust, follow it to its end (killed if still running): (exit code, stop reason, CPU)."""
    with (out_dir / "locust.out").open("wb") as out_fh:
        try:
            proc = subprocess.Popen(
                cmd, cwd=out_dir, stdout=out_fh, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                env=_child_env(),
            )  # fmt: skip
        except OSError as exc:
            raise LoadError(f"cannot start Locust: {exc}") from None
        try:
            stop_reason, cpu_samples = _Supervisor(proc, spec, out_dir, on_second, stop_event).run()
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait(timeout=10)
    return proc.returncode, stop_reason, cpu_samples


def _final_timeline(out_dir: Path, rc: int | None, stop_reason: StopReason | None) -> TimelineBuilder:
    """The timeline rebuilt from the whole events file (exact, whatever arrived late)."""
    events = out_dir / "events.tsv"
    lines = events.read_text(encoding="utf-8", errors="replace").splitlines() if events.exists() else []
    final = build_timeline(lines)
    if final is None:
        tail = _output_tail(out_dir)
        if rc not in (0, None) or stop_reason not in ("stop_event",):
            raise LoadError(f"Locust sent no request (exit code {rc}): {tail}")
        final = TimelineBuilder(time.time())
    return final


def _ended_by(spec: LoadSpec, final: TimelineBuilder, rc: int | None) -> StopReason:
    """Why a run that this process did not stop ended."""
    if spec.requests and final.run.overall.requests >= spec.requests:
        return "requests"
    return "duration" if rc == 0 else "generator_exit"


class _Supervisor:
    """Follows the child until it exits: live buckets, CPU samples, stop and time limits."""

    def __init__(
        self,
        proc: subprocess.Popen[bytes],
        spec: LoadSpec,
        out_dir: Path,
        on_second: Callable[[SecondBucket], None] | None,
        stop_event: threading.Event | None,
    ) -> None:
        self.proc, self.spec, self.on_second, self.stop_event = proc, spec, on_second, stop_event
        self.tail = _Tail(out_dir / "events.tsv")
        self.builder: TimelineBuilder | None = None
        self.early: list[Event] = []  # events before the start marker
        self.cpu_samples: list[tuple[float, float]] = []
        self.stop_reason: StopReason | None = None
        self.signalled_at: float | None = None
        self.hard_deadline = time.time() + STARTUP_GRACE_S + spec.duration_s + spec.timeout_s + 15
        self.ps: psutil.Process | None
        try:
            self.ps = psutil.Process(proc.pid)
            self.ps.cpu_percent(None)
        except psutil.Error:
            self.ps = None
        self.next_cpu = time.time() + 1.0

    def run(self) -> tuple[StopReason | None, list[tuple[float, float]]]:
        """Poll until the child exits; (why this process stopped it, CPU samples of the load)."""
        while True:
            try:
                if not self.tick():
                    break
            except KeyboardInterrupt:
                # First Ctrl-C: stop Locust and keep what was measured; a second one aborts.
                if self.signalled_at is not None:
                    raise
                self.stop_reason = "interrupted"
                self.signalled_at = time.time()
                with contextlib.suppress(ProcessLookupError):
                    self.proc.send_signal(signal.SIGTERM)
        self.feed(self.tail.read())
        self.emit_rest()
        # Drop CPU samples taken before the load started (Locust's import and spawn).
        if self.builder is not None:
            t0 = self.builder.t0
            self.cpu_samples = [(t, p) for t, p in self.cpu_samples if t - 0.5 >= t0]
        return self.stop_reason, self.cpu_samples

    def feed(self, lines: list[str]) -> None:
        for line in lines:
            item = parse_line(line)
            if isinstance(item, Marker):
                if item.name == MARKER_START and self.builder is None:
                    self.builder = TimelineBuilder(item.t)
                    for ev in self.early:
                        self.builder.add(ev)
                    self.early.clear()
                elif item.name == MARKER_USERS and self.builder is not None and item.value is not None:
                    self.builder.add_users(item.t, int(item.value))
            elif item is not None:
                if self.builder is None:
                    self.early.append(item)
                else:
                    self.builder.add(item)

    def tick(self) -> bool:
        """One poll of the child; False once it has exited."""
        running = self.proc.poll() is None
        self.feed(self.tail.read())
        now = time.time()
        if running:
            self.sample_cpu(now)
        if self.builder is not None and self.on_second is not None:
            for bucket in self.builder.emit_until(now - EMIT_LAG_S):
                self.on_second(bucket)
        if not running:
            return False
        self.enforce_limits(now)
        time.sleep(POLL_S)
        return True

    def sample_cpu(self, now: float) -> None:
        if self.ps is None or now < self.next_cpu:
            return
        with contextlib.suppress(psutil.Error):
            self.cpu_samples.append((now, self.ps.cpu_percent(None)))
            if self.builder is not None:
                self.builder.add_cpu(now, self.cpu_samples[-1][1])
        self.next_cpu += 1.0

    def enforce_limits(self, now: float) -> None:
        """SIGTERM on stop_event, SIGKILL when that is not enough or at the hard deadline."""
        if self.stop_event is not None and self.stop_event.is_set() and self.signalled_at is None:
            self.stop_reason = "stop_event"
            self.signalled_at = now
            self.proc.send_signal(signal.SIGTERM)
        if self.signalled_at is not None and now - self.signalled_at > self.spec.timeout_s + 10:
            self.proc.kill()
        if now > self.hard_deadline:
            self.stop_reason = "hard_timeout"
            self.proc.kill()

    def emit_rest(self) -> None:
        """Emit the remaining seconds from the complete data (the child has exited)."""
        builder = self.builder
        if builder is None or self.on_second is None:
            return
        last = builder.last_second()
        while builder.next_second <= last:
            self.on_second(builder.bucket(builder.next_second))
            builder.next_second += 1


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
    with path.open(encoding="utf-8") as fh:
        for row in csv.DictReader(fh):
            if row.get("Name") == "Aggregated":
                try:
                    return {"requests": int(row["Request Count"]), "failures": int(row["Failure Count"])}
                except (KeyError, ValueError):
                    return None
    return None
