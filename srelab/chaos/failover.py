"""Redis HA under chaos: node roles, the Sentinels' promotion, the first write after the fault.

Figures of every run whose faults touch a Redis node or a Sentinel in the HA topology
(compose/redis-ha.yaml), measured from the fault's inject:

- the promotion: the first `+switch-master` line in the Sentinels' logs (docker's own timestamps,
  read after the run with `docker logs --timestamps --since`), with `+sdown`/`+odown` of the
  primary before it;
- the first write acknowledged after the fault: the first POST answered 2xx with an id that
  *started* after the inject (writes.jsonl: completion time minus latency), and the failed POSTs
  before it;
- the failed requests (events.tsv) outside the failover window [inject, that first write + grace];
- after the restore: every node's role (`INFO replication` through `docker exec` as the admin ACL
  user, srelab/stack/redis_acl.py), whether the old primary came back as a replica and every replica's
  `master_link_status` is up;
- a disconnected primary (split brain): writes tried on it through `docker exec` while it is cut
  off (a key of its own, expiring); it must refuse them (NOREPLICAS: min-replicas-to-write) within
  a few seconds. Whatever it accepted is discarded when it rejoins as a replica.

The parsing and the figures are pure functions (plain inputs); `RedisProbe` does the docker part.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field

from srelab.chaos.model import FailoverGoal
from srelab.errors import last_line
from srelab.stack.topology import parse_info

PRIMARY, REPLICA, DOWN, UNKNOWN = "primary", "replica", "down", "unknown"
SENTINEL_EVENTS = ("+sdown", "+odown", "+switch-master", "+failover-end", "+convert-to-slave", "+tilt")
PROBE_KEY = "srelab:chaos:split-brain-probe"
_LOG_LINE = re.compile(r"^(\S+)\s+(.*)$")
_EVENT = re.compile(r"(?:^|\s)([+-][a-z-]+)\s+(.*)$")


class NodeState(BaseModel):
    """One Redis node as `INFO replication` shows it."""

    service: str
    role: str = UNKNOWN  # primary | replica | down | unknown
    master_host: str | None = None  # a replica's primary (an address)
    link_up: bool | None = None  # a replica's master_link_status
    connected_replicas: int | None = None  # a primary's
    error: str | None = None


class SentinelEvent(BaseModel):
    t: float  # epoch (docker's timestamp of the log line)
    sentinel: str
    event: str  # +switch-master, +sdown, ...
    detail: str


class SplitBrainProbe(BaseModel):
    """Writes tried on a disconnected primary while it was cut off."""

    service: str
    tried: int = 0
    accepted: int = 0
    refused: int = 0  # NOREPLICAS (or READONLY once it is a replica)
    last_accepted_s: float | None = None  # after the inject
    first_refused_s: float | None = None
    answers: list[str] = Field(default_factory=list)  # distinct answers seen (first of each)


class FailoverFigures(BaseModel):
    fault: int  # the first fault that touched Redis or a Sentinel
    services: list[str] = Field(default_factory=list)  # what that fault hit
    injected_at: float
    old_primary: str | None = None
    new_primary: str | None = None  # primary after the run
    promoted: bool = False  # a +switch-master after the inject
    switch_at: float | None = None
    failover_s: float | None = None  # inject -> first +switch-master
    sdown_s: float | None = None  # inject -> first +sdown of the primary
    odown_s: float | None = None
    effective_at: float | None = None  # the inject action's end: writes counted from here
    first_write_at: float | None = None  # completion of the first acknowledged POST started after it
    first_write_s: float | None = None  # inject -> that acknowledgement
    writes_failed_before: int = 0  # POSTs started after the inject that failed before it
    errors_total: int = 0  # failed requests from the inject to the end of the load
    errors_outside_window: int = 0  # failed requests outside [inject, first write + grace]
    window_grace_s: float = 1.0
    nodes_before: list[NodeState] = Field(default_factory=list)
    nodes_after: list[NodeState] = Field(default_factory=list)
    old_primary_rejoined: bool | None = None  # a replica of the new primary, link up
    replicas_linked: bool | None = None  # every replica's link up, one primary
    # last restore -> all linked, as seen by the poll that starts once the load ended and the restore
    # was verified: an upper bound (None: not within rejoin_wait_s)
    linked_after_s: float | None = None
    split_brain: list[SplitBrainProbe] = Field(default_factory=list)
    sentinel_events: list[SentinelEvent] = Field(default_factory=list)
    notes: list[str] = Field(default_factory=list)


# -- parsing (pure) ---------------------------------------------------------------------------------
def parse_replication(service: str, text: str) -> NodeState:
    """`INFO replication` output -> NodeState."""
    fields = parse_info(text)
    role = fields.get("role")
    if role == "master":
        count = fields.get("connected_slaves")
        return NodeState(service=service, role=PRIMARY, connected_replicas=int(count) if count else None)
    if role == "slave":
        return NodeState(
            service=service,
            role=REPLICA,
            master_host=fields.get("master_host"),
            link_up=fields.get("master_link_status") == "up",
        )
    return NodeState(service=service, role=UNKNOWN, error=f"no role in: {text.strip()[:80]!r}")


def parse_docker_time(stamp: str) -> float | None:
    """docker's RFC 3339 timestamp with nanoseconds (2026-01-02T03:04:05.123456789Z) -> epoch."""
    match = re.match(r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d+))?(Z|[+-]\d\d:\d\d)$", stamp)
    if not match:
        return None
    base, frac, zone = match.groups()
    zone = "+00:00" if zone == "Z" else zone
    try:
        whole = datetime.fromisoformat(base + zone).timestamp()
    except ValueError:
        return None
    return whole + (float("0." + frac) if frac else 0.0)


def parse_sentinel_log(sentinel: str, text: str) -> list[SentinelEvent]:
    """Lines of `docker logs --timestamps` of a Sentinel -> its failover events."""
    found = []
    for line in text.splitlines():
        head = _LOG_LINE.match(line.strip())
        if not head:
            continue
        t = parse_docker_time(head.group(1))
        event = _EVENT.search(head.group(2))
        if t is None or not event or event.group(1) not in SENTINEL_EVENTS:
            continue
        found.append(SentinelEvent(t=t, sentinel=sentinel, event=event.group(1), detail=event.group(2)))
    return sorted(found, key=lambda e: e.t)


def first_event(
    events: Iterable[SentinelEvent], name: str, after: float, master_only: bool = False
) -> SentinelEvent | None:
    """The earliest `name` event at or after `after` (`+sdown master ...` only, if asked)."""
    hits = [
        e
        for e in events
        if e.event == name and e.t >= after and (not master_only or e.detail.startswith("master "))
    ]
    return min(hits, key=lambda e: e.t, default=None)


def first_acknowledged_write(
    writes: Iterable[tuple[float, float | None, bool]], after: float
) -> tuple[float | None, int]:
    """writes: (completion epoch, latency ms, acknowledged) per POST attempt. The completion time of
    the first acknowledged POST that started at or after `after`, and how many POSTs started after
    it failed before that acknowledgement."""
    started = []
    for end, latency_ms, ok in writes:
        start = end - (latency_ms or 0.0) / 1000.0
        if start >= after:
            started.append((end, ok))
    acks = [end for end, ok in started if ok]
    first = min(acks, default=None)
    failed = sum(1 for end, ok in started if not ok and (first is None or end <= first))
    return first, failed


def errors_outside(failures: Iterable[float], start: float, end: float | None, grace_s: float) -> int:
    """Failed requests (completion epochs, from `start` on) outside [start, end + grace]; with no end
    (no write acknowledged after the fault) the window never closed: none outside."""
    limit = None if end is None else end + grace_s
    return sum(1 for t in failures if t >= start and limit is not None and t > limit)


def linked(nodes: Sequence[NodeState], old_primary: str | None, ips: dict[str, str]) -> tuple[bool, bool]:
    """(every replica linked to the one primary, the old primary is one of them) for node states."""
    primaries = [n for n in nodes if n.role == PRIMARY]
    if len(primaries) != 1:
        return False, False
    primary_ip = ips.get(primaries[0].service)
    replicas = [n for n in nodes if n.service != primaries[0].service]
    all_linked = all(
        n.role == REPLICA and n.link_up and (primary_ip is None or n.master_host == primary_ip)
        for n in replicas
    )
    old = next((n for n in nodes if n.service == old_primary), None)
    if old is None:
        return all_linked, False
    rejoined = old.role == PRIMARY or (
        old.role == REPLICA and bool(old.link_up) and (primary_ip is None or old.master_host == primary_ip)
    )
    return all_linked, rejoined


def compute(
    *,
    fault: int,
    services: Sequence[str],
    injected_at: float,
    nodes_before: Sequence[NodeState],
    nodes_after: Sequence[NodeState],
    ips: dict[str, str],
    sentinel_events: Sequence[SentinelEvent],
    writes: Iterable[tuple[float, float | None, bool]],
    failures: Iterable[float],
    linked_after_s: float | None,
    grace_s: float = 1.0,
    split_brain: Sequence[SplitBrainProbe] = (),
    effective_at: float | None = None,
) -> FailoverFigures:
    """The failover figures of a run from plain inputs (see the module's docstring).

    injected_at is when the inject action began (every figure counts from it); effective_at when
    it returned: the fault is surely in effect from then on, so the first write after the fault
    is the first one acknowledged that started after it (a POST started during a `docker network
    disconnect` may still have reached the primary)."""
    old = next((n.service for n in nodes_before if n.role == PRIMARY), None)
    new = next((n.service for n in nodes_after if n.role == PRIMARY), None)
    fig = FailoverFigures(
        fault=fault,
        services=list(services),
        injected_at=injected_at,
        old_primary=old,
        new_primary=new,
        window_grace_s=grace_s,
        nodes_before=list(nodes_before),
        nodes_after=list(nodes_after),
        split_brain=list(split_brain),
        sentinel_events=[e for e in sentinel_events if e.t >= injected_at - 1.0],
        linked_after_s=linked_after_s,
        effective_at=effective_at,
    )
    switch = first_event(sentinel_events, "+switch-master", injected_at)
    if switch is not None:
        fig.promoted, fig.switch_at = True, switch.t
        fig.failover_s = round(switch.t - injected_at, 3)
    for name, attr in (("+sdown", "sdown_s"), ("+odown", "odown_s")):
        hit = first_event(sentinel_events, name, injected_at, master_only=True)
        if hit is not None:
            setattr(fig, attr, round(hit.t - injected_at, 3))
    first, failed = first_acknowledged_write(writes, max(effective_at or injected_at, injected_at))
    fig.first_write_at, fig.writes_failed_before = first, failed
    if first is not None:
        fig.first_write_s = round(first - injected_at, 3)
    times = [t for t in failures if t >= injected_at]
    fig.errors_total = len(times)
    fig.errors_outside_window = errors_outside(times, injected_at, first, grace_s)
    if nodes_after:
        fig.replicas_linked, fig.old_primary_rejoined = linked(nodes_after, old, ips)
    return fig


def check_failover(
    goal: FailoverGoal, fig: FailoverFigures | None, why: str = ""
) -> tuple[list[str], list[str]]:
    """(reasons to fail, notes) of the failover goal on the figures."""
    if fig is None:
        return [f"failover not measured{': ' + why if why else ''}"], []
    reasons: list[str] = []
    notes: list[str] = []
    if goal.promotion is True and not fig.promoted:
        reasons.append("no promotion: the Sentinels never switched the primary (+switch-master)")
    if goal.promotion is False and fig.promoted:
        reasons.append(
            f"a promotion happened ({fig.old_primary} -> {fig.new_primary}, {fig.failover_s:.2f} s after "
            "the fault) where none was expected"
        )
    if fig.promoted:
        text = f"promotion {fig.failover_s:.2f} s after the fault ({fig.old_primary} -> {fig.new_primary})"
        if goal.max_s is not None and fig.failover_s is not None and fig.failover_s > goal.max_s:
            reasons.append(f"{text} > {goal.max_s:g} s")
        else:
            notes.append(text + (f" (max {goal.max_s:g} s)" if goal.max_s is not None else ""))
    elif goal.promotion is not True:
        notes.append("no promotion")
    if goal.max_write_s is not None:
        if fig.first_write_s is None:
            reasons.append("no write acknowledged after the fault")
        elif fig.first_write_s > goal.max_write_s:
            reasons.append(
                f"first write acknowledged {fig.first_write_s:.2f} s after the fault > {goal.max_write_s:g} s"
            )
        else:
            notes.append(f"first write acknowledged {fig.first_write_s:.2f} s after the fault")
    if goal.errors_in_window_only:
        if fig.errors_outside_window:
            reasons.append(
                f"{fig.errors_outside_window} failed request(s) outside the failover window "
                f"(fault .. first acknowledged write + {fig.window_grace_s:g} s)"
            )
        else:
            notes.append(f"{fig.errors_total} failed request(s), all inside the failover window")
    if goal.rejoin:
        if not fig.replicas_linked:
            reasons.append(
                "after the restore, not every replica linked to one primary: "
                + ", ".join(
                    f"{n.service} {n.role}" + (" link down" if n.link_up is False else "")
                    for n in fig.nodes_after
                )
            )
        elif fig.promoted and not fig.old_primary_rejoined:
            reasons.append(f"the old primary {fig.old_primary} did not rejoin as a replica")
        else:
            notes.append(
                "every replica linked after the restore"
                + (f" (seen {fig.linked_after_s:.1f} s after it)" if fig.linked_after_s is not None else "")
                + (f"; {fig.old_primary} rejoined as a replica" if fig.promoted else "")
            )
    if goal.max_isolated_write_s is not None:
        if not fig.split_brain:
            reasons.append("split brain not probed (no disconnected primary)")
        for probe in fig.split_brain:
            if probe.first_refused_s is None:
                reasons.append(
                    f"{probe.service}: cut off, it never refused a write ({probe.accepted} accepted)"
                )
            elif probe.last_accepted_s is not None and probe.last_accepted_s > goal.max_isolated_write_s:
                reasons.append(
                    f"{probe.service}: cut off, it accepted writes until {probe.last_accepted_s:.1f} s "
                    f"> {goal.max_isolated_write_s:g} s"
                )
            else:
                notes.append(
                    f"{probe.service}: cut off, refused writes from {probe.first_refused_s:.1f} s "
                    f"({probe.accepted} accepted before, {probe.refused} refused)"
                )
    return reasons, notes


# -- docker (the runner's side) ---------------------------------------------------------------------
SENTINEL_CLI = (
    'REDISCLI_AUTH="$(cat /run/secrets/sentinel-password)" exec redis-cli --no-auth-warning -p 26379 "$@"'
)


class RedisProbe:
    """Asks the Redis nodes (admin, `docker exec`) and reads the Sentinels' logs."""

    def __init__(self, driver: Any, master_name: str = "items") -> None:
        self.driver = driver  # srelab.chaos.faults.FaultDriver (container lookup, docker client)
        self.master_name = master_name

    def _exec(self, service: str, command: list[str], timeout_s: float = 5.0) -> str:
        c = self.driver.container(service)
        return str(self.driver.docker.container.execute(c, ["timeout", str(int(timeout_s)), *command]))

    def node(self, service: str) -> NodeState:
        from srelab.stack.redis_acl import admin_cli

        try:
            c = self.driver.container(service)
            c.reload()
            if not c.state.running or c.state.paused:
                return NodeState(service=service, role=DOWN)
            return parse_replication(service, self._exec(service, admin_cli("info", "replication")))
        except Exception as exc:  # a node that does not answer is a figure, not a crash
            return NodeState(service=service, role=DOWN, error=last_line(str(exc))[:200])

    def nodes(self, services: Sequence[str]) -> list[NodeState]:
        return [self.node(s) for s in services]

    def wait_linked(
        self, services: Sequence[str], old_primary: str | None, ips: dict[str, str], timeout_s: float
    ) -> tuple[list[NodeState], float | None]:
        """Poll until every replica is linked and the old primary is one of them (or a primary):
        the states and the epoch when that held (None: not within timeout_s)."""
        started = time.monotonic()
        while True:
            states = self.nodes(services)
            all_linked, rejoined = linked(states, old_primary, ips)
            if all_linked and (rejoined or old_primary is None):
                return states, time.time()
            if time.monotonic() - started >= timeout_s:
                return states, None
            time.sleep(0.5)

    def sentinel_events(
        self, sentinels: Sequence[str], since: float
    ) -> tuple[list[SentinelEvent], list[str]]:
        events: list[SentinelEvent] = []
        problems: list[str] = []
        for name in sentinels:
            try:
                c = self.driver.container(name)
                text = self.driver.docker.container.logs(
                    c, timestamps=True, since=datetime.fromtimestamp(since - 2.0)
                )
            except Exception as exc:
                problems.append(f"{name}: logs not read: {str(exc).strip()[:120]}")
                continue
            events += parse_sentinel_log(name, str(text or ""))
        return sorted(events, key=lambda e: e.t), problems

    def try_write(self, service: str) -> str:
        """SET the probe key (expiring) on `service`: 'OK', or the error (NOREPLICAS ...)."""
        from srelab.stack.redis_acl import admin_cli

        try:
            out = self._exec(service, admin_cli("set", PROBE_KEY, str(time.time()), "PX", "60000"), 3.0)
        except Exception as exc:
            return last_line(str(getattr(exc, "stdout", "") or exc), type(exc).__name__)[:120]
        return last_line(out, "(no answer)")[:120]


class SplitBrainWatcher:
    """Tries a write on a cut-off primary every `interval_s` until stopped."""

    def __init__(self, probe: RedisProbe, service: str, injected_at: float, interval_s: float = 0.5) -> None:
        self.probe = probe
        self.result = SplitBrainProbe(service=service)
        self.injected_at = injected_at
        self.interval_s = interval_s
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, name=f"split-brain-{service}", daemon=True)

    def start(self) -> None:
        self.thread.start()

    def finish(self) -> SplitBrainProbe:
        self.stop.set()
        self.thread.join(timeout=10)
        return self.result

    def _run(self) -> None:
        r = self.result
        while not self.stop.is_set():
            answer = self.probe.try_write(r.service)
            at = round(time.time() - self.injected_at, 3)
            r.tried += 1
            kind = answer.split(" ")[0] if answer else "?"
            if kind not in [a.split(" ")[0] for a in r.answers]:
                r.answers.append(f"{answer} (+{at:.1f}s)")
            if answer == "OK":
                r.accepted += 1
                r.last_accepted_s = at
            elif kind in ("NOREPLICAS", "READONLY", "(error)"):
                r.refused += 1
                if r.first_refused_s is None:
                    r.first_refused_s = at
            self.stop.wait(self.interval_s)
