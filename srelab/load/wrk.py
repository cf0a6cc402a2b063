"""wrk runs for the bench: a second load generator (C, epoll) beside Locust, and fast seeding."""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
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
