"""Load harness: Locust runs, per-second timelines, write logs, thresholds, bench.

Stable contract (other packages code against it):

    from srelab.load import LoadSpec, run_load, SecondBucket, LoadResult

    spec = LoadSpec(scenario="mixed", users=10, duration_s=60)
    result = run_load(spec, out_dir, on_second=print_bucket, stop_event=event)
    result.timeline            # list[SecondBucket], one per second of the run
    result.write_records()     # every POST attempt (idempotency key, status, id, replica, time)
    result.acknowledged_writes()  # the 2xx POSTs with an id: what a write audit reads back

Modules, each importing only those above it: types (the data types), contract (what the
locustfile and the harness share, from loadtest/load_common.py), errors; timeline, checks,
report, presets; runner (run_load), hey (the real hey); cpu, lab, wrk, webenv, bench; cli.
"""

from srelab.load.contract import ENDPOINTS, EP_GET, EP_LIST, EP_POST
from srelab.load.errors import LoadError
from srelab.load.runner import run_load
from srelab.load.types import (
    FAILURE_KINDS,
    Breach,
    CpuSummary,
    EndpointSecond,
    EndpointSummary,
    FailureKind,
    HeyFigures,
    LatencyStats,
    LoadResult,
    LoadSpec,
    Scenario,
    SecondBucket,
    Shape,
    Thresholds,
    WriteRecord,
    read_write_log,
)

__all__ = [
    "ENDPOINTS",
    "EP_GET",
    "EP_LIST",
    "EP_POST",
    "FAILURE_KINDS",
    "Breach",
    "CpuSummary",
    "EndpointSecond",
    "EndpointSummary",
    "FailureKind",
    "HeyFigures",
    "LatencyStats",
    "LoadError",
    "LoadResult",
    "LoadSpec",
    "Scenario",
    "SecondBucket",
    "Shape",
    "Thresholds",
    "WriteRecord",
    "read_write_log",
    "run_load",
]
