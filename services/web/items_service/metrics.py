"""Prometheus metrics of the items service (names are a contract: docs/architecture.md).

Under granian, PROMETHEUS_MULTIPROC_DIR is set and every worker writes its samples to files
there; /metrics aggregates all workers with MultiProcessCollector. Without it (tests, flask run)
the metrics live in a per-app registry, so several apps can coexist in one process.
"""

from __future__ import annotations

import os
from typing import Any

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
    values,
)

METRIC_NAMES: tuple[str, ...] = (
    "items_http_requests_total",
    "items_http_request_duration_seconds",
    "items_http_requests_in_progress",
    "items_redis_errors_total",
    "items_created_total",
    "items_idempotent_replays_total",
)
# Store operations counted in items_redis_errors_total (pre-created at 0 so rate() works).
REDIS_OPERATIONS: tuple[str, ...] = ("create", "get", "list", "ping")
LATENCY_BUCKETS: tuple[float, ...] = (
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
    10.0,
)
_COMMON = ("replica", "zone")


def multiprocess_active() -> bool:
    """True when prometheus_client writes samples to PROMETHEUS_MULTIPROC_DIR files."""
    return bool(getattr(values.ValueClass, "_multiprocess", False))


class Metrics:
    """The service's metrics, every series labelled with this replica's replica and zone."""

    content_type = CONTENT_TYPE_LATEST

    def __init__(self, replica: str, zone: str, multiproc_dir: str | None = None) -> None:
        self.replica = replica
        self.zone = zone
        # prometheus_client picks its value backend from the environment when it is imported: only
        # aggregate files if the samples really go to files (else /metrics would be empty).
        self.multiproc_dir = multiproc_dir if multiproc_dir and multiprocess_active() else None
        if self.multiproc_dir:
            os.makedirs(self.multiproc_dir, exist_ok=True)
        # Metrics register here; in multiprocess mode their values also go to the mmap files,
        # and exposition reads those files instead of this registry.
        self.registry = CollectorRegistry(auto_describe=True)
        reg = self.registry
        self.requests = Counter(
            "items_http_requests",
            "HTTP requests handled, by method, Flask route and status code.",
            ("method", "route", "status", *_COMMON),
            registry=reg,
        )
        self.duration = Histogram(
            "items_http_request_duration_seconds",
            "Time from request start to response, by method and Flask route.",
            ("method", "route", *_COMMON),
            buckets=LATENCY_BUCKETS,
            registry=reg,
        )
        self.in_progress = Gauge(
            "items_http_requests_in_progress",
            "Requests being handled right now, summed over live workers.",
            ("method", "route", *_COMMON),
            multiprocess_mode="livesum",
            registry=reg,
        )
        self.redis_errors = Counter(
            "items_redis_errors",
            "Redis calls that failed (connection refused, timeout, error reply), by store operation.",
            ("operation", *_COMMON),
            registry=reg,
        )
        self.created = Counter(
            "items_created", "Items stored (idempotent replays not included).", _COMMON, registry=reg
        )
        self.replays = Counter(
            "items_idempotent_replays",
            "POST /items answered from an existing Idempotency-Key record.",
            _COMMON,
            registry=reg,
        )
        self._by_route: dict[tuple[str, str], tuple[Any, Any]] = {}
        self._by_status: dict[tuple[str, str, int], Any] = {}
        # Materialise the label-less-but-for-replica/zone series at 0.
        self._created = self.created.labels(replica, zone)
        self._replays = self.replays.labels(replica, zone)
        for operation in REDIS_OPERATIONS:
            self.redis_errors.labels(operation, replica, zone)

    # Recording helpers -------------------------------------------------------------------------

    # labels() takes a lock and builds a key on every call: the per-request series are looked up
    # once per (method, route[, status]) and kept. Both are bounded (routes are URL rules).

    def _route_series(self, method: str, route: str) -> tuple[Any, Any]:
        key = (method, route)
        series = self._by_route.get(key)
        if series is None:
            series = (
                self.in_progress.labels(method, route, self.replica, self.zone),
                self.duration.labels(method, route, self.replica, self.zone),
            )
            self._by_route[key] = series
        return series

    def request_started(self, method: str, route: str) -> None:
        self._route_series(method, route)[0].inc()

    def request_finished(self, method: str, route: str, status: int, seconds: float) -> None:
        in_progress, duration = self._route_series(method, route)
        in_progress.dec()
        key = (method, route, status)
        counter = self._by_status.get(key)
        if counter is None:
            counter = self.requests.labels(method, route, str(status), self.replica, self.zone)
            self._by_status[key] = counter
        counter.inc()
        duration.observe(seconds)

    def redis_error(self, operation: str, _exc: BaseException | None = None) -> None:
        self.redis_errors.labels(operation, self.replica, self.zone).inc()

    def item_created(self) -> None:
        self._created.inc()

    def idempotent_replay(self) -> None:
        self._replays.inc()

    # Exposition -----------------------------------------------------------------------------------

    def render(self) -> bytes:
        """The text exposition: all workers' samples in multiprocess mode, else this app's."""
        if self.multiproc_dir:
            registry = CollectorRegistry()
            multiprocess.MultiProcessCollector(registry, path=self.multiproc_dir)
            return generate_latest(registry)
        return generate_latest(self.registry)
