"""Is a restored target healthy and back in rotation? Polled through the proxy, like a client.

- web replica: GET /livez through the proxy every `interval_s`; back in rotation = the first
  response with X-Served-By equal to the replica's name received after the reference moment.
- redis: GET /readyz through the proxy answers 200 (a replica reached Redis again).
- proxy: GET /livez through the proxy answers 200.

The reference moment is the container's new start (State.StartedAt) when it was restarted, else
the end of the restore action (unpause, reconnect). Docker health is polled alongside.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import datetime

import requests

from srelab.chaos.model import ROLE_PROXY, ROLE_REDIS
from srelab.chaos.verdict import RotationFigures

HealthFn = Callable[[], tuple[str | None, datetime | None]]  # (health or status, started_at)


def probe_path(role: str) -> str:
    return "/readyz" if role == ROLE_REDIS else "/livez"


def answered(role: str, service: str, response: requests.Response) -> bool:
    if role in (ROLE_REDIS, ROLE_PROXY):
        return response.status_code == 200
    return response.status_code == 200 and response.headers.get("X-Served-By") == service


def watch(
    proxy_url: str,
    service: str,
    role: str,
    fault: int,
    health: HealthFn,
    restarted: bool,
    not_before: float,
    restore_end: Callable[[], float | None],
    timeout_s: float = 30.0,
    interval_s: float = 0.1,
    stop: threading.Event | None = None,
) -> RotationFigures:
    """Poll until the target is healthy and back in rotation (or timeout_s passes).

    restarted: the fault restarts the container (kill, crash, stop, restart): the reference is its
    new StartedAt (later than `not_before`). Otherwise the reference is restore_end().
    """
    figures = RotationFigures(fault=fault, service=service)
    session = requests.Session()
    deadline = time.time() + timeout_s
    url = proxy_url + probe_path(role)
    ref: float | None = None
    seen_at: float | None = None
    healthy_at: float | None = None
    last_health = 0.0
    while time.time() < deadline and not (stop is not None and stop.is_set()):
        now = time.time()
        if now - last_health >= 0.5 or ref is None:
            last_health = now
            try:
                status, started = health()
            except Exception as exc:
                status, started = None, None
                figures.error = f"inspect: {exc}"
            if ref is None:
                if restarted and started is not None and started.timestamp() > not_before:
                    ref = started.timestamp()
                    figures.reference = "container start"
                elif not restarted and restore_end() is not None:
                    ref = restore_end()
                    figures.reference = "restore"
            if ref is not None and healthy_at is None and status in ("healthy", "running"):
                healthy_at = now
        if ref is not None and seen_at is None:
            try:
                response = session.get(url, timeout=1.0)
            except requests.RequestException:
                response = None
            if response is not None and answered(role, service, response) and time.time() >= ref:
                seen_at = time.time()
        if ref is not None and seen_at is not None and healthy_at is not None:
            break
        time.sleep(interval_s)
    figures.ref_t = ref
    if ref is None:
        figures.error = figures.error or (
            "the container never restarted" if restarted else "the restore never completed"
        )
        return figures
    if healthy_at is not None:
        figures.healthy_s = round(max(healthy_at - ref, 0.0), 3)
    if seen_at is not None:
        figures.back_in_rotation_s = round(max(seen_at - ref, 0.0), 3)
        end = restore_end()
        if end is not None:
            figures.since_restore_s = round(seen_at - end, 3)
    elif figures.error is None:
        figures.error = f"not seen through the proxy within {timeout_s:g} s"
    return figures
