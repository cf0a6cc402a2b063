"""PID 1 of an items-service replica: granian (Rust HTTP server, WSGI) under a small supervisor.

``python -m items_service.server`` (the Dockerfile's CMD). Why granian: its HTTP handling is in
Rust, and a request costs the replica about half the CPU it cost under gunicorn's gthread worker on
these machines (docs/bench.md). Why a supervisor around it:

- **Drain before stopping.** On SIGTERM (or SIGINT) the replica first drains for
  WEB_DRAIN_SECONDS (3 s): a marker file makes /readyz answer 503, so Traefik's 2 s health check
  takes the replica out of rotation while it still serves; only then does granian get SIGTERM and
  stop gracefully (in-flight requests finish, at most WEB_GRACEFUL_SECONDS, then SIGKILL).
  3 + 10 = 13 s < the compose stop_grace_period of 15 s, so Docker never SIGKILLs a drain.
- **A clean metrics folder.** prometheus_client's multiprocess files of a previous run (same
  tmpfs) would be summed into this run's: the folder is emptied before any worker starts.

Kept free of Flask: only the workers import the app (``items_service.app:create_app``).
"""

from __future__ import annotations

import logging
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Mapping
from pathlib import Path
from types import FrameType

from items_service.config import ConfigError, default_replica, default_zone, env_float, env_int
from items_service.logs import configure_logging

LOG_CONFIG = Path(__file__).with_name("granian-logging.json")
APP_FACTORY = "items_service.app:create_app"

log = logging.getLogger("items_service.server")


def granian_command(env: Mapping[str, str], python: str = sys.executable) -> list[str]:
    """The granian command line for this replica's environment (WEB_WORKERS, WEB_THREADS; WEB_HOST
    and WEB_PORT default to 0.0.0.0:8000, the port Traefik and Prometheus use)."""
    port = env_int(env, "WEB_PORT", 8000, minimum=1, maximum=65535)
    workers = env_int(env, "WEB_WORKERS", 1, minimum=1, maximum=32)
    threads = env_int(env, "WEB_THREADS", 4, minimum=1, maximum=64)
    graceful = env_float(env, "WEB_GRACEFUL_SECONDS", 10.0, minimum=1.0)
    return [
        python, "-m", "granian",
        "--interface", "wsgi",
        "--host", env.get("WEB_HOST") or "0.0.0.0",
        "--port", str(port),
        "--workers", str(workers),
        # Blocking threads run the WSGI app: enough that a Redis call waiting out its 1 s
        # timeout does not stall the replica, few enough that the GIL is not fought over.
        "--blocking-threads", str(threads),
        "--runtime-threads", "1",
        "--workers-kill-timeout", str(max(1, int(graceful))),
        "--no-ws",
        "--log-config", str(LOG_CONFIG),
        "--no-access-log",  # the app writes one JSON line per request itself
        "--factory", APP_FACTORY,
    ]  # fmt: skip


def wipe_metrics_dir(path: str | None) -> None:
    """Empty (or create) PROMETHEUS_MULTIPROC_DIR before the workers start."""
    if not path:
        return
    folder = Path(path)
    if folder.is_dir():
        for entry in folder.iterdir():
            if entry.is_dir() and not entry.is_symlink():
                shutil.rmtree(entry)
            else:
                entry.unlink()
    folder.mkdir(parents=True, exist_ok=True)


class Supervisor:
    """Runs granian, turns the first SIGTERM/SIGINT into drain-then-graceful-stop."""

    def __init__(self, env: Mapping[str, str]) -> None:
        self.env = dict(env)
        self.drain_s = env_float(env, "WEB_DRAIN_SECONDS", 3.0, minimum=0.0)
        self.graceful_s = env_float(env, "WEB_GRACEFUL_SECONDS", 10.0, minimum=1.0)
        # Named per supervisor so a stale marker of an earlier process in the same /tmp never
        # makes this one look draining; the workers inherit the name through the environment.
        self.marker = Path(self.env.setdefault("DRAIN_MARKER", f"/tmp/items-draining-{os.getpid()}"))
        self.stop_requested = False

    def _on_signal(self, signum: int, _frame: FrameType | None) -> None:
        self.stop_requested = True

    def run(self) -> int:
        self.marker.unlink(missing_ok=True)
        wipe_metrics_dir(self.env.get("PROMETHEUS_MULTIPROC_DIR"))
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, self._on_signal)
        child = subprocess.Popen(granian_command(self.env), env=self.env)
        try:
            while child.poll() is None:
                if self.stop_requested:
                    return self._drain_and_stop(child)
                time.sleep(0.1)
            log.error("granian exited with status %s", child.returncode)
            return child.returncode or 1
        finally:
            self.marker.unlink(missing_ok=True)
            if child.poll() is None:
                child.kill()

    def _drain_and_stop(self, child: subprocess.Popen[bytes]) -> int:
        self.marker.touch()
        log.info("draining for %.1f s before a graceful stop", self.drain_s)
        deadline = time.monotonic() + self.drain_s
        while time.monotonic() < deadline and child.poll() is None:
            time.sleep(0.1)
        child.send_signal(signal.SIGTERM)
        try:
            code = child.wait(timeout=self.graceful_s + 1)
        except subprocess.TimeoutExpired:
            log.warning("granian did not stop within %.0f s: killing it", self.graceful_s)
            child.kill()
            code = child.wait()
        log.info("stopped (granian status %s)", code)
        return 0 if code in (0, -signal.SIGTERM) else code


def main() -> int:
    env = os.environ
    configure_logging((env.get("LOG_LEVEL") or "INFO").upper(), default_replica(env), default_zone(env))
    try:
        return Supervisor(env).run()
    except ConfigError as exc:
        log.error("bad configuration: %s", exc)
        return 2


if __name__ == "__main__":
    sys.exit(main())
