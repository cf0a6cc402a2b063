"""Load harness: Locust runs, per-second timelines, write logs, thresholds, bench.

See srelab/load/api.py for the contract used by the CLI and the chaos runner.
"""

from srelab.load.api import (
    ENDPOINTS,
    EP_GET,
    EP_LIST,
    EP_POST,
    FAILURE_KINDS,
    Breach,
    CpuSummary,
    EndpointSecond,
    EndpointSummary,
    FailureKind,
    LatencyStats,
    LoadResult,
    LoadSpec,
    Scenario,
    SecondBucket,
    Shape,
    Thresholds,
    WriteRecord,
    read_write_log,
    run_load,
)
from srelab.load.errors import LoadError

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
