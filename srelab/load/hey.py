"""Real `hey` runs (the original challenge's load tool, Debian package `hey` 0.1.4).

hey reports per request only when it ends, with `-o csv`: a header and one line per request that
got an HTTP answer (checked against the real binary, tests/load/data/hey-post-small.csv):

    response-time,DNS+dialup,DNS,Request-write,Response-delay,Response-read,status-code,offset

Times are seconds with 4 decimals; `offset` is when the request *started*, counted from hey's
process start. A request that got no answer (connection refused or reset, timeout) has no line:
no time and no reason. Hence:

- a run needs a request count (-n): the requests without an answer are then the requests hey sent
  (-n rounded down to a multiple of -c: each worker sends n / c) minus the CSV lines. hey's -z is
  not used: it ignores -n, and how many requests were sent would be unknown. The time bound is
  ours: SIGINT at duration_s (hey stops its workers and still prints its CSV), SIGKILL later;
- requests without an answer are failures of kind `other` (refused, reset and timed out cannot be
  told apart), counted in the totals and the error rate but in no one-second bucket
  (LoadResult.unplaced_failures);
- hey prints no response headers: served_by stays empty.

The CSV becomes events.tsv in the locustfile's format (completion time = start + offset +
response-time), and the timeline, summary, files and thresholds come from the same builders as a
Locust run's (srelab.load.timeline, runner.summarize, report.write_results).
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import shlex
import shutil
import signal
import subprocess
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

import psutil
from pydantic import BaseModel, ConfigDict, Field

from srelab.load.checks import CPU_THRESHOLD, cpu_summary, validity
from srelab.load.contract import EP_LIST, EP_POST, MARKER_START, MARKER_USERS, event_line, marker_line
from srelab.load.errors import LoadError
from srelab.load.report import summary_dict, write_results
from srelab.load.runner import check_targets, summarize
from srelab.load.timeline import build_timeline
from srelab.load.types import (
    EndpointSummary,
    FailureKind,
    HeyFigures,
    LoadResult,
    LoadSpec,
    Scenario,
    SecondBucket,
    Shape,
    StopReason,
)

HEY_CSV_COLUMNS = (
    "response-time",
    "DNS+dialup",
    "DNS",
    "Request-write",
    "Response-delay",
    "Response-read",
    "status-code",
    "offset",
)
# scenario -> (method, path, endpoint name in the timeline)
HEY_SCENARIOS: dict[Scenario, tuple[str, str, str]] = {
    Scenario.HEY_GET: ("GET", "/items", EP_LIST),
    Scenario.HEY_POST: ("POST", "/items", EP_POST),
}
UNANSWERED_KIND = FailureKind.OTHER.value  # hey gives no reason for a request without an answer
DEFAULT_ITEM_NAME = "Sample Item"  # the original challenge's body
STOP_GRACE_S = 10.0  # after SIGINT hey lets in-flight requests finish (up to -t), then prints
POLL_S = 0.2

NOT_REPORTED_NOTE = "hey prints no response headers: served_by is empty (which replica answered is unknown)"
END_ONLY_NOTE = "hey reports only when it ends: the per-second timeline was built from its CSV afterwards"


class HeyOptions(BaseModel):
    """hey settings that LoadSpec does not carry."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    rate_per_worker: float | None = Field(
        None, gt=0, le=10_000, description="hey -q: requests per second per worker; None: no limit"
    )
    item_name: str = Field(DEFAULT_ITEM_NAME, min_length=1, max_length=200, description="POST body name")


@dataclass(frozen=True, slots=True)
class HeyLine:
    """One line of hey's CSV (seconds)."""

    response_s: float
    dns_dialup_s: float
    dns_s: float
    request_write_s: float
    response_delay_s: float
    response_read_s: float
    status: int
    offset_s: float

    @property
    def end_s(self) -> float:
        """Completion, seconds after hey's start."""
        return self.offset_s + self.response_s


def parse_hey_csv(text: str) -> list[HeyLine]:
    """hey's `-o csv` output -> lines; an unexpected header or line raises LoadError."""
    lines = [line for line in text.splitlines() if line.strip()]
    if not lines:
        raise LoadError("hey printed no CSV (not even its header line)")
    header = tuple(column.strip() for column in lines[0].split(","))
    if header != HEY_CSV_COLUMNS:
        raise LoadError(
            f"unexpected hey CSV header {lines[0][:160]!r} (expected {','.join(HEY_CSV_COLUMNS)})"
        )
    rows: list[HeyLine] = []
    for number, line in enumerate(lines[1:], start=2):
        parts = line.split(",")
        try:
            if len(parts) != len(HEY_CSV_COLUMNS):
                raise ValueError(line)
            times = [float(p) for p in parts[:6]]
            rows.append(HeyLine(*times, status=int(parts[6]), offset_s=float(parts[7])))
        except ValueError:
            raise LoadError(f"hey CSV line {number}: cannot read {line[:160]!r}") from None
    return rows


def hey_binary() -> str:
    path = shutil.which("hey")
    if path is None:
        raise LoadError("hey not found: apt-get install -y hey")
    return path


def planned_requests(spec: LoadSpec) -> int:
    """What hey sends for -n/-c: each of its c workers sends n // c requests."""
    assert spec.requests is not None
    return (spec.requests // spec.users) * spec.users


def check_hey_spec(spec: LoadSpec, name_of: Callable[[str], str] = str) -> None:
    """LoadError naming the field (through name_of: a CLI option, a file field) for what hey can't run."""
    if spec.scenario not in HEY_SCENARIOS:
        raise LoadError(
            f"{name_of('scenario')}: hey runs hey-get or hey-post (GET or POST /items), "
            f"not {spec.scenario.value!r}"
        )
    if spec.requests is None:
        raise LoadError(
            f"{name_of('requests')}: hey needs a request count (-n): it does not report requests "
            "that got no answer, only the total tells how many there were"
        )
    if spec.requests < spec.users:
        raise LoadError(
            f"{name_of('requests')}: hey needs at least one request per worker "
            f"({spec.requests} < {spec.users} workers)"
        )
    locust_only = {
        "target_hosts": bool(spec.target_hosts),
        "shape": spec.shape != Shape.STEADY,
        "wait_min_s": spec.wait_min_s > 0,
        "wait_max_s": spec.wait_max_s > 0,
        "write_retries": spec.write_retries > 0,
    }
    for field, used in locust_only.items():
        if used:
            raise LoadError(
                f"{name_of(field)}: a Locust setting: hey runs its workers back to back "
                "(its only pacing is a rate per worker, hey -q)"
            )


def hey_command(spec: LoadSpec, host: str, options: HeyOptions, binary: str = "hey") -> list[str]:
    """The hey command line for `spec` (the challenge's command, plus -t, -o csv and optional -q)."""
    method, path, _ = HEY_SCENARIOS[spec.scenario]
    cmd = [binary, "-n", str(spec.requests), "-c", str(spec.users)]
    if options.rate_per_worker is not None:
        cmd += ["-q", f"{options.rate_per_worker:g}"]
    if method == "POST":
        body = json.dumps({"name": options.item_name})
        cmd += ["-m", "POST", "-H", "Content-Type: application/json", "-d", body]
    cmd += ["-t", str(max(1, math.ceil(spec.timeout_s))), "-o", "csv", host.rstrip("/") + path]
    return cmd


def events_lines(rows: Iterable[HeyLine], t0: float, endpoint: str, workers: int) -> list[str]:
    """hey's lines as events.tsv (completion order), with the start and users markers."""
    out = [marker_line(MARKER_START, t0), marker_line(MARKER_USERS, t0, workers)]
    for row in sorted(rows, key=lambda r: r.end_s):
        out.append(event_line(t0 + row.end_s, endpoint, row.status, row.response_s * 1000.0))
    return out


def _target(spec: LoadSpec) -> tuple[str, str | None]:
    """(base URL, the proxy URL from settings when known)."""
    from srelab.stack.settings import get_settings

    if spec.host is None:
        proxy = get_settings().proxy_url
        return proxy, proxy
    proxy_url = None
    with contextlib.suppress(Exception):  # settings may be unavailable (tests, bare checkout)
        proxy_url = get_settings().proxy_url
    return spec.host, proxy_url


def run_hey(
    spec: LoadSpec,
    out_dir: Path,
    on_second: Callable[[SecondBucket], None] | None = None,
    stop_event: threading.Event | None = None,
    *,
    options: HeyOptions | None = None,
    on_start: Callable[[float], None] | None = None,
    allowed_hosts: Iterable[str] = (),
) -> LoadResult:
    """Run hey for `spec` (blocking) and write the results folder, like run_load.

    out_dir receives hey.csv (hey's output), hey.err, command.txt, events.tsv, timeline.csv/.json,
    timeline.png and summary.json. on_start(t0) is called once hey is started: t0 is the epoch the
    timeline's buckets count from, exactly (taken just before hey's process starts; hey's offsets
    count from its process start, a few ms later). on_second gets every bucket in order, but only
    after hey has ended: hey has no per-second data before. stop_event sends SIGINT (hey stops,
    prints what it has). The target check is run_load's (loopback or the proxy URL).
    """
    options = options or HeyOptions()
    check_hey_spec(spec)
    host, proxy_url = _target(spec)
    check_targets((host,), proxy_url, allowed_hosts)
    binary = hey_binary()

    out_dir.mkdir(parents=True, exist_ok=True)
    for name in ("events.tsv", "writes.jsonl", "hey.csv", "hey.err"):
        (out_dir / name).unlink(missing_ok=True)
    cmd = hey_command(spec, host, options, binary)
    (out_dir / "command.txt").write_text(shlex.join(cmd) + "\n", encoding="utf-8")
    run = _run_process(cmd, spec, out_dir, stop_event, on_start)
    result = _result(spec, host, out_dir, options, run)
    if on_second is not None:
        for bucket in result.timeline:
            on_second(bucket)
    return result


@dataclass(frozen=True, slots=True)
class _HeyRun:
    """What one hey process left: its command, start epoch, exit, CSV lines and CPU samples."""

    cmd: list[str]
    t0: float
    rc: int | None
    stop_reason: StopReason | None
    rows: list[HeyLine]
    cpu_samples: list[tuple[float, float]]


def _run_process(
    cmd: list[str],
    spec: LoadSpec,
    out_dir: Path,
    stop_event: threading.Event | None,
    on_start: Callable[[float], None] | None,
) -> _HeyRun:
    """Start hey with its CSV going to hey.csv, follow it to its end, read the CSV."""
    with (out_dir / "hey.csv").open("wb") as csv_fh, (out_dir / "hey.err").open("wb") as err_fh:
        # Rounded like the timeline's bucket starts (0.1 ms), so on_start's t0 is the buckets' own.
        t0 = round(time.time(), 4)
        try:
            proc = subprocess.Popen(cmd, cwd=out_dir, stdout=csv_fh, stderr=err_fh, stdin=subprocess.DEVNULL)
        except OSError as exc:
            raise LoadError(f"cannot start hey: {exc}") from None
        if on_start is not None:
            on_start(t0)
        try:
            stop_reason, cpu_samples = _supervise(proc, spec, stop_event)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait(timeout=10)
    rc = proc.returncode
    text = (out_dir / "hey.csv").read_text(encoding="utf-8", errors="replace")
    if rc != 0 and not text.strip():
        why = "killed after its time bound" if stop_reason == "hard_timeout" else f"exit code {rc}"
        raise LoadError(f"hey printed no results ({why}): {_stderr_tail(out_dir)}")
    return _HeyRun(cmd, t0, rc, stop_reason, parse_hey_csv(text), cpu_samples)


def _result(spec: LoadSpec, host: str, out_dir: Path, options: HeyOptions, run: _HeyRun) -> LoadResult:
    """hey's CSV as events.tsv, the timeline and the summary; the results folder written."""
    _, _, endpoint = HEY_SCENARIOS[spec.scenario]
    lines = events_lines(run.rows, run.t0, endpoint, spec.users)
    (out_dir / "events.tsv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    timeline = build_timeline(lines)
    assert timeline is not None  # the start marker is always there
    for t_sampled, percent in run.cpu_samples:
        timeline.add_cpu(t_sampled, percent)
    planned = planned_requests(spec)
    stop_reason = run.stop_reason
    if stop_reason is None:
        stop_reason = "requests" if run.rc == 0 else "generator_exit"
    stopped_early = stop_reason not in ("requests", "generator_exit") and len(run.rows) < planned
    cpu = [p for _, p in run.cpu_samples]
    base = summarize(spec, host, out_dir, timeline, cpu, stop_reason, run.rc)
    result = with_hey_figures(
        base,
        run.rows,
        endpoint=endpoint,
        planned=planned,
        stopped_early=stopped_early,
        cpu=cpu,
        figures=HeyFigures(
            command=run.cmd,
            exit_code=run.rc,
            planned=planned,
            answered=len(run.rows),
            acknowledged=0,
            rate_per_worker=options.rate_per_worker,
            item_name=options.item_name if endpoint == EP_POST else None,
        ),
    )
    write_results(result)
    result.files.update({"hey_csv": "hey.csv", "hey_err": "hey.err", "command": "command.txt"})
    (out_dir / "summary.json").write_text(json.dumps(summary_dict(result), indent=2) + "\n", encoding="utf-8")
    return result


def with_hey_figures(
    result: LoadResult,
    rows: list[HeyLine],
    *,
    endpoint: str,
    planned: int,
    stopped_early: bool,
    cpu: list[float],
    figures: HeyFigures,
) -> LoadResult:
    """The summary of the answered requests (from the timeline) plus what only hey's totals tell:
    requests without an answer (failures in no bucket), status codes, 2xx, validity, notes."""
    answered = len(rows)
    unanswered = 0 if answered >= planned else None if stopped_early else planned - answered
    missing = unanswered or 0
    failures = dict(result.failures)
    failures[UNANSWERED_KIND] = failures.get(UNANSWERED_KIND, 0) + missing
    requests = result.requests + missing
    failed = sum(failures.values())
    duration = result.duration_s
    endpoints = {name: ep.model_copy(deep=True) for name, ep in result.endpoints.items()}
    if missing:
        ep = endpoints.setdefault(endpoint, EndpointSummary())
        ep.requests += missing
        ep.failures[UNANSWERED_KIND] = ep.failures.get(UNANSWERED_KIND, 0) + missing
        ep.rps = round(ep.requests / duration, 2) if duration > 0 else 0.0
    # hey's Go runtime uses every core (GOMAXPROCS = cores): saturated means all of them busy.
    cores = os.cpu_count() or 1
    generator_cpu = cpu_summary(cpu, threshold=CPU_THRESHOLD * cores)
    valid, reasons = validity(result.requests, generator_cpu)
    if unanswered is None:
        reasons.append(
            f"hey was stopped ({result.stop_reason}) before it had sent its {planned} requests: it does "
            f"not say how many it sent, so requests without an answer cannot be counted "
            f"({answered} answered)"
        )
        valid = False
    notes = [NOT_REPORTED_NOTE, END_ONLY_NOTE]
    if missing:
        notes.append(
            f"{missing} request(s) got no answer (connection error or timeout): hey leaves them out of "
            f"its CSV with no time and no reason, so they count as `{UNANSWERED_KIND}` failures in the "
            "totals and in no second of the timeline"
        )
    if figures.planned != result.spec.requests:
        notes.append(
            f"hey sends {planned} requests, not {result.spec.requests}: each of its "
            f"{result.spec.users} workers sends n / c"
        )
    codes = Counter(str(r.status) for r in rows)
    figures = figures.model_copy(
        update={
            "answered": answered,
            "acknowledged": sum(1 for r in rows if 200 <= r.status < 300),
            "status_codes": dict(sorted(codes.items())),
            "unanswered": unanswered,
        }
    )
    return result.model_copy(
        update={
            "requests": requests,
            "failures": failures,
            "error_rate": round(failed / requests, 6) if requests else 0.0,
            "rps": round(requests / duration, 2) if duration > 0 else 0.0,
            "endpoints": endpoints,
            "generator_cpu": generator_cpu,
            "valid": valid,
            "invalid_reasons": reasons,
            "locust_exit_code": None,
            "locust_reported": None,
            "tool": "hey",
            "unplaced_failures": missing,
            "hey": figures,
            "notes": notes,
        }
    )


def _supervise(
    proc: subprocess.Popen[bytes], spec: LoadSpec, stop_event: threading.Event | None
) -> tuple[StopReason | None, list[tuple[float, float]]]:
    """Wait for hey: CPU samples once a second; SIGINT at the time bound or on stop_event, SIGKILL
    when it does not end after that. Returns (why it was stopped, None when it ran out of -n)."""
    started = time.time()
    bound = started + spec.duration_s
    grace = spec.timeout_s + STOP_GRACE_S
    stop_reason: StopReason | None = None
    signalled_at: float | None = None
    samples: list[tuple[float, float]] = []
    try:
        ps: psutil.Process | None = psutil.Process(proc.pid)
        ps.cpu_percent(None)
    except psutil.Error:
        ps = None
    next_cpu = started + 1.0

    def stop(reason: StopReason) -> None:
        nonlocal stop_reason, signalled_at
        stop_reason, signalled_at = reason, time.time()
        with contextlib.suppress(ProcessLookupError):
            proc.send_signal(signal.SIGINT)

    while proc.poll() is None:
        try:
            now = time.time()
            if ps is not None and now >= next_cpu:
                with contextlib.suppress(psutil.Error):
                    samples.append((now, ps.cpu_percent(None)))
                next_cpu += 1.0
            if signalled_at is None:
                if stop_event is not None and stop_event.is_set():
                    stop("stop_event")
                elif now >= bound:
                    stop("duration")
            elif now - signalled_at > grace:
                stop_reason = "hard_timeout"
                proc.kill()
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=POLL_S)
        except KeyboardInterrupt:
            # First Ctrl-C: hey stops and prints what it measured; a second one aborts.
            if stop_reason == "interrupted":
                raise
            stop("interrupted")
    return stop_reason, samples


def _stderr_tail(out_dir: Path) -> str:
    try:
        lines = [ln.strip() for ln in (out_dir / "hey.err").read_text(errors="replace").splitlines()]
    except OSError:
        return "(no output)"
    lines = [ln for ln in lines if ln]
    return (lines or ["(no output)"])[0][:300]
