"""The contract between the locustfile and the harness (srelab/load), written once.

Pure stdlib: the locustfile imports it as `load_common` (Locust puts the locustfile's folder on
sys.path; the Locust image copies both files), the harness through srelab/load/contract.py, and
tests as `loadtest.load_common`. No Locust import, so importing it never monkey-patches gevent.

What is here: endpoint names, the events.tsv and writes.jsonl line formats, the target-host rule,
load-shape and user-class names, and the shape arithmetic (users wanted at time t).
"""

from __future__ import annotations

import ipaddress
import json
import math
from urllib.parse import urlsplit

# --------------------------------------------------------------------------- endpoint names

# Locust request names; also the endpoint keys of the timeline and the summary.
EP_LIST = "GET /items"
EP_GET = "GET /items/<id>"
EP_POST = "POST /items"
ENDPOINTS: tuple[str, ...] = (EP_LIST, EP_GET, EP_POST)

# --------------------------------------------------------------------------- classes by name

# User classes of the locustfile, named on Locust's command line (the harness picks per scenario).
READER_USER = "ReaderUser"
WRITER_USER = "WriterUser"
LIST_USER = "ListUser"
USER_CLASSES: tuple[str, ...] = (READER_USER, WRITER_USER, LIST_USER)

# --load-shape value -> the locustfile's LoadTestShape class (the harness's Shape enum values).
SHAPE_CLASSES: dict[str, str] = {"steady": "SteadyShape", "step": "StepShape", "spike": "SpikeShape"}
DEFAULT_SHAPE = "steady"

# --------------------------------------------------------------------------- events.tsv

# One line per request, by completion time:
#   <epoch end>\t<name>\t<status>\t<latency ms>\t<X-Served-By>\t<exception type>\t<exception text>
# and marker lines starting with '#': `#start\t<epoch>`, `#stop\t<epoch>`, `#users\t<epoch>\t<n>`.
MARKER_START = "start"
MARKER_STOP = "stop"
MARKER_USERS = "users"


def clean(text: str) -> str:
    """Free text made safe for one TSV field (no tab or line break), at most 200 characters."""
    return text.replace("\t", " ").replace("\n", " ").replace("\r", " ")[:200]


def event_line(
    t: float,
    name: str,
    status: int,
    latency_ms: float,
    replica: str = "",
    exc_type: str = "",
    exc_msg: str = "",
) -> str:
    """One request line of events.tsv (without the newline)."""
    return f"{t:.4f}\t{name}\t{status}\t{latency_ms:.2f}\t{clean(replica)}\t{exc_type}\t{clean(exc_msg)}"


def marker_line(name: str, t: float, value: float | None = None) -> str:
    """A `#start` / `#stop` / `#users` marker line of events.tsv (without the newline)."""
    return f"#{name}\t{t:.4f}" + ("" if value is None else f"\t{value:g}")


# --------------------------------------------------------------------------- writes.jsonl

# One JSON object per POST attempt, these keys in this order (srelab.load.WriteRecord reads it).
WRITE_FIELDS: tuple[str, ...] = (
    "t", "key", "name", "attempt", "status", "id", "replica", "latency_ms", "error",
)  # fmt: skip


def write_line(
    *,
    t: float,
    key: str,
    name: str,
    attempt: int,
    status: int,
    item_id: str | None,
    replica: str | None,
    latency_ms: float | None,
    error: str | None,
) -> str:
    """One writes.jsonl line (without the newline): compact JSON with the WRITE_FIELDS keys."""
    values = (
        round(t, 4),
        key,
        name,
        attempt,
        status,
        item_id,
        replica or None,
        None if latency_ms is None else round(latency_ms, 2),
        error,
    )
    return json.dumps(dict(zip(WRITE_FIELDS, values, strict=True)), separators=(",", ":"))


# --------------------------------------------------------------------------- target hosts

# Names a target may have besides loopback addresses. The harness (on the host) allows localhost;
# the locustfile also the proxy's compose service name (the web UI runs inside the compose project).
LOCAL_NAMES = frozenset({"localhost"})
ALLOWED_NAMES = LOCAL_NAMES | {"traefik"}


def host_of(url: str) -> str | None:
    """The lower-cased host name of an http:// or https:// URL; None for anything else."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return None
    if parts.scheme not in ("http", "https"):
        return None
    return (parts.hostname or "").lower() or None


def host_allowed(
    url: str, extra: set[str] | frozenset[str] = frozenset(), names: frozenset[str] = ALLOWED_NAMES
) -> bool:
    """Loopback, one of `names`, or a host the caller listed explicitly (`extra`, lower case)."""
    name = host_of(url)
    if name is None:
        return False
    if name in names or name in extra:
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


# --------------------------------------------------------------------------- shapes


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
