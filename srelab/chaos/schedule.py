"""When things happen: the planned inject/restore events and the phase windows of a run.

Times in an experiment file are seconds after the load's start (t0: the start of the load
harness's first one-second bucket). The phases are:

    before  [t0 + warmup_s, first inject)
    during  [first inject, last restore done + settle_s)
    after   [end of during, end of the load)

A one-second bucket that overlaps the fault window counts as `during`, so errors right after an
injection are never credited to the baseline.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal, get_args

# Only for the type of plan()'s argument: model.py validates the schedule (check_schedule) and
# must not need this module, so the two stay acyclic.
if TYPE_CHECKING:
    from srelab.chaos.model import Experiment

EventKind = Literal["inject", "restore"]
# The judged phases, in the order reports show them; a second can also be warmup (never judged).
JudgedPhase = Literal["before", "during", "after"]
Phase = Literal["warmup", JudgedPhase]
PHASES: tuple[JudgedPhase, ...] = get_args(JudgedPhase)


@dataclass(frozen=True, order=True)
class PlannedEvent:
    at: float  # seconds after t0
    order: int  # restore before inject at the same instant
    kind: EventKind
    fault: int  # index in experiment.faults


def plan(experiment: Experiment) -> list[PlannedEvent]:
    """Every inject and restore, in time order (restores first when simultaneous)."""
    events = []
    for index, fault in enumerate(experiment.faults):
        events.append(PlannedEvent(fault.at, 1, "inject", index))
        events.append(PlannedEvent(fault.restore_at, 0, "restore", index))
    return sorted(events)


@dataclass(frozen=True)
class Windows:
    """Phase boundaries in epoch seconds (None when a boundary is unknown)."""

    t0: float
    baseline_from: float
    fault_from: float | None  # first inject
    fault_to: float | None  # last restore done + settle
    end: float

    def phase_of(self, bucket_start: float) -> Phase:
        bucket_end = bucket_start + 1.0
        if self.fault_from is None:
            return "warmup" if bucket_start < self.baseline_from else "before"
        if self.fault_to is not None and bucket_start >= self.fault_to:
            return "after"
        if bucket_end > self.fault_from:
            return "during"
        if bucket_start < self.baseline_from:
            return "warmup"
        return "before"


def windows(
    t0: float, end: float, warmup_s: float, settle_s: float, injects: list[float], restores: list[float]
) -> Windows:
    """Phase windows from what actually happened (epoch times of injects and completed restores)."""
    fault_from = min(injects) if injects else None
    fault_to = (max(restores) + settle_s) if (injects and restores) else None
    if fault_from is not None and fault_to is None:
        fault_to = end  # never restored while the load ran: everything after the inject is `during`
    return Windows(t0=t0, baseline_from=t0 + warmup_s, fault_from=fault_from, fault_to=fault_to, end=end)
