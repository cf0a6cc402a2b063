"""Run validity (load-generator CPU) and threshold evaluation: pure functions."""

from __future__ import annotations

import math
from collections.abc import Sequence

from srelab.load.types import Breach, CpuSummary, LoadResult, Thresholds

CPU_THRESHOLD = 90.0  # percent of one core
CPU_MIN_SECONDS = 3  # sustained means at least this many seconds ...
CPU_MIN_FRACTION = 0.2  # ... and at least this fraction of the sampled seconds


def cpu_summary(
    samples: Sequence[float],
    threshold: float = CPU_THRESHOLD,
    min_seconds: int = CPU_MIN_SECONDS,
    min_fraction: float = CPU_MIN_FRACTION,
) -> CpuSummary:
    """Summarise per-second CPU samples of the Locust process (percent of one core).

    The generator is saturated (the run measures Locust, not the stack) when the seconds at or
    above `threshold` number at least max(min_seconds, ceil(min_fraction * samples)).
    """
    values = [float(s) for s in samples if s is not None and s >= 0]
    if not values:
        return CpuSummary(threshold=threshold)
    over = sum(1 for v in values if v >= threshold)
    needed = max(min_seconds, math.ceil(min_fraction * len(values)))
    return CpuSummary(
        samples=len(values),
        mean=round(sum(values) / len(values), 1),
        max=round(max(values), 1),
        seconds_over=over,
        threshold=threshold,
        saturated=over >= needed,
    )


def validity(requests: int, cpu: CpuSummary) -> tuple[bool, list[str]]:
    """Is the run's measurement trustworthy? Returns (valid, reasons it is not)."""
    reasons: list[str] = []
    if requests == 0:
        reasons.append("no request completed")
    if cpu.saturated:
        reasons.append(
            f"load generator CPU >= {cpu.threshold:g}% of a core for {cpu.seconds_over} of "
            f"{cpu.samples} s (max {cpu.max}%): the numbers measure Locust, not the stack"
        )
    return (not reasons, reasons)


def evaluate_thresholds(result: LoadResult, thresholds: Thresholds) -> list[Breach]:
    """Every breached threshold (empty when all pass or none is set)."""
    breaches: list[Breach] = []

    def check(name: str, limit: float | None, actual: float | None, worse_if_above: bool, unit: str) -> None:
        if limit is None:
            return
        if actual is None:
            breaches.append(Breach(name=name, limit=limit, actual=None, message=f"{name}: no data"))
            return
        bad = actual > limit if worse_if_above else actual < limit
        if bad:
            op = ">" if worse_if_above else "<"
            breaches.append(
                Breach(
                    name=name,
                    limit=limit,
                    actual=actual,
                    message=f"{name}: {actual:g}{unit} {op} limit {limit:g}{unit}",
                )
            )

    check("max_error_rate", thresholds.max_error_rate, result.error_rate, True, "")
    check("p95_ms", thresholds.p95_ms, result.latency.p95_ms, True, " ms")
    check("p99_ms", thresholds.p99_ms, result.latency.p99_ms, True, " ms")
    check("min_rps", thresholds.min_rps, result.rps, False, " rps")
    return breaches
