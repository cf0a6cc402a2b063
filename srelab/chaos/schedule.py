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
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    from srelab.chaos.model import Experiment

MIN_AFTER_S = 5.0  # a time-bound load must leave this much after-phase

EventKind = Literal["inject", "restore"]
Phase = Literal["warmup", "before", "during", "after"]


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


def check_schedule(experiment: Experiment) -> str | None:
    """The first scheduling problem as `field: message`, or None."""
    from srelab.chaos.model import MIN_BASELINE_S

    hyp = experiment.hypothesis
    min_first = max(MIN_BASELINE_S, hyp.warmup_s + 3.0)
    for index, fault in enumerate(experiment.faults):
        if fault.at < min_first:
            return (
                f"faults.{index}.at: {fault.at:g} s leaves no baseline phase "
                f"(the first fault must come at >= {min_first:g} s)"
            )
    faults = experiment.faults
    for i, a in enumerate(faults):
        for j in range(i + 1, len(faults)):
            b = faults[j]
            if a.target == b.target and a.at < b.restore_at and b.at < a.restore_at:
                return (
                    f"faults.{j}: overlaps faults.{i} on target {a.target!r} "
                    f"([{b.at:g}, {b.restore_at:g}) s vs [{a.at:g}, {a.restore_at:g}) s)"
                )
    if experiment.time_bound:
        duration = experiment.spec.duration_s
        for index, fault in enumerate(faults):
            end = fault.restore_at + hyp.settle_s + MIN_AFTER_S
            if end > duration:
                return (
                    f"faults.{index}: restore at {fault.restore_at:g} s + settle {hyp.settle_s:g} s "
                    f"+ {MIN_AFTER_S:g} s of after-phase exceeds load.duration_s {duration:g} s"
                )
    return None


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
