"""Per-request observability: request id, replica headers, metrics and one JSON access line."""

from __future__ import annotations

import logging
import time
import uuid

from flask import Flask, Request, Response, g, request

from items_service.logs import ACCESS_LOGGER
from items_service.metrics import Metrics
from items_service.validation import parse_proxy_request_id, sane_request_id

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


def install_request_hooks(
    app: Flask, metrics: Metrics, replica: str, zone: str, proxy_request_id_header: str = ""
) -> None:
    """Request id, replica headers, metrics and the access line around every request.

    The request id is the client's X-Request-ID when it looks like one, else the proxy's
    per-request id (the same on every retry of the request, so a retried request's lines share
    it across replicas), else a new one. The context objects are fetched once per hook: every
    access through Flask's proxies (`request`, `g`) costs a lookup, and these run on every request.
    """
    proxy_header = proxy_request_id_header or None

    @app.before_request
    def _start() -> None:
        req = request._get_current_object()  # type: ignore[attr-defined]
        ctx = g._get_current_object()  # type: ignore[attr-defined]
        headers = req.headers
        ctx.request_started = time.perf_counter()
        # Parsed once here; POST /items reads it from g as the implicit key of a keyless create.
        ctx.proxy_request_id = parse_proxy_request_id(headers.get(proxy_header)) if proxy_header else None
        client_id = sane_request_id(headers.get("X-Request-ID"))
        ctx.request_id = client_id or ctx.proxy_request_id or uuid.uuid4().hex
        ctx.route = route_label(req)
        ctx.method = method_label(req.method)
        metrics.request_started(ctx.method, ctx.route)
        ctx.in_progress = True

    @app.after_request
    def _headers(response: Response) -> Response:
        ctx = g._get_current_object()  # type: ignore[attr-defined]
        headers = response.headers
        headers["X-Served-By"] = replica
        headers["X-Zone"] = zone
        headers["X-Request-ID"] = ctx.get("request_id") or uuid.uuid4().hex
        ctx.status = response.status_code
        return response

    @app.teardown_request
    def _finish(exc: BaseException | None) -> None:
        ctx = g._get_current_object()  # type: ignore[attr-defined]
        if not ctx.pop("in_progress", False):
            return
        seconds = time.perf_counter() - ctx.request_started
        status: int = ctx.get("status", 500)
        metrics.request_finished(ctx.method, ctx.route, status, seconds)
        level = access_log_level(ctx.route, status)
        if access_log.isEnabledFor(level):
            req = request._get_current_object()  # type: ignore[attr-defined]
            access_log.log(
                level,
                "%s %s %s",
                req.method,
                req.path,
                status,
                extra={
                    "fields": {
                        "method": req.method,
                        "route": ctx.route,
                        "path": req.path,
                        "status": status,
                        "duration_ms": round(seconds * 1000, 3),
                        "request_id": ctx.request_id,
                    }
                },
            )
