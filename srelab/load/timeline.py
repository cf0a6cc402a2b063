"""Per-request events -> 1 s buckets and run summaries (pure logic, no I/O).

events.tsv (format: loadtest/load_common.py, written by the locustfile's request listener or by
hey.py) has one line per request and `#start` / `#stop` / `#users` marker lines. Buckets are by
completion time: second k holds the requests that completed in [t0+k, t0+k+1).
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass, field

from srelab.load.contract import ENDPOINTS, MARKER_START, MARKER_USERS
from srelab.load.types import (
    FAILURE_KINDS,
    EndpointSecond,
    EndpointSummary,
    LatencyStats,
    SecondBucket,
    classify,
)


def percentile(sorted_values: list[float], q: float) -> float | None:
    """Nearest-rank percentile (q in 0..100) of an ascending list; None when empty."""
    if not sorted_values:
        return None
    if q <= 0:
        return sorted_values[0]
    rank = math.ceil(q / 100.0 * len(sorted_values))
    return sorted_values[min(max(rank, 1), len(sorted_values)) - 1]


@dataclass(slots=True)
class Event:
    t: float
    name: str
    status: int
    latency_ms: float
    replica: str
    kind: str | None


@dataclass(slots=True)
class Marker:
    name: str  # MARKER_START | MARKER_STOP | MARKER_USERS
    t: float
    value: float | None = None


def parse_line(line: str) -> Event | Marker | None:
    """One events.tsv line; None for a blank or malformed line."""
    line = line.rstrip("\n")
    if not line:
        return None
    parts = line.split("\t")
    try:
        if line.startswith("#"):
            value = float(parts[2]) if len(parts) > 2 and parts[2] else None
            return Marker(parts[0][1:], float(parts[1]), value)
        if len(parts) < 4:
            return None
        status = int(parts[2] or 0)
        exc_type = parts[5] if len(parts) > 5 else ""
        exc_msg = parts[6] if len(parts) > 6 else ""
        return Event(
            t=float(parts[0]),
            name=parts[1],
            status=status,
            latency_ms=float(parts[3]),
            replica=parts[4] if len(parts) > 4 else "",
            kind=classify(status, exc_type, exc_msg),
        )
    except (ValueError, IndexError):
        return None


def latency_stats(values: list[float]) -> LatencyStats:
    """Nearest-rank p50/p95/p99, max and mean of latencies in ms (rounded to 0.01 ms)."""
    if not values:
        return LatencyStats()
    s = sorted(values)

    def r(v: float | None) -> float | None:
        return None if v is None else round(v, 2)

    return LatencyStats(
        count=len(s),
        p50_ms=r(percentile(s, 50)),
        p95_ms=r(percentile(s, 95)),
        p99_ms=r(percentile(s, 99)),
        max_ms=r(s[-1]),
        mean_ms=r(sum(s) / len(s)),
    )


@dataclass
class _Acc:
    """Raw data of one bucket (or of the whole run) for one endpoint or overall."""

    requests: int = 0
    successes: int = 0
    failures: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    latencies: list[float] = field(default_factory=list)

    def add(self, ev: Event) -> None:
        self.requests += 1
        self.latencies.append(ev.latency_ms)
        if ev.kind is None:
            self.successes += 1
        else:
            self.failures[ev.kind] += 1


@dataclass
class _SecondAcc:
    overall: _Acc = field(default_factory=_Acc)
    endpoints: dict[str, _Acc] = field(default_factory=lambda: defaultdict(_Acc))
    served_by: dict[str, int] = field(default_factory=lambda: defaultdict(int))

    def add(self, ev: Event) -> None:
        self.overall.add(ev)
        self.endpoints[ev.name].add(ev)
        if ev.replica:
            self.served_by[ev.replica] += 1


class TimelineBuilder:
    """Accumulates events into 1 s buckets; emits finished seconds in order, then all of them."""

    def __init__(self, t0: float) -> None:
        self.t0 = t0
        self.seconds: dict[int, _SecondAcc] = defaultdict(_SecondAcc)
        self.cpu: dict[int, float] = {}
        self.users: dict[int, int] = {}
        self.next_second = 0  # first second not emitted yet
        self.last_t = t0
        self.run = _SecondAcc()  # whole-run accumulator (overall and per endpoint)

    def second_of(self, t: float) -> int:
        return max(0, math.floor(t - self.t0))

    def add(self, ev: Event) -> None:
        self.seconds[self.second_of(ev.t)].add(ev)
        self.run.add(ev)
        self.last_t = max(self.last_t, ev.t)

    def add_cpu(self, t_sampled: float, percent: float) -> None:
        """A CPU sample covering the second before t_sampled."""
        self.cpu[self.second_of(t_sampled - 0.5)] = round(percent, 1)

    def add_users(self, t: float, users: int) -> None:
        self.users[self.second_of(t)] = users

    def bucket(self, second: int) -> SecondBucket:
        acc = self.seconds.get(second) or _SecondAcc()
        failures = dict.fromkeys(FAILURE_KINDS, 0)
        failures.update(acc.overall.failures)
        endpoints = {
            name: EndpointSecond(
                requests=a.requests,
                successes=a.successes,
                failures=dict(a.failures),
                latency=latency_stats(a.latencies),
            )
            for name, a in sorted(acc.endpoints.items())
        }
        return SecondBucket(
            second=second,
            t=round(self.t0 + second, 4),
            requests=acc.overall.requests,
            successes=acc.overall.successes,
            failures=failures,
            latency=latency_stats(acc.overall.latencies),
            endpoints=endpoints,
            served_by=dict(sorted(acc.served_by.items())),
            generator_cpu=self.cpu.get(second),
            users=self._users_at(second),
        )

    def _users_at(self, second: int) -> int | None:
        known = [s for s in self.users if s <= second]
        return self.users[max(known)] if known else None

    def emit_until(self, now: float) -> list[SecondBucket]:
        """Buckets of every second that ended before `now`, not emitted before."""
        out: list[SecondBucket] = []
        while self.t0 + self.next_second + 1 <= now:
            out.append(self.bucket(self.next_second))
            self.next_second += 1
        return out

    def last_second(self) -> int:
        """Index of the last second with an event (-1 when there is none)."""
        return max(self.seconds) if self.seconds else -1

    def all_buckets(self, end: float | None = None) -> list[SecondBucket]:
        """The complete timeline: every second from 0 to the last event (or to `end`)."""
        last = self.last_second()
        if end is not None:
            last = max(last, math.ceil(end - self.t0) - 1)
        return [self.bucket(s) for s in range(last + 1)]

    def endpoint_summaries(self, duration_s: float) -> dict[str, EndpointSummary]:
        names = [n for n in ENDPOINTS if n in self.run.endpoints]
        names += sorted(n for n in self.run.endpoints if n not in ENDPOINTS)
        out: dict[str, EndpointSummary] = {}
        for name in names:
            a = self.run.endpoints[name]
            out[name] = EndpointSummary(
                requests=a.requests,
                successes=a.successes,
                failures=dict(a.failures),
                rps=round(a.requests / duration_s, 2) if duration_s > 0 else 0.0,
                latency=latency_stats(a.latencies),
            )
        return out


def build_timeline(lines: list[str]) -> TimelineBuilder | None:
    """A builder fed with every line of an events file; None when the run never started."""
    t0: float | None = None
    pending: list[Event] = []
    users: list[Marker] = []
    for line in lines:
        item = parse_line(line)
        if isinstance(item, Marker):
            if item.name == MARKER_START and t0 is None:
                t0 = item.t
            elif item.name == MARKER_USERS and item.value is not None:
                users.append(item)
        elif item is not None:
            pending.append(item)
    if t0 is None:
        if not pending:
            return None
        t0 = min(e.t for e in pending)
    builder = TimelineBuilder(t0)
    for ev in pending:
        builder.add(ev)
    for m in users:
        builder.add_users(m.t, int(m.value or 0))
    return builder
