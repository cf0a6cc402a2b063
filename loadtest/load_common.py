"""Pure helpers of the locustfile (no Locust import, so tests can import them without gevent).

Shape arithmetic (users wanted at time t) and the target-host rule.
"""

from __future__ import annotations

import ipaddress
import math
from urllib.parse import urlsplit

# Names a target may have besides loopback: the proxy's compose service name (the web UI runs
# inside the compose project) and localhost.
ALLOWED_NAMES = frozenset({"localhost", "traefik"})


def host_allowed(url: str, extra: set[str] | frozenset[str] = frozenset()) -> bool:
    """Loopback, the proxy's compose name, or a host the caller listed explicitly."""
    try:
        parts = urlsplit(url)
        name = (parts.hostname or "").lower()
    except ValueError:
        return False
    if parts.scheme not in ("http", "https") or not name:
        return False
    if name in ALLOWED_NAMES or name in extra:
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def steady_users(t: float, users: int, run_time: float) -> int | None:
    """`users` until run_time, then None (stop)."""
    return users if t < run_time else None


def step_users(t: float, users: int, run_time: float, steps: int) -> int | None:
    """`steps` equal steps up to `users`, each run_time/steps long; None after run_time."""
    if t >= run_time:
        return None
    steps = max(1, min(steps, users))
    index = min(int(t / (run_time / steps)), steps - 1)
    return max(1, math.ceil(users * (index + 1) / steps))


def spike_users(t: float, users: int, run_time: float) -> int | None:
    """A quarter of `users` (at least 1), all of them in the middle third; None after run_time."""
    if t >= run_time:
        return None
    base = max(1, users // 4)
    return users if run_time / 3 <= t < 2 * run_time / 3 else base
