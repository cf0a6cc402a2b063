"""Health endpoints: /livez (process only), /readyz (Redis answers PING, not draining) and /health."""

from __future__ import annotations

import os

from flask import Blueprint, Response, jsonify

from items_service.config import drain_marker
from items_service.errors import RETRY_AFTER_SECONDS
from items_service.runtime import runtime
from items_service.store import StoreUnavailable

bp = Blueprint("probes", __name__)


def _status(body: dict[str, str], status: int) -> Response:
    response = jsonify(body)
    response.status_code = status
    if status == 503:
        response.headers["Retry-After"] = RETRY_AFTER_SECONDS
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.get("/livez")
def livez() -> Response:
    # Liveness: the process answers. NEVER touches Redis (Docker would restart healthy replicas).
    return _status({"status": "alive"}, 200)


def _redis_status(ok: str, failed: str) -> Response:
    """200 {"status": ok} when Redis answers PING, else 503 {"status": failed, "error": ...}."""
    try:
        runtime().store.ping()
    except StoreUnavailable as exc:
        return _status({"status": failed, "error": f"storage unavailable: {type(exc.cause).__name__}"}, 503)
    return _status({"status": ok}, 200)


@bp.get("/readyz")
def readyz() -> Response:
    marker = drain_marker()
    if marker and os.path.exists(marker):
        return _status({"status": "draining"}, 503)
    return _redis_status("ready", "unavailable")


@bp.get("/health")
def health() -> Response:
    # The original challenge's contract: {"status": "healthy"} when Redis answers.
    return _redis_status("healthy", "unhealthy")
