"""What a run shows while it runs: the rich live view on a terminal, event lines otherwise.

Both are run observers (events.py): they know only what the run's events told them, so they can be
fed and rendered without a runner (tests/chaos/test_view.py).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime

from rich.console import Console, Group
from rich.live import Live
from rich.table import Table
from rich.text import Text

from srelab.chaos.detection import AlertSeen
from srelab.chaos.events import RunObserver, RunStart
from srelab.chaos.journal import FaultRecord
from srelab.chaos.model import Experiment
from srelab.load import SecondBucket

SHOWN_MESSAGES = 6  # the last event lines under the figures


class ConsoleLog(RunObserver):
    """`--no-live` (or no terminal): every event line printed as it happens."""

    def __init__(self, console: Console) -> None:
        self.console = console

    def message(self, text: str) -> None:
        self.console.print(text, highlight=False)


@dataclass
class PlannedFault:
    """One fault on one service as the view follows it."""

    description: str
    service: str
    at: float  # planned inject, seconds after t0
    restore_at: float  # planned restore, seconds after t0
    attempted: bool = False  # its inject began: no longer the next fault
    skipped: bool = False
    injected: bool = False  # the inject worked
    restored_at: float | None = None  # epoch of the (first successful) restore


class LiveView(RunObserver):
    """The rich Live view: phase, the last second, totals, the next and the active faults, firing
    alerts and the last event lines. Open from run_started to load_finished (rich allows one live
    display at a time: the restore's status spinner follows it); rich renders it 4 times a second."""

    def __init__(self, console: Console) -> None:
        self.console = console
        self.lock = threading.Lock()  # events come from the fault threads, rendering from rich's
        self.experiment: Experiment | None = None
        self.alerts: Callable[[], Sequence[AlertSeen]] | None = None
        self.t0: float | None = None
        self.last: SecondBucket | None = None
        self.requests = 0
        self.errors = 0
        self.messages: list[str] = []
        self.faults: dict[tuple[int, str], PlannedFault] = {}
        self._live: Live | None = None

    # -- events -------------------------------------------------------------------------------------
    def run_started(self, start: RunStart) -> None:
        self.experiment, self.alerts = start.experiment, start.alerts
        self._live = Live(
            console=self.console, refresh_per_second=4, transient=False, get_renderable=self.render
        )
        self._live.start(refresh=True)

    def fault_planned(self, record: FaultRecord) -> None:
        with self.lock:
            self.faults[_key(record)] = PlannedFault(
                record.description, record.service, record.planned_at_s, record.planned_restore_s
            )

    def load_started(self, t0: float) -> None:
        self.t0 = t0

    def second_recorded(self, bucket: SecondBucket) -> None:
        with self.lock:
            self.last = bucket
            self.requests += bucket.requests
            self.errors += bucket.failed

    def fault_injecting(self, record: FaultRecord) -> None:
        self._update(record, attempted=True)

    def fault_injected(self, record: FaultRecord) -> None:
        self._update(record, attempted=True, injected=record.inject_ok)

    def fault_skipped(self, record: FaultRecord) -> None:
        self._update(record, skipped=True)

    def fault_restored(self, record: FaultRecord) -> None:
        if record.restore_ok:
            self._update(record, restored_at=record.restored_at)

    def message(self, text: str) -> None:
        with self.lock:
            self.messages.append(f"{datetime.now():%H:%M:%S} {text}")

    def load_finished(self) -> None:
        if self._live is not None:
            self._live.stop()  # draws the last state once more
            self._live = None

    def _update(self, record: FaultRecord, **fields: object) -> None:
        with self.lock:
            fault = self.faults.get(_key(record))
            if fault is not None:
                for name, value in fields.items():
                    setattr(fault, name, value)

    # -- rendering ----------------------------------------------------------------------------------
    def pending(self) -> list[PlannedFault]:
        """Faults not begun yet, soonest first. By key: faults planned at the same second (count:
        all, or two at one time) must not be compared themselves (TypeError)."""
        with self.lock:
            waiting = [f for f in self.faults.values() if not f.attempted and not f.skipped]
        return sorted(waiting, key=lambda f: f.at)

    def active(self) -> list[PlannedFault]:
        with self.lock:
            return [f for f in self.faults.values() if f.injected and f.restored_at is None]

    def phase_now(self, now: float) -> str:
        if self.t0 is None or self.experiment is None:
            return "starting load"
        hyp = self.experiment.hypothesis
        with self.lock:
            injected = [f for f in self.faults.values() if f.injected]
        if any(f.restored_at is None for f in injected):
            return "during (fault active)"
        if injected:
            last = max(f.restored_at or 0.0 for f in injected)
            return "during (settling)" if now < last + hyp.settle_s else "after"
        return "warmup" if now < self.t0 + hyp.warmup_s else "before (baseline)"

    def render(self, now: float | None = None) -> Group:
        now = time.time() if now is None else now
        with self.lock:
            last, messages = self.last, self.messages[-SHOWN_MESSAGES:]
            total, errors = self.requests, self.errors
        exp = self.experiment
        head = Table.grid(padding=(0, 2))
        head.add_column(style="bold")
        head.add_column()
        head.add_row("experiment", f"{exp.name}: {exp.description}" if exp is not None else "-")
        elapsed = f"t+{now - self.t0:.0f}s" if self.t0 is not None else "-"
        head.add_row("phase", f"{self.phase_now(now)}  {elapsed}")
        if last is not None:
            kinds = ", ".join(f"{k} {v}" for k, v in last.failures.items() if v)
            p95 = f"{last.latency.p95_ms:.0f} ms" if last.latency.p95_ms is not None else "-"
            head.add_row(
                "last second",
                f"{last.requests} req/s, {last.failed} failed"
                + (f" ({kinds})" if kinds else "")
                + f", p95 {p95}",
            )
        if last is None and exp is not None and exp.load.tool == "hey" and self.t0 is not None:
            head.add_row("load", "hey running: it reports only when it ends (no per-second data until then)")
        else:
            head.add_row("so far", f"{total} requests, {errors} failed")
        self._fault_rows(head, now)
        return Group(head, Text("\n".join(messages), style="dim"))

    def _fault_rows(self, head: Table, now: float) -> None:
        """The next fault with its countdown, the active ones with theirs, the alerts firing."""
        pending = self.pending()
        if pending and self.t0 is not None:
            nxt = pending[0]
            head.add_row(
                "next fault", f"{nxt.description} on {nxt.service} in {max(self.t0 + nxt.at - now, 0):.0f} s"
            )
        for fault in self.active():
            restore_in = (self.t0 or now) + fault.restore_at - now
            head.add_row(
                "active", f"{fault.description} on {fault.service}, restore in {max(restore_in, 0):.0f} s"
            )
        if self.alerts is not None:
            firing = [a for a in self.alerts() if a.starts_at >= (self.t0 or now) - 1.0]
            head.add_row(
                "alerts",
                ", ".join(f"{a.label} (+{a.starts_at - (self.t0 or now):.0f}s)" for a in firing)
                or "none firing",
            )


def _key(record: FaultRecord) -> tuple[int, str]:
    return record.index, record.service
