"""Per-second timeline of a chaos run, phase aggregates and recovery figures.

Input: the load harness's one-second buckets (srelab.load.SecondBucket: requests that *completed*
in [t, t + 1)) and the run's fault events. Everything here is pure and works on plain models, so
recorded journals can be re-analysed.

A second "holds" the steady-state hypothesis when it completed at least one request, its error
rate is within max_error_rate, its p95 within p95_ms and every max_failures kind within its limit
(min_rps is judged on whole phases only: single seconds are too noisy). Figures have a resolution
of one second (a bucket's start).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from pydantic import BaseModel, Field

from srelab.chaos.model import Hypothesis
from srelab.chaos.schedule import Phase, Windows
from srelab.load import FAILURE_KINDS, SecondBucket


class Row(BaseModel):
    """One second of the run as the journal records it."""

    second: int
    t: float  # epoch of the bucket's start
    phase: Phase
    requests: int
    successes: int
    failed: int
    failures: dict[str, int] = Field(default_factory=dict)  # non-zero kinds only
    p50_ms: float | None = None
    p95_ms: float | None = None
    p99_ms: float | None = None
    served_by: dict[str, int] = Field(default_factory=dict)
    holds: bool = True  # steady-state hypothesis holds in this second
    marks: list[str] = Field(default_factory=list)  # fault/restore events in this second

    @property
    def error_rate(self) -> float:
        return self.failed / self.requests if self.requests else 0.0


class Mark(BaseModel):
    """A fault or restore moment put on the timeline."""

    t: float
    label: str


class PhaseStats(BaseModel):
    phase: str
    seconds: int = 0
    start: float | None = None
    end: float | None = None
    requests: int = 0
    successes: int = 0
    failed: int = 0
    failures: dict[str, int] = Field(default_factory=dict)
    error_rate: float = 0.0
    rps: float = 0.0
    # Upper bound of the phase's p95: the highest per-second p95. Every second has >= 95 % of its
    # requests at or under its own p95, so >= 95 % of the phase is at or under the highest one.
    p95_ms: float | None = None
    p50_ms_median: float | None = None  # median of the per-second medians (for reading, not judged)


class RecoveryFigures(BaseModel):
    """Figures for one fault window [inject, restore done + settle)."""

    fault: int
    window_start: float
    window_end: float
    requests: int = 0
    errors: int = 0
    error_rate: float = 0.0
    failures: dict[str, int] = Field(default_factory=dict)
    time_to_first_error_s: float | None = None  # None: no error in the window
    violated: bool = False  # some second in the window broke the steady-state hypothesis
    bad_seconds: int = 0
    # inject -> start of the first `stable_s` good seconds after the window's last bad second
    # (0 when no second of the window broke the hypothesis; None when it never held again).
    time_to_recover_s: float | None = None
    recovered: bool = True


def second_holds(bucket: SecondBucket, hyp: Hypothesis) -> bool:
    if bucket.requests == 0:
        return False
    failed = bucket.failed
    if hyp.max_error_rate is not None and failed / bucket.requests > hyp.max_error_rate:
        return False
    p95 = bucket.latency.p95_ms
    if hyp.p95_ms is not None and p95 is not None and p95 > hyp.p95_ms:
        return False
    return all(bucket.failures.get(kind, 0) <= limit for kind, limit in hyp.max_failures.items())


def build_rows(
    buckets: Sequence[SecondBucket], win: Windows, steady: Hypothesis, marks: Iterable[Mark] = ()
) -> list[Row]:
    rows = []
    marks = sorted(marks, key=lambda m: m.t)
    for bucket in sorted(buckets, key=lambda b: b.second):
        rows.append(
            Row(
                second=bucket.second,
                t=bucket.t,
                phase=win.phase_of(bucket.t),
                requests=bucket.requests,
                successes=bucket.successes,
                failed=bucket.failed,
                failures={k: v for k, v in bucket.failures.items() if v},
                p50_ms=bucket.latency.p50_ms,
                p95_ms=bucket.latency.p95_ms,
                p99_ms=bucket.latency.p99_ms,
                served_by=dict(bucket.served_by),
                holds=second_holds(bucket, steady),
                marks=[m.label for m in marks if bucket.t <= m.t < bucket.t + 1.0],
            )
        )
    if rows:  # marks before the first or after the last bucket land on the nearest row
        rows[0].marks[:0] = [m.label for m in marks if m.t < rows[0].t]
        rows[-1].marks.extend(m.label for m in marks if m.t >= rows[-1].t + 1.0)
    return rows


def aggregate(rows: Sequence[Row], phase: str) -> PhaseStats:
    chosen = [r for r in rows if r.phase == phase]
    stats = PhaseStats(phase=phase, seconds=len(chosen))
    if not chosen:
        return stats
    failures = dict.fromkeys(FAILURE_KINDS, 0)
    for row in chosen:
        for kind, count in row.failures.items():
            failures[kind] = failures.get(kind, 0) + count
    stats.start = chosen[0].t
    stats.end = chosen[-1].t + 1.0
    stats.requests = sum(r.requests for r in chosen)
    stats.successes = sum(r.successes for r in chosen)
    stats.failed = sum(r.failed for r in chosen)
    stats.failures = {k: v for k, v in failures.items() if v}
    stats.error_rate = stats.failed / stats.requests if stats.requests else 0.0
    stats.rps = stats.requests / len(chosen)
    p95s = [r.p95_ms for r in chosen if r.p95_ms is not None]
    stats.p95_ms = max(p95s) if p95s else None
    p50s = sorted(r.p50_ms for r in chosen if r.p50_ms is not None)
    stats.p50_ms_median = p50s[len(p50s) // 2] if p50s else None
    return stats


def recovery(
    rows: Sequence[Row], fault: int, inject_t: float, window_end: float, stable_s: int
) -> RecoveryFigures:
    """Recovery figures of one fault window (rows must carry `holds` for the steady hypothesis)."""
    ordered = sorted(rows, key=lambda r: r.t)
    in_window = [r for r in ordered if r.t + 1.0 > inject_t and r.t < window_end]
    rec = RecoveryFigures(fault=fault, window_start=inject_t, window_end=window_end)
    failures: dict[str, int] = {}
    for row in in_window:
        for kind, count in row.failures.items():
            failures[kind] = failures.get(kind, 0) + count
    rec.failures = failures
    rec.requests = sum(r.requests for r in in_window)
    rec.errors = sum(r.failed for r in in_window)
    rec.error_rate = rec.errors / rec.requests if rec.requests else 0.0
    first_error = next((r for r in in_window if r.failed), None)
    if first_error is not None:
        rec.time_to_first_error_s = round(max(first_error.t - inject_t, 0.0), 3)
    bad = [r for r in in_window if not r.holds]
    rec.bad_seconds = len(bad)
    if not bad:
        rec.time_to_recover_s = 0.0
        return rec
    rec.violated = True
    # The first run of `stable_s` good seconds after the window's last bad second (it may reach
    # past the window's end).
    after = [r for r in ordered if r.t > bad[-1].t]
    streak: list[Row] = []
    for row in after:
        if row.holds and (not streak or abs(row.t - streak[-1].t - 1.0) < 0.5):
            streak.append(row)
        elif row.holds:
            streak = [row]
        else:
            streak = []
        if len(streak) >= stable_s:
            rec.time_to_recover_s = round(max(streak[0].t - inject_t, 0.0), 3)
            return rec
    rec.recovered = False
    return rec
