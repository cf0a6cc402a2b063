"""From a run's raw records (buckets, events, faults, audit) to timeline, phases, figures, verdicts.

Pure: `analyse()` fills a Journal from data, so unit tests and re-analysis of recorded runs need
neither Docker nor the load harness.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from pathlib import Path

from srelab.chaos.failover import check_failover
from srelab.chaos.journal import Journal
from srelab.chaos.model import Experiment, Hypotheses
from srelab.chaos.schedule import PHASES, Windows, windows
from srelab.chaos.timeline import Mark, RecoveryFigures, aggregate, build_rows, recovery
from srelab.chaos.verdict import RotationFigures, VerdictInput, Verdicts, amend, decide, make_inconclusive
from srelab.load import SecondBucket
from srelab.load.timeline import percentile


def marks(journal: Journal) -> list[Mark]:
    found = []
    for ev in journal.events:
        if ev.kind in ("inject", "restore", "safety-restore") and ev.ok:
            found.append(Mark(t=ev.t, label=f"{ev.kind} {ev.action} {ev.service}"))
    return found


def phase_latencies(events: Iterable[tuple[float, float]], win: Windows) -> dict[str, list[float]]:
    """(completion epoch, latency ms) per request -> sorted latencies per phase (same buckets)."""
    by_phase: dict[str, list[float]] = {p: [] for p in PHASES}
    for t, latency in events:
        second = math.floor(t - win.t0)
        phase = win.phase_of(win.t0 + second)
        if phase in by_phase:
            by_phase[phase].append(latency)
    for values in by_phase.values():
        values.sort()
    return by_phase


def read_event_latencies(events_tsv: Path) -> list[tuple[float, float]] | None:
    """(t, latency_ms) of every request in the load harness's events.tsv; None when unreadable."""
    try:
        from srelab.load.timeline import Event, parse_line
    except ImportError:  # pragma: no cover - the load harness changed its internals
        return None
    if not events_tsv.exists():
        return None
    found = []
    with events_tsv.open(encoding="utf-8", errors="replace") as fh:
        for line in fh:
            item = parse_line(line)
            if isinstance(item, Event):
                found.append((item.t, item.latency_ms))
    return found


def read_failure_times(events_tsv: Path) -> list[float] | None:
    """Completion epochs of the failed requests in events.tsv; None when unreadable."""
    try:
        from srelab.load.timeline import Event, parse_line
    except ImportError:  # pragma: no cover
        return None
    if not events_tsv.exists():
        return None
    with events_tsv.open(encoding="utf-8", errors="replace") as fh:
        return [
            item.t for line in fh if isinstance(item := parse_line(line), Event) and item.kind is not None
        ]


def failed_injects(journal: Journal) -> list[str]:
    """A fault whose inject was tried and failed proves nothing: each one fails the run, whatever
    the others did. Tried = not skipped (the record's `skipped` is set for every fault not tried)."""
    errors = {
        (e.fault, e.service): e.error or e.detail for e in journal.events if e.kind == "inject" and not e.ok
    }
    return [
        f"fault {f.index} ({f.service}): inject failed: {errors.get((f.index, f.service)) or 'no outcome'}"
        for f in journal.faults
        if not f.inject_ok and not f.skipped
    ]


def analyse(
    journal: Journal,
    experiment: Experiment,
    buckets: Sequence[SecondBucket],
    latencies: Iterable[tuple[float, float]] | None = None,
) -> Journal:
    """Fill timeline, phases, recovery figures, verdicts and the exit code of `journal`."""
    hyp = experiment.hypothesis
    win = phase_windows(journal, hyp, buckets)
    if win is not None:
        journal.timeline = build_rows(buckets, win, hyp.steady, marks(journal))
    fill_phases(journal, win, latencies)
    journal.recovery = recovery_figures(journal, win, hyp)
    verdicts = decide(
        VerdictInput(
            phases=journal.phases,
            steady=hyp.steady,
            during=hyp.during_or_steady,
            goals=experiment.recovery,
            figures=journal.recovery,
            rotations=rotation_figures(journal),
            audit=journal.audit,
            fail_on_duplicates=experiment.audit.fail_on_duplicates,
            audit_required=experiment.audit.enabled,
            audit_note=journal.audit_note,
            restore_problems=journal.restore_problems,
            restore_verified=journal.restore_verified,
            aborted=journal.aborted,
            extra_reasons=fault_reasons(journal),
        )
    )
    judge_failover(verdicts, journal, hyp)
    if journal.load.summary and journal.load.summary.get("valid") is False:
        why = journal.load.summary.get("invalid_reasons") or ["measurement not valid"]
        make_inconclusive(verdicts, [f"load generator: {r}" for r in why])
    journal.verdicts = verdicts
    journal.exit_code = verdicts.exit_code
    return journal


def phase_windows(journal: Journal, hyp: Hypotheses, buckets: Sequence[SecondBucket]) -> Windows | None:
    """The run's phase windows from what happened; None without a t0 (no bucket, no load start).
    Sets journal.t0 from the first bucket when the run did not record one."""
    if journal.t0 is None and buckets:
        first = min(buckets, key=lambda b: b.second)
        journal.t0 = first.t - first.second
    if journal.t0 is None:
        return None
    end = max((b.t for b in buckets), default=journal.ended_at) + 1.0
    injects = [f.injected_at for f in journal.faults if f.inject_ok and f.injected_at is not None]
    restores = [f.restored_at for f in journal.faults if f.inject_ok and f.restored_at is not None]
    return windows(journal.t0, end, hyp.warmup_s, hyp.settle_s, injects, restores)


def fill_phases(
    journal: Journal, win: Windows | None, latencies: Iterable[tuple[float, float]] | None
) -> None:
    """Phase aggregates of the timeline; with per-request latencies, each phase's exact p95."""
    journal.phases = {p: aggregate(journal.timeline, p) for p in PHASES}
    journal.phase_latency = "per-second upper bound"
    if win is not None and latencies is not None:
        exact = phase_latencies(latencies, win)
        for phase, values in exact.items():
            if values:
                journal.phases[phase].p95_ms = percentile(values, 95)
        journal.phase_latency = "exact (per request)"


def recovery_figures(journal: Journal, win: Windows | None, hyp: Hypotheses) -> list[RecoveryFigures]:
    """One per injected fault, its window [inject, restore done + settle) (the load's end when it
    was never restored)."""
    figures = []
    for fault in journal.faults:
        if fault.inject_ok and fault.injected_at is not None:
            restored = fault.restored_at if fault.restored_at is not None else (win.end if win else 0.0)
            figures.append(
                recovery(
                    journal.timeline, fault.index, fault.injected_at, restored + hyp.settle_s, hyp.stable_s
                )
            )
    return figures


def rotation_figures(journal: Journal) -> list[RotationFigures]:
    """The faults' rotation figures, each with the first timeline second its service served in."""
    rotations = []
    for fault in journal.faults:
        if fault.rotation is None:
            continue
        rot = fault.rotation
        if rot.ref_t is not None and fault.service:
            served = next(
                (r for r in journal.timeline if r.t >= rot.ref_t and r.served_by.get(fault.service, 0) > 0),
                None,
            )
            if served is not None:
                rot.timeline_back_in_rotation_s = round(served.t + 1.0 - rot.ref_t, 3)
        rotations.append(rot)
    return rotations


def fault_reasons(journal: Journal) -> list[str]:
    """Why the run fails whatever the phases show: no fault injected, an inject failed or was
    skipped, the load failed."""
    extra = []
    if not any(f.inject_ok for f in journal.faults):
        extra.append("no fault was injected")
    extra += failed_injects(journal)
    extra += [
        f"fault {f.index} ({f.service}): not injected: {f.skipped}"
        for f in journal.faults
        if f.skipped and not f.inject_ok
    ]
    if journal.load.error:
        extra.append(f"load: {journal.load.error}")
    return extra


def judge_failover(verdicts: Verdicts, journal: Journal, hyp: Hypotheses) -> None:
    """The Redis HA goal on the failover figures; without a goal the figures are reported only."""
    if hyp.failover is not None:
        reasons, notes = check_failover(hyp.failover, journal.failover, journal.failover_note or "")
        amend(verdicts, "failover", reasons, notes)
    elif journal.failover is not None:
        verdicts.failover.notes.append("no failover goal: figures reported only")
