"""Data types of the load harness: what a run is asked to do and what it measured.

Every other srelab.load module, the CLI and the chaos runner code against these; this module
imports no other srelab.load module (so it can be imported from anywhere without a cycle).
Endpoint names and the file formats shared with the locustfile are in loadtest/load_common.py
(srelab/load/contract.py). The entry point is srelab.load.run_load (srelab/load/runner.py).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from enum import StrEnum
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator


class Scenario(StrEnum):
    """Which users run. ``hey-get``/``hey-post`` replay the original challenge's runs."""

    MIXED = "mixed"  # readers and writers, weights reader_weight:writer_weight
    READ = "read"  # readers only: GET /items and GET /items/<id> of ids seen
    WRITE = "write"  # writers only: POST /items, one Idempotency-Key per logical write
    LIST = "list"  # GET /items only, no think time (what wrk and the bench measure)
    HEY_GET = "hey-get"  # `hey -n 100000 -c 10 GET /items`, scaled down
    HEY_POST = "hey-post"  # `hey -n 10000 -c 10 -m POST /items`, scaled down


class Shape(StrEnum):
    """Load shapes: the keys of load_common.SHAPE_CLASSES, the locustfile's LoadTestShape classes
    (tests/load/test_contract_unit.py pins the two)."""

    STEADY = "steady"  # ramp to `users` at `spawn_rate`, hold until duration_s
    STEP = "step"  # `steps` equal steps of users/steps, each duration_s/steps long
    SPIKE = "spike"  # users/4 for the first third, `users` for the middle third, users/4 after


class FailureKind(StrEnum):
    """Why a request failed. Every failed request gets exactly one kind."""

    CONN_REFUSED = "conn_refused"
    CONN_RESET = "conn_reset"
    HTTP_502 = "http_502"
    HTTP_503 = "http_503"
    HTTP_504 = "http_504"
    TIMEOUT = "timeout"
    HTTP_4XX = "http_4xx"  # any other 4xx (404 from the proxy when no replica is in rotation)
    HTTP_5XX = "http_5xx"  # any other 5xx
    OTHER = "other"  # other exceptions, or a 2xx whose body failed validation


FAILURE_KINDS: tuple[str, ...] = tuple(k.value for k in FailureKind)

_REFUSED = ("refused",)
_RESET = ("reset", "connection closed", "broken pipe", "remotedisconnected", "connection aborted", "eof")
_TIMEOUT = ("timed out", "timeout")


def classify(status: int, exc_type: str = "", exc_msg: str = "") -> str | None:
    """Failure kind of one request, None when it succeeded.

    An HTTP status >= 400 decides by itself; otherwise the exception (if any) is looked at:
    connection refused, reset/closed, timeout, or `other` (including a 2xx whose body failed
    validation). A request with no exception and a status below 400 is a success.
    """
    if status >= 400:
        if status in (502, 503, 504):
            return f"http_{status}"
        return FailureKind.HTTP_4XX.value if status < 500 else FailureKind.HTTP_5XX.value
    if not exc_type and not exc_msg:
        return None if status > 0 else FailureKind.OTHER.value
    if status > 0:  # a response came back but the client marked it failed (validation)
        return FailureKind.OTHER.value
    text = f"{exc_type} {exc_msg}".lower()
    # Order matters: geventhttpclient wraps a timeout as "RetriesExceeded ... original=timed out".
    if "connectionrefused" in text or any(s in text for s in _REFUSED):
        return FailureKind.CONN_REFUSED.value
    if any(s in text for s in _TIMEOUT):
        return FailureKind.TIMEOUT.value
    if "connectionreset" in text or "httpconnectionclosed" in text or any(s in text for s in _RESET):
        return FailureKind.CONN_RESET.value
    return FailureKind.OTHER.value


class LoadSpec(BaseModel):
    """What to run. Every run is bounded in time (duration_s) and optionally in requests."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    scenario: Scenario = Scenario.MIXED
    users: int = Field(10, ge=1, le=500, description="concurrent simulated users (peak for shapes)")
    spawn_rate: float = Field(10.0, gt=0, le=500, description="users started per second")
    duration_s: float = Field(30.0, gt=0, le=3600, description="hard time bound of the load phase")
    requests: int | None = Field(
        None, ge=1, le=1_000_000, description="stop after this many requests (hey -n); None: time only"
    )
    shape: Shape = Shape.STEADY
    steps: int = Field(4, ge=1, le=20, description="number of steps of the step shape")
    reader_weight: int = Field(4, ge=0, le=100)
    writer_weight: int = Field(1, ge=0, le=100)
    wait_min_s: float = Field(0.0, ge=0, le=60, description="think time between tasks, lower bound")
    wait_max_s: float = Field(0.0, ge=0, le=60, description="think time between tasks, upper bound")
    target_rps: float | None = Field(
        None,
        gt=0,
        le=100_000,
        description="paced load: users start tasks at target_rps in total (each user target_rps / "
        "users per second, Locust's constant_throughput) instead of the think time",
    )
    timeout_s: float = Field(5.0, gt=0, le=60, description="per-request connect and read timeout")
    write_retries: int = Field(
        0, ge=0, le=5, description="client retries of a failed POST with the same Idempotency-Key"
    )
    host: str | None = Field(None, description="base URL; None: settings.proxy_url")
    target_hosts: tuple[str, ...] = Field(
        (), description="optional base URLs users are spread over (round-robin); overrides host"
    )
    label: str = Field("", max_length=80, description="free text recorded in summary.json")

    @model_validator(mode="after")
    def _check(self) -> LoadSpec:
        if self.wait_max_s < self.wait_min_s:
            raise ValueError("wait_max_s must be >= wait_min_s")
        if self.scenario == Scenario.MIXED and self.reader_weight + self.writer_weight == 0:
            raise ValueError("reader_weight + writer_weight must be > 0")
        return self


class LatencyStats(BaseModel):
    """Latency of a set of requests in milliseconds (nearest-rank percentiles); None if empty."""

    count: int = 0
    p50_ms: float | None = None
    p95_ms: float | None = None
    p99_ms: float | None = None
    max_ms: float | None = None
    mean_ms: float | None = None


class EndpointSecond(BaseModel):
    requests: int = 0
    successes: int = 0
    failures: dict[str, int] = Field(default_factory=dict)  # kind -> count (non-zero only)
    latency: LatencyStats = Field(default_factory=LatencyStats)


class SecondBucket(BaseModel):
    """One second of the run: requests that *completed* in [t, t + 1)."""

    second: int  # 0-based index from the start of the load phase
    t: float  # epoch seconds of the bucket's start
    requests: int = 0
    successes: int = 0
    failures: dict[str, int] = Field(default_factory=lambda: dict.fromkeys(FAILURE_KINDS, 0))
    latency: LatencyStats = Field(default_factory=LatencyStats)  # all requests of the second
    endpoints: dict[str, EndpointSecond] = Field(default_factory=dict)
    served_by: dict[str, int] = Field(default_factory=dict)  # X-Served-By -> responses
    generator_cpu: float | None = None  # Locust process CPU % of one core during the second
    users: int | None = None  # simulated users alive (when known)

    @property
    def failed(self) -> int:
        return sum(self.failures.values())


class EndpointSummary(BaseModel):
    requests: int = 0
    successes: int = 0
    failures: dict[str, int] = Field(default_factory=dict)
    rps: float = 0.0
    latency: LatencyStats = Field(default_factory=LatencyStats)


class CpuSummary(BaseModel):
    """Load-generator CPU (percent of one core), sampled once per second."""

    samples: int = 0
    mean: float | None = None
    max: float | None = None
    seconds_over: int = 0  # seconds at or above `threshold`
    threshold: float = 90.0
    saturated: bool = False  # sustained: seconds_over >= max(3, 20 % of the samples)


class WriteRecord(BaseModel):
    """One POST /items attempt, as written to writes.jsonl (load_common.write_line; the field names
    are load_common.WRITE_FIELDS, pinned by tests/load/test_contract_unit.py)."""

    t: float  # epoch seconds when the response (or error) came back
    key: str  # Idempotency-Key (the same for every attempt of one logical write)
    name: str | None = None  # the item name sent (None in logs written before it was recorded)
    attempt: int = 1
    status: int = 0  # HTTP status, 0 when no response
    id: str | None = None  # id from the response body
    replica: str | None = None  # X-Served-By
    latency_ms: float | None = None
    error: str | None = None  # error text when not acknowledged ("ConnectionRefusedError: ...")

    @property
    def acknowledged(self) -> bool:
        return 200 <= self.status < 300 and self.id is not None and self.error is None

    @property
    def kind(self) -> str | None:
        """Failure kind (FailureKind value) of this attempt; None when acknowledged."""
        if self.acknowledged:
            return None
        exc_type, _, exc_msg = (self.error or "").partition(": ")
        return classify(self.status, exc_type, exc_msg) or FailureKind.OTHER.value


class Thresholds(BaseModel):
    """Limits a run must meet; None means not checked."""

    max_error_rate: float | None = Field(None, ge=0, le=1)  # failed / requests
    p95_ms: float | None = Field(None, gt=0)
    p99_ms: float | None = Field(None, gt=0)
    min_rps: float | None = Field(None, ge=0)


class Breach(BaseModel):
    name: str  # e.g. "p95_ms"
    limit: float
    actual: float | None
    message: str


StopReason = Literal["duration", "requests", "stop_event", "interrupted", "generator_exit", "hard_timeout"]
LoadTool = Literal["locust", "hey"]


class HeyFigures(BaseModel):
    """What a real `hey` run reported (srelab/load/hey.py); hey prints one CSV line per answer."""

    command: list[str]
    exit_code: int | None = None
    planned: int  # requests hey sends: -n rounded down to a multiple of -c (n / c per worker)
    answered: int  # lines in hey's CSV: requests that got an HTTP answer
    acknowledged: int  # answers with a 2xx status (for a POST: items the client was told are stored)
    status_codes: dict[str, int] = Field(default_factory=dict)  # status -> answers
    # planned - answered when hey ran to its end; None when it was stopped early (it does not
    # report how many it sent, so requests without an answer cannot be counted then).
    unanswered: int | None = None
    rate_per_worker: float | None = None  # hey -q
    item_name: str | None = None  # the name in every POST body (keyless write audit)


class LoadResult(BaseModel):
    """What a run measured; also written to out_dir/summary.json (without the timeline)."""

    spec: LoadSpec
    host: str
    out_dir: Path
    started_at: float  # epoch of the first bucket
    ended_at: float
    duration_s: float  # seconds from start to the last completed request
    requests: int
    successes: int
    failures: dict[str, int]
    error_rate: float
    rps: float
    latency: LatencyStats
    endpoints: dict[str, EndpointSummary]
    served_by: dict[str, int]
    generator_cpu: CpuSummary
    valid: bool
    invalid_reasons: list[str] = Field(default_factory=list)
    stop_reason: StopReason
    locust_exit_code: int | None = None
    locust_reported: dict[str, int] | None = None  # Locust's own Aggregated counts, cross-check
    timeline: list[SecondBucket] = Field(default_factory=list, exclude=True)
    files: dict[str, str] = Field(default_factory=dict)  # role -> file name in out_dir
    tool: LoadTool = "locust"
    # Failed requests counted in requests/failures but in no 1 s bucket: hey reports no time for a
    # request that got no answer (it leaves it out of its CSV).
    unplaced_failures: int = 0
    hey: HeyFigures | None = None
    notes: list[str] = Field(default_factory=list)  # what a reader of the figures must know

    @property
    def failed(self) -> int:
        return sum(self.failures.values())

    @property
    def writes_path(self) -> Path:
        return self.out_dir / "writes.jsonl"

    def write_records(self) -> Iterator[WriteRecord]:
        """Every POST attempt of the run, in completion order."""
        yield from read_write_log(self.writes_path)

    def acknowledged_writes(self) -> list[WriteRecord]:
        """POSTs answered 2xx with an id: each must be readable back (GET /items/<id>)."""
        return [w for w in self.write_records() if w.acknowledged]


def read_write_log(path: Path) -> Iterator[WriteRecord]:
    if not path.exists():
        return
    with path.open(encoding="utf-8") as fh:
        for line in fh:
            if line.strip():
                yield WriteRecord.model_validate(json.loads(line))
