"""Per-request observability: request id, replica headers, metrics and one JSON access line."""

from __future__ import annotations

import logging
import time
import uuid

from flask import Flask, Request, Response, g, request

from items_service.logs import ACCESS_LOGGER
from items_service.metrics import Metrics
from items_service.validation import sane_request_id

UNMATCHED_ROUTE = "unmatched"
KNOWN_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
# Probes and scrapes: logged at DEBUG when they succeed (every 2 s per prober), else as usual.
QUIET_ROUTES = frozenset({"/livez", "/readyz", "/health", "/metrics"})

access_log = logging.getLogger(ACCESS_LOGGER)


def route_label(req: Request) -> str:
    """The Flask URL rule (bounded cardinality), never the raw path."""
    rule = req.url_rule
    return rule.rule if rule is not None else UNMATCHED_ROUTE


def method_label(method: str) -> str:
    return method if method in KNOWN_METHODS else "OTHER"


def access_log_level(route: str, status: int) -> int:
    if status >= 500:
        return logging.ERROR
    if route in QUIET_ROUTES and status < 400:
        return logging.DEBUG
    return logging.INFO


def install_request_hooks(app: Flask, metrics: Metrics, replica: str, zone: str) -> None:
    @app.before_request
    def _start() -> None:
        g.request_started = time.perf_counter()
        g.request_id = sane_request_id(request.headers.get("X-Request-ID")) or uuid.uuid4().hex
        g.route = route_label(request)
        g.method = method_label(request.method)
        metrics.request_started(g.method, g.route)
        g.in_progress = True

    @app.after_request
    def _headers(response: Response) -> Response:
        response.headers["X-Served-By"] = replica
        response.headers["X-Zone"] = zone
        response.headers["X-Request-ID"] = g.get("request_id") or uuid.uuid4().hex
        g.status = response.status_code
        return response

    @app.teardown_request
    def _finish(exc: BaseException | None) -> None:
        if not g.pop("in_progress", False):
            return
        seconds = time.perf_counter() - g.request_started
        status: int = g.get("status", 500)
        metrics.request_finished(g.method, g.route, status, seconds)
        level = access_log_level(g.route, status)
        if access_log.isEnabledFor(level):
            access_log.log(
                level,
                "%s %s %s",
                request.method,
                request.path,
                status,
                extra={
                    "fields": {
                        "method": request.method,
                        "route": g.route,
                        "path": request.path,
                        "status": status,
                        "duration_ms": round(seconds * 1000, 3),
                        "request_id": g.request_id,
                    }
                },
            )
