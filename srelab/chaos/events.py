"""Run events: what a chaos run tells its observers (the live view, the event-line printer, tests).

Modelled on chaostoolkit-lib's EventHandlerRegistry (chaoslib/run.py): an observer subclasses
RunObserver and overrides the events it cares about (the others do nothing); the runner calls every
registered observer through one ObserverRegistry. A failing observer is logged and skipped, never
raised into the run: a display must not keep a fault from being restored.

The events of one run, in order (the fault events come from the fault threads, so they interleave
with `second_recorded`):

    run_started, fault_planned (per fault and service), load_started, second_recorded (per second),
    fault_injecting, fault_injected (inject_ok tells whether it worked) or fault_skipped,
    fault_restored (restore_ok tells whether it worked; a safety restore sends it again),
    load_finished, run_finished

`message` carries the run's event lines (what `--no-live` prints) at any time.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from srelab.chaos.detection import AlertSeen
    from srelab.chaos.journal import FaultRecord, Journal
    from srelab.chaos.model import Experiment
    from srelab.load import SecondBucket

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RunStart:
    """What an observer learns when the run starts (the load is being started)."""

    experiment: Experiment
    alerts: Callable[[], Sequence[AlertSeen]] | None = None  # alerts firing now; None: not watched


class RunObserver:
    """Receives a run's events; each method does nothing unless overridden."""

    def run_started(self, start: RunStart) -> None:
        """The targets are prepared and the load is being started (before its first second)."""

    def fault_planned(self, record: FaultRecord) -> None:
        """One fault on one service, planned at record.planned_at_s after the load's start."""

    def load_started(self, t0: float) -> None:
        """The load's start (epoch): every planned time counts from here."""

    def second_recorded(self, bucket: SecondBucket) -> None:
        """One more second of the load (Locust: live; hey: only after it ended)."""

    def fault_injecting(self, record: FaultRecord) -> None:
        """Its time has come: the inject action begins."""

    def fault_injected(self, record: FaultRecord) -> None:
        """The inject action returned; record.inject_ok says whether it worked."""

    def fault_skipped(self, record: FaultRecord) -> None:
        """Never injected (record.skipped says why: aborted, the load ended first)."""

    def fault_restored(self, record: FaultRecord) -> None:
        """A restore action returned; record.restore_ok says whether it worked."""

    def message(self, text: str) -> None:
        """One event line of the run."""

    def load_finished(self) -> None:
        """The load ended (or the run was aborted): restores, verification and the report follow."""

    def run_finished(self, journal: Journal) -> None:
        """The journal and the report are written (also after an interrupt, before it is re-raised)."""


class ObserverRegistry(RunObserver):
    """The run's observers, called in registration order for every event."""

    def __init__(self, observers: Iterable[RunObserver] = ()) -> None:
        self.observers: list[RunObserver] = list(observers)

    def register(self, observer: RunObserver) -> None:
        self.observers.append(observer)

    def _each(self, event: str, *args: Any) -> None:
        for observer in self.observers:
            try:
                getattr(observer, event)(*args)
            except Exception:  # an observer's bug must not stop the run (restores run after it)
                log.warning(
                    "chaos run observer %s failed on %s", type(observer).__name__, event, exc_info=True
                )

    def run_started(self, start: RunStart) -> None:
        self._each("run_started", start)

    def fault_planned(self, record: FaultRecord) -> None:
        self._each("fault_planned", record)

    def load_started(self, t0: float) -> None:
        self._each("load_started", t0)

    def second_recorded(self, bucket: SecondBucket) -> None:
        self._each("second_recorded", bucket)

    def fault_injecting(self, record: FaultRecord) -> None:
        self._each("fault_injecting", record)

    def fault_injected(self, record: FaultRecord) -> None:
        self._each("fault_injected", record)

    def fault_skipped(self, record: FaultRecord) -> None:
        self._each("fault_skipped", record)

    def fault_restored(self, record: FaultRecord) -> None:
        self._each("fault_restored", record)

    def message(self, text: str) -> None:
        self._each("message", text)

    def load_finished(self) -> None:
        self._each("load_finished")

    def run_finished(self, journal: Journal) -> None:
        self._each("run_finished", journal)
