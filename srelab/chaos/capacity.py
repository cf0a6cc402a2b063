"""Load sized from the last bench: `load: {capacity_share: 0.7}` in an experiment.

A fault that costs nothing at 60 req/s can cost plenty near the stack's ceiling, so the headline
experiments run at a share of the capacity `srelab bench` last measured on this machine: the
offered rate becomes ``target_rps = share x capacity`` (paced users, Locust's constant_throughput).
Capacity for the experiment's mix is the harmonic mean of the bench's GET and POST rows via the
proxy, weighted by the reader and writer weights (a second of load spends its time on both).
Without any bench result the experiment's `capacity_fallback_rps` stands in, and the journal says
so: a figure is never presented as measured when it was not.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from srelab.load import LoadSpec, Scenario

GET_ROW = "get_proxy"
POST_ROW = "post_proxy"


@dataclass(frozen=True)
class Sizing:
    spec: LoadSpec
    capacity_rps: float
    source: str  # the bench.json used, or "fallback"
    note: str


def latest_bench(results_dir: Path) -> Path | None:
    """The newest results/bench-*/bench.json (by folder name: the names are UTC timestamps)."""
    found = sorted(results_dir.glob("bench-*/bench.json"))
    return found[-1] if found else None


def bench_rps(bench: dict[str, object]) -> dict[str, float]:
    """Row id -> req/s of a bench.json, valid rows only."""
    out: dict[str, float] = {}
    for row in bench.get("rows") or []:  # type: ignore[union-attr]
        if (
            isinstance(row, dict)
            and row.get("valid") is not False
            and isinstance(row.get("rps"), int | float)
        ):
            out[str(row.get("id"))] = float(row["rps"])
    return out


def capacity_for(spec: LoadSpec, rps: dict[str, float]) -> float | None:
    """The bench capacity for the spec's request mix; None when a needed row is missing."""
    get, post = rps.get(GET_ROW), rps.get(POST_ROW)
    if spec.scenario in (Scenario.READ, Scenario.LIST, Scenario.HEY_GET):
        return get
    if spec.scenario in (Scenario.WRITE, Scenario.HEY_POST):
        return post
    if get is None or post is None or get <= 0 or post <= 0:
        return None
    total = spec.reader_weight + spec.writer_weight
    reads, writes = spec.reader_weight / total, spec.writer_weight / total
    return 1.0 / (reads / get + writes / post)


def size_load(spec: LoadSpec, share: float, fallback_rps: float, results_dir: Path) -> Sizing:
    """The spec paced at `share` of the last bench's capacity (or of `fallback_rps`)."""
    path = latest_bench(results_dir)
    capacity: float | None = None
    if path is not None:
        try:
            capacity = capacity_for(spec, bench_rps(json.loads(path.read_text(encoding="utf-8"))))
        except (OSError, ValueError):
            capacity = None
    if capacity is None:
        source, capacity = "fallback", fallback_rps
        why = f"no usable bench result under {results_dir}" if path is None else f"{path} lacks the rows"
        note = (
            f"load sized from capacity_fallback_rps {fallback_rps:g} req/s ({why}; run `make bench` "
            f"for a measured capacity): target {share * capacity:.0f} req/s"
        )
    else:
        source = str(path)
        note = (
            f"load sized from {path.parent.name}: capacity {capacity:.0f} req/s for this mix x {share:g} "
            f"= target {share * capacity:.0f} req/s"
        )
    return Sizing(spec.model_copy(update={"target_rps": round(share * capacity, 1)}), capacity, source, note)
