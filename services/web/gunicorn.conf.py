"""gunicorn settings for the items service (run from this directory, see the Dockerfile).

Timings relate to the rest of the stack:
- graceful_timeout (10 s) < compose stop_grace_period (15 s): SIGTERM drains in-flight requests
  before Docker's SIGKILL.
- on SIGTERM the replica first drains for WEB_DRAIN_SECONDS (3 s): /readyz answers 503, so
  Traefik's 2 s health check takes it out of rotation while it still serves; then gunicorn stops
  gracefully. 3 + graceful_timeout 10 = 13 s < stop_grace_period 15 s.
- keepalive (120 s) > Traefik's 90 s backend idle timeout: the proxy, not gunicorn, closes idle
  connections, so it never reuses one gunicorn just closed (a 502).
"""

from __future__ import annotations

import os
import shutil
import time
from typing import Any

from gunicorn import glogging
from items_service.logs import JsonFormatter


def _env_int(name: str, default: int) -> int:
    raw = os.environ.get(name, "").strip()
    return int(raw) if raw else default


bind = ["0.0.0.0:8000"]
worker_class = "gthread"
workers = _env_int("WEB_WORKERS", 2)
threads = _env_int("WEB_THREADS", 4)
timeout = 30
graceful_timeout = 10
keepalive = 120
# Heartbeat files on tmpfs (the root filesystem is read-only).
worker_tmp_dir = "/dev/shm"
proc_name = "items"
# The control socket would go to $HOME/.gunicorn on a read-only filesystem; not used here.
control_socket_disable = True
preload_app = False  # each worker builds its own app, Redis pool and metric files
loglevel = os.environ.get("GUNICORN_LOG_LEVEL", "info")
errorlog = "-"
accesslog = None  # the app writes one JSON access line per request itself


class JsonLogger(glogging.Logger):
    """gunicorn's logger without its access log (enabled implicitly by logconfig_dict)."""

    def access(self, resp: Any, req: Any, environ: Any, request_time: Any) -> None:
        return None


logger_class = JsonLogger
logconfig_dict: dict[str, Any] = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"json": {"()": JsonFormatter}},
    "handlers": {
        "stdout": {"class": "logging.StreamHandler", "formatter": "json", "stream": "ext://sys.stdout"}
    },
    "root": {"level": "INFO", "handlers": ["stdout"]},
    "loggers": {
        "gunicorn.error": {"level": loglevel.upper(), "handlers": ["stdout"], "propagate": False},
        "gunicorn.access": {"level": "CRITICAL", "handlers": [], "propagate": False},
    },
}


def on_starting(server: Any) -> None:
    """Start with an empty multiprocess metrics dir: files of a previous run would be summed."""
    path = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if not path:
        return
    if os.path.isdir(path):
        for entry in os.listdir(path):
            full = os.path.join(path, entry)
            if os.path.isdir(full) and not os.path.islink(full):
                shutil.rmtree(full)
            else:
                os.unlink(full)
    os.makedirs(path, exist_ok=True)


def when_ready(server: Any) -> None:
    """Wrap the master's SIGTERM handler: mark draining, wait, then stop gracefully.

    The arbiter dispatches signals to `handle_<name>` looked up on the instance, so replacing the
    attribute is enough. Workers keep serving during the wait; only new routing stops. The marker
    is named in the environment here, before the workers are forked, so they all see it.
    """
    marker = os.environ.setdefault("DRAIN_MARKER", f"/tmp/items-draining-{os.getpid()}")
    _remove(marker)  # a previous run's, in the same /tmp
    seconds = float(os.environ.get("WEB_DRAIN_SECONDS", "3"))
    graceful_stop = server.handle_term

    def drain_then_stop() -> None:
        with open(marker, "w"):
            pass
        server.log.info("draining for %.1f s before a graceful stop", seconds)
        time.sleep(seconds)
        graceful_stop()

    server.handle_term = drain_then_stop


def on_exit(server: Any) -> None:
    _remove(os.environ.get("DRAIN_MARKER", ""))


def _remove(path: str) -> None:
    if path and os.path.exists(path):
        os.unlink(path)


def child_exit(server: Any, worker: Any) -> None:
    """Drop a dead worker's live gauges (items_http_requests_in_progress uses livesum)."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(worker.pid)
