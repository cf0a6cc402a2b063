"""Run one experiment: load, planned faults, restores that always run, audit, verdicts, report.

Threads:
- the load harness (srelab.load.run_load) runs in a worker thread; its on_second buckets feed the
  live view through a queue. With `load.tool: hey` the real hey runs instead (srelab.load.hey):
  it reports only when it ends, so t0 comes from its start (on_start) and the buckets arrive
  after the run;
- each (fault, target service) pair gets a thread that sleeps until its time (counted from the
  load's t0, the start of its first one-second bucket), injects, sleeps until the restore time and
  restores in a `finally`;
- rotation watchers poll the proxy for a restored target;
- the main thread drains the load's buckets and handles Ctrl-C.

What the run does is told to its observers as run events (events.py): the live view and the
event-line printer (view.py) are observers, and so may be a caller's own (`observers=`). The
journal is built next to its model (journal.py: new_journal, record_load); analysis.py and
verdict.py turn it into figures and verdicts.

Restores always run: on schedule, early when the load ends or the run is aborted (Ctrl-C, SIGTERM,
SIGHUP or an error), and once more from a safety net for anything injected and not restored. A
second signal while restoring is ignored (and said so). Before each inject its restore is written
to disk (pending.py), so `srelab chaos restore` can undo what a run killed outright left. Every
restore is recorded, then verified (running, unpaused, healthy, on its networks, back in rotation)
before the run reports.
"""

from __future__ import annotations

import contextlib
import queue
import signal
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any

import requests
from rich.console import Console

from srelab.chaos.analysis import analyse, read_event_latencies
from srelab.chaos.annotate import Annotator
from srelab.chaos.audit import AuditResult, audit_keyless, audit_writes
from srelab.chaos.detection import (
    RESOLVE_WAIT_S,
    AlertWatcher,
    Detection,
    FaultWindow,
    judge,
    measure,
    monitoring_problem,
)
from srelab.chaos.events import ObserverRegistry, RunObserver, RunStart
from srelab.chaos.failover import (
    FailoverFigures,
    NodeState,
    RedisProbe,
    SplitBrainWatcher,
    compute,
)
from srelab.chaos.faults import FaultDriver, FaultError, Snapshot
from srelab.chaos.journal import EventRecord, FaultRecord, Journal, new_journal, record_load
from srelab.chaos.model import (
    ROLE_PROXY,
    ROLE_REDIS,
    ROLE_SENTINEL,
    ROLE_WEB,
    SELF_HEALING_ACTIONS,
    Action,
    Experiment,
    ExperimentError,
    Fault,
)
from srelab.chaos.pending import PendingLog, entry, read_pending, well_known
from srelab.chaos.rotation import watch
from srelab.chaos.targets import (
    Candidate,
    Selection,
    compose_candidates,
    resolved_role,
    select_all,
    with_redis_roles,
)
from srelab.chaos.verdict import amend, charge_unplaced, check_overlaps, fault_overlap
from srelab.chaos.view import ConsoleLog, LiveView
from srelab.errors import LabError
from srelab.load import LoadResult, LoadSpec, SecondBucket, run_load
from srelab.load.hey import UNANSWERED_KIND, HeyOptions, run_hey
from srelab.stack.settings import Settings

FIRST_BUCKET_TIMEOUT_S = 45.0  # Locust import + spawn + the harness's 1.5 s emit lag
ROTATION_TIMEOUT_S = 45.0
RESTARTED_BY_RESTORE = frozenset({Action.KILL, Action.STOP})
NETWORK_ACTIONS = frozenset({Action.DELAY, Action.LOSS})
LoadFn = Callable[..., LoadResult]
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


class RunSignal(KeyboardInterrupt):
    """SIGTERM or SIGHUP during a run: handled like Ctrl-C (restore, journal, re-raise)."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


@dataclass
class Task:
    """One fault on one service."""

    record: FaultRecord
    fault: Fault
    role: str
    snapshot: Snapshot
    attempted: bool = False  # inject was tried (so a restore must run)
    thread: threading.Thread | None = None
    watcher: threading.Thread | None = None
    split_brain: SplitBrainWatcher | None = None  # a disconnected Redis primary (HA)


def run_folder(settings: Settings, name: str, now: datetime | None = None) -> Path:
    stamp = (now or datetime.now(UTC)).strftime("%Y%m%dT%H%M%SZ")
    return Path(settings.lab_results_dir) / f"chaos-{name}-{stamp}"


class ChaosRunner:
    def __init__(
        self,
        experiment: Experiment,
        source: Path,
        settings: Settings,
        *,
        console: Console | None = None,
        driver: FaultDriver | None = None,
        load_fn: LoadFn = run_load,
        hey_fn: LoadFn = run_hey,
        candidates: list[Candidate] | None = None,
        out_dir: Path | None = None,
        live: bool | None = None,
        seed: int | None = None,
        annotate: bool = True,
        proxy_url: str | None = None,
        pending_path: Path | None = None,
        watch_alerts: bool = True,
        redis_probe: RedisProbe | None = None,
        observers: Sequence[RunObserver] = (),
    ) -> None:
        self.exp = experiment
        self.source = source
        self.settings = settings
        self.console = console or Console()
        self.load_fn = load_fn
        self.hey_fn = hey_fn
        self._candidates = candidates
        self.out_dir = out_dir or run_folder(settings, experiment.name)
        self.live = self.console.is_terminal if live is None else live
        self.seed = seed
        self.annotate = annotate
        self.proxy_url = (proxy_url or settings.proxy_url).rstrip("/")
        self._driver = driver
        self.pending_path = pending_path or well_known(Path(settings.lab_results_dir))
        self.pending: PendingLog | None = None
        self.tasks: list[Task] = []
        self.selections: dict[str, Selection] = {}
        self.preflight: dict[str, Snapshot] = {}
        self.abort = threading.Event()  # Ctrl-C or an error: skip pending injects, restore now
        self.load_done = threading.Event()
        self.stop_load = threading.Event()
        self.t0: float | None = None
        self.load_started: float | None = None  # hey's start (it has no buckets before its end)
        self.lock = threading.Lock()
        self.buckets: list[SecondBucket] = []  # the load's seconds, drained from the queue by the main thread
        self.events: list[EventRecord] = []
        self.annotator: Annotator | None = None
        self.bucket_queue: queue.Queue[SecondBucket] = queue.Queue()
        self.loader: threading.Thread | None = None
        self.watch_alerts = watch_alerts  # poll Alertmanager (detection); off in unit tests
        self.watcher: AlertWatcher | None = None
        self._probe = redis_probe
        self.topology: str = getattr(settings, "lab_redis_topology", "single")
        self.roles: dict[str, str] = {}  # targeted service -> its role when resolved
        self.redis_nodes: list[NodeState] = []  # every Redis node when the run starts
        self.redis_services: list[str] = []
        self.sentinels: list[str] = []
        self.nodes_after: list[NodeState] = []
        self.linked_at: float | None = None
        # The live view on a terminal, else event lines; then the caller's observers.
        shown: RunObserver = LiveView(self.console) if self.live else ConsoleLog(self.console)
        self.observers = ObserverRegistry([shown, *observers])

    # -- preparation (nothing is touched before this passes) ----------------------------------------
    @property
    def driver(self) -> FaultDriver:
        if self._driver is None:
            from srelab.stack.engine import compose_client, require_engine

            docker = compose_client(self.settings, ())
            require_engine(docker)
            self._driver = FaultDriver(docker, self.settings)
        return self._driver

    @property
    def redis_probe(self) -> RedisProbe | None:
        """Asks the Redis nodes their role (docker exec); None with a fake driver (unit tests)."""
        if self._probe is None and isinstance(self.driver, FaultDriver):
            self._probe = RedisProbe(self.driver, getattr(self.settings, "lab_redis_master_name", "items"))
        return self._probe

    def _redis_roles(self, candidates: list[Candidate]) -> list[Candidate]:
        """The Redis nodes' roles now (primary | replica | down), filled into the candidates."""
        self.redis_services = sorted(c.service for c in candidates if c.role == ROLE_REDIS)
        self.sentinels = sorted(c.service for c in candidates if c.role == ROLE_SENTINEL)
        if not self.redis_services:
            return candidates
        probe = self.redis_probe
        if probe is not None:
            self.redis_nodes = probe.nodes(self.redis_services)
        elif len(self.redis_services) == 1:  # no docker (unit tests): one node is the primary
            self.redis_nodes = [NodeState(service=self.redis_services[0], role="primary")]
        return with_redis_roles(candidates, {n.service: n.role for n in self.redis_nodes})

    def prepare(self) -> None:
        left = read_pending(self.pending_path)
        if left is not None and left.entries:
            raise LabError(
                f"run {left.run_id or '?'} left {len(left.entries)} restore(s) pending "
                f"({self.pending_path}): run `srelab chaos restore` first"
            )
        candidates = self._candidates if self._candidates is not None else compose_candidates(self.settings)
        if self.exp.topology is not None and self.exp.topology != self.topology:
            raise ExperimentError(
                f"{self.source}: topology: the experiment needs LAB_REDIS_TOPOLOGY={self.exp.topology}; "
                f"the stack runs {self.topology}"
            )
        candidates = self._redis_roles(candidates)
        self.selections = select_all(self.exp.targets, candidates, self.seed)
        roles = {c.service: c.role for c in candidates}
        by_name = {c.service: c for c in candidates}
        self.roles = {
            service: resolved_role(by_name[service]) if service in by_name else "other"
            for selection in self.selections.values()
            for service in selection.services
        }
        windows: dict[str, list[tuple[float, float, int]]] = {}
        for index, fault in enumerate(self.exp.faults):
            for service in self.selections[fault.target].services:
                for start, end, other in windows.get(service, []):
                    if fault.at < end and start < fault.restore_at:
                        raise ExperimentError(
                            f"{self.source}: faults.{index}: hits {service} while faults.{other} does "
                            "(targets resolve to the same container)"
                        )
                windows.setdefault(service, []).append((fault.at, fault.restore_at, index))
        # The stack must be healthy first: every web replica, Redis and the proxy.
        core = [c.service for c in candidates if c.role in (ROLE_WEB, ROLE_REDIS, ROLE_SENTINEL, ROLE_PROXY)]
        wanted = sorted(set(core) | set(windows))
        for service in wanted:
            try:
                snap = self.driver.snapshot(service)
            except FaultError as exc:
                raise LabError(str(exc)) from None
            state = "paused" if snap.paused else (snap.health or "running") if snap.running else "stopped"
            if state not in ("healthy", "running"):
                raise LabError(
                    f"{service} is {state}: the stack must be healthy before a chaos run "
                    "(`srelab status`, `srelab up`)"
                )
            self.preflight[service] = snap
        for index, fault in enumerate(self.exp.faults):
            for service in self.selections[fault.target].services:
                snap = self.preflight[service]
                if fault.network:
                    try:
                        self.driver.network_name(snap, fault.network)
                    except FaultError as exc:
                        raise ExperimentError(f"{self.source}: faults.{index}.network: {exc}") from None
                self.tasks.append(
                    Task(
                        record=FaultRecord(
                            index=index,
                            action=fault.action.value,
                            target=fault.target,
                            service=service,
                            description=fault.describe(),
                            planned_at_s=fault.at,
                            planned_restore_s=fault.restore_at,
                        ),
                        fault=fault,
                        role=roles.get(service, "other"),
                        snapshot=snap,
                    )
                )
        if any(t.fault.action in NETWORK_ACTIONS for t in self.tasks):
            with self.console.status("building the network helper image"):
                try:
                    self.driver.ensure_helper()
                except FaultError as exc:
                    raise LabError(str(exc)) from None

    # -- recording ----------------------------------------------------------------------------------
    def _say(self, text: str) -> None:
        self.observers.message(text)

    def _record_fault(
        self, rec: FaultRecord, kind: str, t: float, end: float | None = None, **fields: Any
    ) -> EventRecord:
        """Record an event about fault `rec`: its index, action and service filled in."""
        return self._record(
            EventRecord(
                kind=kind,  # type: ignore[arg-type]
                t=t,
                end=time.time() if end is None else end,
                fault=rec.index,  # type: ignore[arg-type]
                action=rec.action,
                service=rec.service,
                **fields,
            )
        )

    def _record(self, ev: EventRecord) -> EventRecord:
        if self.t0 is not None:
            ev.offset_s = round(ev.t - self.t0, 3)
        with self.lock:
            self.events.append(ev)
        status = "ok" if ev.ok else f"FAILED: {ev.error}"
        at = f"t+{ev.offset_s:.1f}s " if ev.offset_s is not None else ""
        self._say(
            f"{at}{ev.kind} {ev.action} {ev.service}: {ev.detail or status}"
            + ("" if ev.ok else f" ({status})")
        )
        if self.annotator is not None and ev.kind != "note":
            self.annotator.event(
                ev.t,
                f"{ev.kind} {ev.action} {ev.service}: {ev.detail or status}",
                [ev.kind, ev.action],
                fields={"service": ev.service, "ok": ev.ok},
            )
        return ev

    # -- fault threads ------------------------------------------------------------------------------
    def _wait_until(self, epoch: float, until_load_done: bool) -> bool:
        """Sleep until `epoch`; False when aborted (or the load ended, if asked) first."""
        while True:
            if self.abort.is_set() or (until_load_done and self.load_done.is_set()):
                return False
            left = epoch - time.time()
            if left <= 0:
                return True
            time.sleep(min(left, 0.1))

    def _drive(self, task: Task) -> None:
        assert self.t0 is not None
        fault, rec = task.fault, task.record
        try:
            if not self._wait_until(self.t0 + fault.at, until_load_done=True):
                rec.skipped = "aborted" if self.abort.is_set() else "the load ended first"
                self._record_fault(rec, "skipped", time.time(), ok=False, detail=rec.skipped)
                self.observers.fault_skipped(rec)
                return
            task.attempted = True
            self.observers.fault_injecting(rec)
            if self.pending is not None:  # on disk before the fault exists
                self.pending.add(entry(rec.index, fault, task.snapshot))
            started = time.time()
            try:
                outcome = self.driver.inject(fault, task.snapshot)
            except (FaultError, LabError) as exc:
                self._record_fault(rec, "inject", started, ok=False, error=str(exc))
                self.observers.fault_injected(rec)
            else:
                rec.inject_ok, rec.injected_at, rec.method = True, started, outcome.method
                rec.inject_offset_s = round(started - self.t0, 3)
                self._record_fault(rec, "inject", started, detail=outcome.detail, method=outcome.method)
                self.observers.fault_injected(rec)
                self._watch_split_brain(task, started)
                if fault.action in SELF_HEALING_ACTIONS:
                    self._start_watcher(task, restarted=True, not_before=started)
            self._wait_until(self.t0 + fault.restore_at, until_load_done=True)
        finally:
            if task.split_brain is not None:
                task.split_brain.finish()
            if task.attempted:
                self._restore(task, "restore")
                if fault.action not in SELF_HEALING_ACTIONS and fault.action not in (Action.CPU,):
                    self._start_watcher(
                        task,
                        restarted=fault.action in RESTARTED_BY_RESTORE,
                        not_before=rec.injected_at or time.time(),
                    )

    def _watch_split_brain(self, task: Task, injected_at: float) -> None:
        """A Redis primary cut off the network (HA): try writes on it until its restore."""
        if (
            task.fault.action != Action.DISCONNECT
            or self.topology != "ha"
            or self.roles.get(task.record.service) != "redis-primary"
            or self.redis_probe is None
        ):
            return
        task.split_brain = SplitBrainWatcher(self.redis_probe, task.record.service, injected_at)
        task.split_brain.start()

    def _redis_tasks(self) -> list[Task]:
        return [t for t in self.tasks if t.role in (ROLE_REDIS, ROLE_SENTINEL)]

    def _wait_rejoined(self) -> None:
        """After the restore (HA, Redis touched): one primary, every replica linked, the old
        primary among them; how long after the last restore that held."""
        tasks = [t for t in self._redis_tasks() if t.record.inject_ok]
        probe = self.redis_probe
        if self.topology != "ha" or not tasks or probe is None or not self.redis_services:
            return
        goal = self.exp.hypothesis.failover
        timeout = goal.rejoin_wait_s if goal is not None else 30.0
        old = next((n.service for n in self.redis_nodes if n.role == "primary"), None)
        with self.console.status("Redis: waiting for every replica to be linked"):
            self.nodes_after, self.linked_at = probe.wait_linked(
                self.redis_services, old, self._node_ips(), timeout
            )

    def _node_ips(self) -> dict[str, str]:
        ips = {}
        for service in self.redis_services:
            snap = self.preflight.get(service)
            if snap is None or not snap.ips:
                continue
            backend = [ip for net, ip in snap.ips.items() if net.endswith("_backend") or net == "backend"]
            ips[service] = backend[0] if backend else next(iter(snap.ips.values()))
        return ips

    def _failover(self, journal: Journal, load: LoadResult | None) -> None:
        """The failover figures (srelab/chaos/failover.py) of an HA run whose faults touched Redis."""
        tasks = [t for t in self._redis_tasks() if t.record.inject_ok and t.record.injected_at]
        if self.topology != "ha":
            journal.failover_note = f"topology {self.topology}: no Sentinel, no failover"
            return
        if not tasks:
            journal.failover_note = "no fault touched a Redis node or a Sentinel"
            return
        probe = self.redis_probe
        if probe is None:
            journal.failover_note = "the Redis nodes could not be asked (no Docker)"
            return
        first = min(tasks, key=lambda t: t.record.injected_at or 0.0)
        injected_at = first.record.injected_at or 0.0
        events, problems = probe.sentinel_events(self.sentinels, journal.started_at)
        from srelab.chaos.analysis import read_failure_times

        failures = read_failure_times(self.out_dir / "load" / "events.tsv") or []
        writes = [(w.t, w.latency_ms, w.acknowledged) for w in load.write_records()] if load else []
        restores = [t.record.restored_at for t in tasks if t.record.restored_at]
        ends = [e.end for e in self.events if e.kind == "inject" and e.ok and e.fault == first.record.index]
        goal = self.exp.hypothesis.failover
        figures: FailoverFigures = compute(
            fault=first.record.index,
            services=sorted({t.record.service for t in self.tasks if t.record.index == first.record.index}),
            injected_at=injected_at,
            nodes_before=self.redis_nodes,
            nodes_after=self.nodes_after,
            ips=self._node_ips(),
            sentinel_events=events,
            writes=writes,
            failures=failures,
            linked_after_s=round(max(self.linked_at - max(restores), 0.0), 3)
            if self.linked_at is not None and restores
            else None,
            grace_s=goal.grace_s if goal is not None else 1.0,
            split_brain=[t.split_brain.result for t in self.tasks if t.split_brain is not None],
            effective_at=max(ends) if ends else None,
        )
        ip_to_service = {ip: s for s, ip in self._node_ips().items()}
        for e in figures.sentinel_events:
            if e.event == "+switch-master":
                parts = e.detail.split()
                if len(parts) >= 5:
                    figures.notes.append(
                        f"{e.sentinel}: +switch-master {ip_to_service.get(parts[1], parts[1])} -> "
                        f"{ip_to_service.get(parts[3], parts[3])} at t+{e.t - (self.t0 or e.t):.2f}s"
                    )
        figures.notes.extend(problems)
        journal.failover = figures

    def _restore(self, task: Task, kind: str) -> None:
        rec = task.record
        started = time.time()
        try:
            outcome = self.driver.restore(task.fault, task.snapshot)
        except (FaultError, LabError) as exc:
            self._record_fault(rec, kind, started, ok=False, error=str(exc))
            self.observers.fault_restored(rec)
            return
        rec.restore_ok, rec.restored_at = True, time.time()
        if self.pending is not None:
            self.pending.drop(f"{rec.index}/{rec.service}")
        if self.t0 is not None:
            rec.restore_offset_s = round(rec.restored_at - self.t0, 3)
        self._record_fault(rec, kind, started, end=rec.restored_at, detail=outcome.detail)
        self.observers.fault_restored(rec)

    def _start_watcher(self, task: Task, restarted: bool, not_before: float) -> None:
        if task.role not in (ROLE_WEB, ROLE_REDIS, ROLE_PROXY) or task.watcher is not None:
            return
        service = task.record.service

        def health() -> tuple[str | None, datetime | None]:
            c = self.driver.container(service)
            c.reload()
            state = c.state
            status = str(state.health.status) if state.health is not None and state.running else state.status
            return status, state.started_at

        def run() -> None:
            task.record.rotation = watch(
                self.proxy_url,
                service,
                task.role,
                task.record.index,
                health,
                restarted,
                not_before,
                lambda: task.record.restored_at,
                timeout_s=ROTATION_TIMEOUT_S,
            )

        task.watcher = threading.Thread(target=run, name=f"rotation-{service}", daemon=True)
        task.watcher.start()

    # -- the run ------------------------------------------------------------------------------------
    def run(self) -> Journal:
        """prepare() must have passed. Returns the journal (also written to out_dir)."""
        self.out_dir.mkdir(parents=True, exist_ok=True)
        self.pending = PendingLog(self.out_dir.name, self.out_dir, self.pending_path)
        started = time.time()
        spec, sizing_note = self._sized_spec()
        journal = new_journal(
            run_id=self.out_dir.name,
            experiment=self.exp,
            source=self.source,
            project=self.settings.project,
            proxy_url=self.proxy_url,
            started_at=started,
            spec=spec,
            selections=self.selections,
            roles=self.roles,
            topology=self.topology,
            redis_nodes=self.redis_nodes,
            faults=[t.record for t in self.tasks],
        )
        if sizing_note:
            journal.notes.append(sizing_note)
        if self.annotate:
            self.annotator = Annotator(self.settings, self.exp.name, journal.run_id, say=self._say)
            self.annotator.probe()
        journal.detection = self._start_watching()
        result: dict[str, Any] = {}
        interrupted = self._run_and_restore(journal, spec, result, started)
        load: LoadResult | None = result.get("result")
        self._record_outcome(journal, load, result.get("error"), interrupted is not None)
        self._judge_and_report(journal, load)
        self.observers.run_finished(journal)
        if interrupted is not None:
            raise interrupted
        return journal

    def _sized_spec(self) -> tuple[LoadSpec, str | None]:
        """The experiment's load spec, paced at capacity_share of the last bench when asked."""
        spec = self.exp.spec.model_copy(update={"label": f"chaos {self.exp.name}"})
        if self.exp.load.capacity_share is None:
            return spec, None
        from srelab.chaos.capacity import size_load

        sizing = size_load(
            spec,
            self.exp.load.capacity_share,
            self.exp.load.capacity_fallback_rps,
            Path(self.settings.lab_results_dir),
        )
        self._say(sizing.note)
        return sizing.spec, sizing.note

    def _run_and_restore(
        self, journal: Journal, spec: LoadSpec, result: dict[str, Any], started: float
    ) -> KeyboardInterrupt | None:
        """The load and the faults; then, whatever happened, restore, verify, wait for the Redis
        replicas and stop watching alerts. Returns the interrupt to re-raise once reported."""
        interrupted: KeyboardInterrupt | None = None
        with self._stop_signals_interrupt():
            try:
                self._run_load_and_faults(spec, result)
            except KeyboardInterrupt as exc:
                interrupted = exc
                journal.aborted = (
                    f"interrupted ({exc})" if isinstance(exc, RunSignal) else "interrupted (Ctrl-C)"
                )
            except Exception as exc:
                journal.aborted = f"{type(exc).__name__}: {exc}"
            finally:
                with self._shielded():
                    if journal.aborted:
                        self.abort.set()
                        self.stop_load.set()
                    if self.loader is not None:
                        self.loader.join(timeout=spec.timeout_s + 30)
                    self._finish_faults()
                    journal.restore_problems = self._verify()
                    journal.restore_verified = not journal.restore_problems
                    self._wait_rejoined()
                    if self.watcher is not None:
                        journal.detection = self._stop_watching(started, interrupted is not None)
        return interrupted

    def _record_outcome(
        self, journal: Journal, load: LoadResult | None, load_error: str | None, interrupted: bool
    ) -> None:
        """Into the journal: the actions, the load's result, failover figures, the write audit."""
        journal.events = sorted(self.events, key=lambda e: e.t)
        journal.t0 = self.t0
        record_load(journal, load, load_error, self.exp.load.tool)
        try:
            self._failover(journal, load)
        except Exception as exc:  # figures must not lose the run
            journal.failover_note = f"failover figures not measured: {type(exc).__name__}: {exc}"
        if self.exp.audit.enabled and load is not None and not interrupted:
            with self.console.status("write audit: reading back every acknowledged write"):
                journal.audit = self._audit(load)
        elif self.exp.audit.enabled:
            journal.audit_note = "write audit skipped: " + (
                "interrupted" if interrupted else "no load result"
            )
        if self.annotator is not None:
            journal.annotations = self.annotator.summary()
        journal.ended_at = time.time()

    def _judge_and_report(self, journal: Journal, load: LoadResult | None) -> None:
        """Figures and verdicts (analysis.py), what only the raw run shows, detection; the report."""
        buckets = load.timeline if load is not None else self.buckets
        latencies = read_event_latencies(self.out_dir / "load" / "events.tsv") if load is not None else None
        analyse(journal, self.exp, buckets, latencies)
        self._amend(journal, load, latencies)
        self._judge_detection(journal)
        from srelab.chaos.report import write_report

        write_report(journal, self.out_dir)
        if self.annotator is not None and journal.verdicts is not None and self.t0 is not None:
            self.annotator.event(
                journal.started_at,
                f"run {journal.run_id}: {journal.verdicts.overall.label}",
                ["run"],
                end_t=journal.ended_at,
            )

    # -- detection (srelab/chaos/detection.py) -----------------------------------------------------
    def _start_watching(self) -> Detection | None:
        """Poll Alertmanager during the run when the monitoring profile runs; say once if not."""
        if not self.watch_alerts:
            return Detection(status="not measured", reason="alert watching off for this run")
        am = self.settings.url(self.settings.lab_alertmanager_port).rstrip("/")
        problem = monitoring_problem(am, self.settings.url(self.settings.lab_prometheus_port).rstrip("/"))
        if problem:
            self._say(f"detection not measured: {problem} (`srelab up --profile monitoring`)")
            return Detection(status="not measured", reason=problem, source=am)
        self.watcher = AlertWatcher(am)
        self.watcher.start()
        return None

    def _stop_watching(self, started: float, interrupted: bool) -> Detection:
        """Wait (bounded) for the faults' alerts to resolve, stop polling, attribute the alerts."""
        watcher = self.watcher
        assert watcher is not None
        windows = [FaultWindow(**t.record.model_dump()) for t in self.tasks]
        first_inject = min((w.injected_at for w in windows if w.injected_at), default=None)
        deadline = time.time() + (0 if interrupted else RESOLVE_WAIT_S)
        if first_inject is not None and not interrupted:
            with self.console.status("detection: waiting for the faults' alerts to resolve"):
                while time.time() < deadline:
                    # Paging alerts only: a 10m slow-burn ticket stays for minutes by design.
                    open_ = [
                        a
                        for a in watcher.firing()
                        if a.starts_at >= first_inject - 1.0 and a.severity == "page"
                    ]
                    if not open_:
                        break
                    time.sleep(1.0)
        watcher.stop()
        detection = measure(watcher.alerts(), windows, started, time.time())
        detection.source, detection.polls, detection.poll_errors = watcher.url, watcher.polls, watcher.errors
        return detection

    def _judge_detection(self, journal: Journal) -> None:
        verdicts = journal.verdicts
        if verdicts is None:
            return
        reasons, notes, inconclusive = judge(journal.detection, self.exp.hypothesis)
        amend(verdicts, "detection", reasons, notes)
        if inconclusive:
            verdicts.detection.inconclusive.extend(inconclusive)
            if self.exp.hypothesis.detect or self.exp.hypothesis.no_alerts:
                verdicts.overall.inconclusive.extend(f"detection: {r}" for r in inconclusive)
        journal.exit_code = verdicts.exit_code

    @property
    def item_name(self) -> str:
        """The name in every keyless POST of the run: the write audit counts the items by it."""
        return f"hey-{self.out_dir.name}"[:200]

    def _audit(self, load: LoadResult) -> AuditResult:
        hey = load.hey
        if hey is not None and hey.item_name is not None:
            return audit_keyless(
                hey.item_name,
                self.proxy_url,
                since=load.started_at,
                sent=hey.planned if hey.unanswered is not None else None,
                answered=hey.answered,
                acknowledged=hey.acknowledged,
                max_list_pages=self.exp.audit.max_list_pages,
            )
        return audit_writes(
            list(load.write_records()),
            self.proxy_url,
            since=load.started_at,
            concurrency=self.exp.audit.concurrency,
            max_list_pages=self.exp.audit.max_list_pages,
        )

    def _amend(
        self, journal: Journal, load: LoadResult | None, latencies: list[tuple[float, float]] | None
    ) -> None:
        """What the verdicts need from the raw run: did each fault meet requests at all, and the
        failures hey gives no time for (charged to every phase)."""
        verdicts = journal.verdicts
        if verdicts is None:
            return
        if latencies is not None:
            inject_ends = {(e.fault, e.service): e.end for e in journal.events if e.kind == "inject" and e.ok}
            overlaps = [
                fault_overlap(
                    f.index,
                    f.injected_at,
                    inject_ends.get((f.index, f.service), f.injected_at),
                    f.restored_at or journal.ended_at,
                    latencies,
                )
                for f in journal.faults
                if f.inject_ok and f.injected_at is not None
            ]
            reasons, notes = check_overlaps(overlaps)
            amend(verdicts, "recovery", reasons, notes)
        if load is not None and load.unplaced_failures:
            hyp = self.exp.hypothesis
            charge_unplaced(
                verdicts,
                journal.phases,
                hyp.steady,
                hyp.during_or_steady,
                load.unplaced_failures,
                UNANSWERED_KIND,
            )
        journal.exit_code = verdicts.exit_code

    def _on_load_start(self, t0: float) -> None:
        self.load_started = t0

    def _load_function(self) -> LoadFn:
        if self.exp.load.tool != "hey":
            return self.load_fn
        options = HeyOptions(rate_per_worker=self.exp.load.rate_per_worker, item_name=self.item_name)
        return partial(self.hey_fn, options=options, on_start=self._on_load_start)

    def _run_load_and_faults(self, spec: LoadSpec, result: dict[str, Any]) -> None:
        load_fn = self._load_function()

        def load_worker() -> None:
            try:
                result["result"] = load_fn(
                    spec, self.out_dir / "load", on_second=self.bucket_queue.put, stop_event=self.stop_load
                )
            except BaseException as exc:  # reported by the main thread
                result["error"] = (
                    f"{type(exc).__name__}: {exc}" if not isinstance(exc, LabError) else str(exc)
                )
            finally:
                self.load_done.set()

        loader = self.loader = threading.Thread(target=load_worker, name="load", daemon=True)
        loader.start()
        firing = self.watcher.firing if self.watcher is not None else None
        self.observers.run_started(RunStart(self.exp, firing))
        for task in self.tasks:
            self.observers.fault_planned(task.record)
        try:
            self.t0 = self._wait_for_t0(loader, result)
            self.observers.load_started(self.t0)
            for bucket in list(self.buckets):  # held back until observers know t0
                self.observers.second_recorded(bucket)
            self._say(
                f"load started (t0 {datetime.fromtimestamp(self.t0):%H:%M:%S}); "
                f"{len(self.tasks)} fault action(s) planned"
            )
            for task in self.tasks:
                task.thread = threading.Thread(
                    target=self._drive,
                    args=(task,),
                    name=f"fault-{task.record.index}-{task.record.service}",
                    daemon=True,
                )
                task.thread.start()
            while loader.is_alive():
                self._drain()
                loader.join(timeout=0.25)
            self._drain()
        finally:
            self.observers.load_finished()
        if "error" in result and "result" not in result:
            raise LabError(f"load failed: {result['error']}")

    def _wait_for_t0(self, loader: threading.Thread, result: dict[str, Any]) -> float:
        """The load's start: its first bucket's (Locust), or hey's start; the load stopped and a
        LabError when it never started."""
        deadline = time.time() + FIRST_BUCKET_TIMEOUT_S
        while True:
            self._drain()
            if self.buckets:
                first = self.buckets[0]
                return first.t - first.second
            if self.load_started is not None:
                return self.load_started
            if self.load_done.is_set() or time.time() > deadline:
                self.stop_load.set()
                loader.join(timeout=30)
                raise LabError(f"the load never started: {result.get('error', 'no request in 45 s')}")
            time.sleep(0.2)

    def _drain(self) -> None:
        while True:
            try:
                bucket = self.bucket_queue.get_nowait()
            except queue.Empty:
                return
            with self.lock:
                self.buckets.append(bucket)
            if self.t0 is not None:  # before: the first bucket is what sets t0 (load_started first)
                self.observers.second_recorded(bucket)

    def _finish_faults(self) -> None:
        """Wait for the fault threads (restores run in them), then the safety net."""
        self.load_done.set()
        for task in self.tasks:
            if task.thread is None and not task.record.skipped:
                task.record.skipped = "the run ended before its time"
            if task.thread is not None:
                task.thread.join(timeout=self.exp.restore_timeout_s + 60)
        for task in self.tasks:
            if task.attempted and not task.record.restore_ok:
                self._restore(task, "safety-restore")

    def _verify(self) -> list[str]:
        """Every container the run knew about: running, unpaused, healthy, on its networks; web
        targets answering through the proxy again. Waits up to restore_timeout_s."""
        deadline = time.monotonic() + self.exp.restore_timeout_s
        problems: list[str] = []
        with self.console.status("verifying the restore"):
            for snap in self.preflight.values():
                problems += self.driver.verify(snap, deadline)
            for task in self.tasks:
                if task.watcher is not None:
                    task.watcher.join(timeout=max(deadline - time.monotonic(), 1.0))
            for service in sorted({t.record.service for t in self.tasks if t.role == ROLE_WEB}):
                if not self._seen_through_proxy(service, deadline):
                    problems.append(f"{service}: not answering through the proxy")
        verify = EventRecord(
            kind="verify",
            t=time.time(),
            end=time.time(),
            ok=not problems,
            detail="restore verified: every target running, healthy, reconnected"
            if not problems
            else "; ".join(problems),
        )
        self._record(verify)
        return problems

    def _seen_through_proxy(self, service: str, deadline: float) -> bool:
        session = requests.Session()
        tries = 0
        while True:
            tries += 1
            with contextlib.suppress(requests.RequestException):
                response = session.get(f"{self.proxy_url}/livez", timeout=1.0)
                if response.headers.get("X-Served-By") == service:
                    return True
            if time.monotonic() >= deadline and tries > 10:
                return False
            time.sleep(0.1)

    @contextlib.contextmanager
    def _stop_signals_interrupt(self) -> Iterator[None]:
        """SIGTERM and SIGHUP raise RunSignal (a KeyboardInterrupt) in the main thread, like Ctrl-C."""
        if threading.current_thread() is not threading.main_thread():
            yield
            return

        def handler(signum: int, frame: object) -> None:
            raise RunSignal(signum)

        previous = {sig: signal.signal(sig, handler) for sig in STOP_SIGNALS if sig != signal.SIGINT}
        try:
            yield
        finally:
            for sig, old in previous.items():
                signal.signal(sig, old)

    @contextlib.contextmanager
    def _shielded(self) -> Iterator[None]:
        """Ignore Ctrl-C, SIGTERM and SIGHUP while restoring (main thread only), saying so."""
        if threading.current_thread() is not threading.main_thread():
            yield
            return

        def handler(signum: int, frame: object) -> None:
            name = "Ctrl-C" if signum == signal.SIGINT else signal.Signals(signum).name
            self.console.print(f"[yellow]restoring: {name} ignored until the restore is verified[/]")

        previous = {sig: signal.signal(sig, handler) for sig in STOP_SIGNALS}
        try:
            yield
        finally:
            for sig, old in previous.items():
                signal.signal(sig, old)
