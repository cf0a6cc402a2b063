"""wrk runs for the bench: a second load generator (C, epoll) beside Locust, and fast seeding."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import threading
import time
from collections.abc import Callable
from pathlib import Path

from pydantic import BaseModel

from srelab.load.errors import LoadError

WRK_DIR = Path(__file__).resolve().parents[2] / "loadtest" / "wrk"
REPORT_LUA = WRK_DIR / "report.lua"
SEED_LUA = WRK_DIR / "seed.lua"


class WrkResult(BaseModel):
    requests: int
    duration_s: float
    rps: float
    errors: dict[str, int]  # connect, read, write, status (non-2xx/3xx), timeout
    p50_ms: float
    p95_ms: float
    p99_ms: float
    max_ms: float
    mean_ms: float

    @property
    def failed(self) -> int:
        return sum(self.errors.values())


def parse_wrk_output(text: str) -> WrkResult:
    """The WRKJSON line our Lua scripts print in done()."""
    for line in reversed(text.splitlines()):
        if line.startswith("WRKJSON "):
            data = json.loads(line.removeprefix("WRKJSON "))
            duration = data["duration_us"] / 1e6
            return WrkResult(
                requests=data["requests"],
                duration_s=round(duration, 3),
                rps=round(data["requests"] / duration, 1) if duration > 0 else 0.0,
                errors={k: int(data[k]) for k in ("connect", "read", "write", "status", "timeout")},
                p50_ms=data["p50_us"] / 1000,
                p95_ms=data["p95_us"] / 1000,
                p99_ms=data["p99_us"] / 1000,
                max_ms=data["max_us"] / 1000,
                mean_ms=round(data["mean_us"] / 1000, 3),
            )
    raise LoadError(f"wrk printed no report: {text.strip()[-300:]!r}")


def wrk_binary() -> str:
    path = shutil.which("wrk")
    if path is None:
        raise LoadError("wrk not found: apt-get install -y wrk")
    return path


def run_wrk(
    url: str, *, threads: int, connections: int, duration_s: int, log: Path | None = None
) -> WrkResult:
    """wrk GET `url` for duration_s (bounded: killed 15 s after that)."""
    cmd = [wrk_binary(), f"-t{threads}", f"-c{connections}", f"-d{duration_s}s", "--timeout", "5s",
           "-s", str(REPORT_LUA), url]  # fmt: skip
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=duration_s + 15, check=False)
    except subprocess.TimeoutExpired:
        raise LoadError(f"wrk did not finish within {duration_s + 15} s") from None
    if log is not None:
        log.write_text(" ".join(cmd) + "\n" + proc.stdout + proc.stderr, encoding="utf-8")
    return parse_wrk_output(proc.stdout)


class WrkRun(BaseModel):
    """One or more wrk processes run side by side (one per target URL), summed."""

    result: WrkResult
    cpu_s: float  # the wrk processes' own CPU time (user + sys), from the kernel's rusage
    processes: int


def _combine(results: list[WrkResult]) -> WrkResult:
    """Requests and errors add up; a latency figure is the highest of the processes' (wrk reports
    percentiles, which cannot be merged exactly), so a combined row never looks better than it was."""
    if len(results) == 1:
        return results[0]
    duration = max(r.duration_s for r in results)
    requests = sum(r.requests for r in results)
    errors = {k: sum(r.errors.get(k, 0) for r in results) for k in results[0].errors}
    return WrkResult(
        requests=requests,
        duration_s=duration,
        rps=round(sum(r.rps for r in results), 1),
        errors=errors,
        p50_ms=max(r.p50_ms for r in results),
        p95_ms=max(r.p95_ms for r in results),
        p99_ms=max(r.p99_ms for r in results),
        max_ms=max(r.max_ms for r in results),
        mean_ms=round(sum(r.mean_ms * r.requests for r in results) / max(requests, 1), 3),
    )


def run_wrk_many(
    urls: list[str],
    *,
    connections: int,
    duration_s: int,
    post_prefix: str | None = None,
    log: Path | None = None,
) -> WrkRun:
    """wrk against every URL at once for duration_s, `connections` split over them (one thread
    each); GET, or POST with unique names `<post_prefix>-<thread>-<n>` (seed.lua without a limit).
    Each process's CPU comes from its rusage (os.wait4), so the generator's cost per request is
    measured, not guessed. Bounded: killed 15 s after duration_s."""
    per_url = max(1, connections // len(urls))
    script = ["-s", str(SEED_LUA)] if post_prefix else ["-s", str(REPORT_LUA)]
    procs: list[tuple[list[str], subprocess.Popen[str]]] = []
    for url in urls:
        cmd = [wrk_binary(), "-t1", f"-c{per_url}", f"-d{duration_s}s", "--timeout", "5s", *script, url]
        if post_prefix:
            cmd += ["--", "0", post_prefix]
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        procs.append((cmd, proc))
    # A bound on the whole run: a hung wrk is killed (its partial output is then unparseable).
    killer = threading.Timer(duration_s + 15, lambda: [p.kill() for _, p in procs if p.poll() is None])
    killer.start()
    outputs: list[str] = []
    cpu_s = 0.0
    try:
        for cmd, proc in procs:
            assert proc.stdout is not None
            out = proc.stdout.read()  # wrk prints a few lines, at the end: no pipe can fill up
            # Reap it ourselves to get its rusage (Popen.wait would discard it).
            _, status, usage = os.wait4(proc.pid, 0)
            proc.returncode = os.waitstatus_to_exitcode(status)
            cpu_s += usage.ru_utime + usage.ru_stime
            outputs.append(" ".join(cmd) + "\n" + out)
    finally:
        killer.cancel()
    if log is not None:
        log.write_text("\n".join(outputs), encoding="utf-8")
    return WrkRun(result=_combine([parse_wrk_output(o) for o in outputs]), cpu_s=round(cpu_s, 3),
                  processes=len(procs))  # fmt: skip


def seed_with_wrk(
    urls: list[str],
    *,
    needed: int,
    count: Callable[[], int],
    target: int,
    max_s: int,
    connections: int = 8,
    prefix: str = "bench",
    log: Path | None = None,
) -> tuple[float, list[WrkResult]]:
    """POST items through `urls` (one wrk per URL) until count() >= target or max_s passed.

    Each wrk thread stops after its share of `needed`; count() (the store's item count) decides
    when the seeding is complete; wrk is then interrupted (SIGINT: it still prints its report).
    Returns (seconds taken, the wrk reports).
    """
    per_process = -(-needed // len(urls)) + connections  # a little over: errors are not items
    procs = []
    started = time.monotonic()
    for url in urls:
        cmd = [wrk_binary(), "-t1", f"-c{connections}", f"-d{max_s}s", "--timeout", "10s",
               "-s", str(SEED_LUA), url, "--", str(per_process), prefix]  # fmt: skip
        procs.append(subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True))
    try:
        deadline = started + max_s
        while time.monotonic() < deadline:
            time.sleep(2.0)
            if count() >= target or all(p.poll() is not None for p in procs):
                break
    finally:
        for p in procs:
            if p.poll() is None:
                p.send_signal(signal.SIGINT)
        outputs = []
        for p in procs:
            try:
                out, _ = p.communicate(timeout=15)
            except subprocess.TimeoutExpired:
                p.kill()
                out, _ = p.communicate(timeout=5)
            outputs.append(out or "")
    elapsed = time.monotonic() - started
    if log is not None:
        log.write_text("\n".join(outputs), encoding="utf-8")
    results = []
    for out in outputs:
        try:
            results.append(parse_wrk_output(out))
        except LoadError:
            continue
    return elapsed, results
