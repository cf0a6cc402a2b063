"""Flask app factory: ``granian --interface wsgi --factory items_service.app:create_app`` (server.py)."""

from __future__ import annotations

import logging

import redis
from flask import Flask, Response

from items_service import api, openapi, probes
from items_service.config import Settings
from items_service.errors import register_error_handlers
from items_service.logs import configure_logging
from items_service.metrics import Metrics
from items_service.observability import install_request_hooks
from items_service.runtime import EXTENSION_KEY, Runtime, runtime
from items_service.store import ItemStore, make_redis


def create_app(settings: Settings | None = None, *, redis_client: redis.Redis | None = None) -> Flask:
    settings = settings if settings is not None else Settings.from_env()
    log = configure_logging(settings.log_level, settings.replica, settings.zone)

    app = Flask("items_service", static_folder=None)
    # One byte of slack: Werkzeug stops a chunked body (no Content-Length) AT the limit without an
    # error, so the view reads up to limit + 1 bytes and answers 413 itself past the real limit.
    app.config["MAX_CONTENT_LENGTH"] = settings.max_body_bytes + 1
    app.config["ITEMS_MAX_BODY_BYTES"] = settings.max_body_bytes
    app.json.sort_keys = False  # type: ignore[attr-defined]
    app.json.compact = True  # type: ignore[attr-defined]

    metrics = Metrics(settings.replica, settings.zone, settings.multiproc_dir)
    store = ItemStore(
        redis_client if redis_client is not None else make_redis(settings),
        idempotency_ttl_seconds=settings.idempotency_ttl_seconds,
        on_error=metrics.redis_error,
        min_replica_acks=settings.redis_min_replica_acks,
        wait_timeout_ms=settings.redis_wait_timeout_ms,
    )
    app.extensions[EXTENSION_KEY] = Runtime(settings=settings, store=store, metrics=metrics)

    install_request_hooks(app, metrics, settings.replica, settings.zone, settings.proxy_request_id_header)
    register_error_handlers(app)
    app.register_blueprint(api.bp)
    app.register_blueprint(probes.bp)
    app.register_blueprint(openapi.bp)

    @app.get("/metrics")
    def metrics_endpoint() -> Response:
        m = runtime().metrics
        return Response(m.render(), mimetype=None, content_type=m.content_type)

    log.getChild("app").log(
        logging.INFO,
        "items service ready",
        extra={
            "fields": {
                "redis": (
                    f"sentinels {','.join(f'{h}:{p}' for h, p in settings.redis_sentinels)} "
                    f"master {settings.redis_master_name}"
                    if settings.redis_sentinels
                    else f"{settings.redis_host}:{settings.redis_port}/{settings.redis_db}"
                ),
                "min_replica_acks": settings.redis_min_replica_acks,
                "multiprocess_metrics": metrics.multiproc_dir is not None,
            }
        },
    )
    return app
