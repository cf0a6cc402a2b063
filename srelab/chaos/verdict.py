"""Verdicts: the hypothesis per phase, recovery goals, the write audit, the restore; overall.

Overall passes only when every part passes. The exit code follows it: 0 pass, 1 fail, and
EXIT_INCONCLUSIVE (3) for a run that failed nothing but whose measurement cannot be trusted
(`inconclusive`: the load generator was saturated, so the figures measure it, not the stack).

`decide` takes one VerdictInput (what the run measured and what the experiment asked). After it,
the runner amends the verdicts with what only the raw run shows (`amend`):
whether each fault's window overlapped requests at all (`fault_overlap`: a fault no request saw
proves nothing, so the run is inconclusive and fails), and failures that belong to no second
(`charge_unplaced`: hey gives no time for a request without an answer).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from pydantic import BaseModel, Field

from srelab.chaos.audit import AuditResult, KeylessAudit
from srelab.chaos.model import Hypothesis, RecoveryGoals
from srelab.chaos.schedule import PHASES, JudgedPhase
from srelab.chaos.timeline import PhaseStats, RecoveryFigures

EXIT_PASS, EXIT_FAIL, EXIT_BAD_INPUT, EXIT_INCONCLUSIVE = 0, 1, 2, 3
# The parts of Verdicts in the order reports show them.
PARTS = (*PHASES, "recovery", "audit", "restore", "failover", "detection", "overall")
AUDIT_DID_NOT_RUN = "write audit did not run"


class Verdict(BaseModel):
    passed: bool
    reasons: list[str] = Field(default_factory=list)  # why it failed (empty when passed)
    notes: list[str] = Field(default_factory=list)  # what was checked or skipped
    inconclusive: list[str] = Field(default_factory=list)  # why a pass proves nothing (overall only)

    @property
    def label(self) -> str:
        if not self.passed:
            return "FAIL"
        return "INCONCLUSIVE" if self.inconclusive else "PASS"


class Verdicts(BaseModel):
    before: Verdict
    during: Verdict
    after: Verdict
    recovery: Verdict
    audit: Verdict
    restore: Verdict
    overall: Verdict
    # Detection goals (srelab/chaos/detection.py): judged after the other parts, by the runner.
    detection: Verdict = Field(default_factory=lambda: Verdict(passed=True))
    # Redis HA goals (hypothesis.failover, srelab/chaos/failover.py): judged in analyse().
    failover: Verdict = Field(default_factory=lambda: Verdict(passed=True))

    @property
    def exit_code(self) -> int:
        if not self.overall.passed:
            return EXIT_FAIL
        return EXIT_INCONCLUSIVE if self.overall.inconclusive else EXIT_PASS


def check_phase(stats: PhaseStats, hyp: Hypothesis) -> Verdict:
    """The hypothesis on one phase's aggregate; a phase without data fails."""
    if stats.seconds == 0 or stats.requests == 0:
        return Verdict(passed=False, reasons=[f"no data in the {stats.phase} phase"])
    reasons, notes = [], []
    if hyp.max_error_rate is not None:
        notes.append(f"error rate {stats.error_rate:.2%} (max {hyp.max_error_rate:.2%})")
        if stats.error_rate > hyp.max_error_rate:
            reasons.append(
                f"error rate {stats.error_rate:.2%} > {hyp.max_error_rate:.2%} "
                f"({stats.failed}/{stats.requests})"
            )
    if hyp.p95_ms is not None:
        if stats.p95_ms is None:
            reasons.append("no latency measured")
        else:
            notes.append(f"p95 <= {stats.p95_ms:.0f} ms (max {hyp.p95_ms:g})")
            if stats.p95_ms > hyp.p95_ms:
                reasons.append(f"p95 {stats.p95_ms:.0f} ms > {hyp.p95_ms:g} ms")
    if hyp.min_rps is not None:
        notes.append(f"{stats.rps:.1f} req/s (min {hyp.min_rps:g})")
        if stats.rps < hyp.min_rps:
            reasons.append(f"{stats.rps:.1f} req/s < {hyp.min_rps:g} req/s")
    for kind, limit in sorted(hyp.max_failures.items()):
        count = stats.failures.get(kind, 0)
        notes.append(f"{kind} {count} (max {limit})")
        if count > limit:
            reasons.append(f"{count} {kind} failures > {limit}")
    return Verdict(passed=not reasons, reasons=reasons, notes=notes)


class RotationFigures(BaseModel):
    """When a restored/restarted target was healthy again and answered through the proxy."""

    fault: int
    service: str
    reference: str = ""  # what the seconds count from ("container start", "unpause", ...)
    ref_t: float | None = None
    healthy_s: float | None = None
    back_in_rotation_s: float | None = None
    since_restore_s: float | None = None  # back in rotation, counted from the restore action
    timeline_back_in_rotation_s: float | None = None  # first 1 s bucket served by it (web only)
    error: str | None = None


def check_recovery(
    goals: RecoveryGoals, figures: Sequence[RecoveryFigures], rotations: Sequence[RotationFigures]
) -> Verdict:
    reasons, notes = [], []
    for fig in figures:
        if goals.max_time_to_recover_s is not None:
            if not fig.recovered or fig.time_to_recover_s is None:
                reasons.append(f"fault {fig.fault}: the hypothesis never held again")
            elif fig.time_to_recover_s > goals.max_time_to_recover_s:
                reasons.append(
                    f"fault {fig.fault}: recovered after {fig.time_to_recover_s:.1f} s "
                    f"> {goals.max_time_to_recover_s:g} s"
                )
            else:
                notes.append(f"fault {fig.fault}: recovered after {fig.time_to_recover_s:.1f} s")
    for rot in rotations:
        if goals.max_back_in_rotation_s is not None:
            if rot.back_in_rotation_s is None:
                reasons.append(
                    f"{rot.service}: never seen back in rotation" + (f" ({rot.error})" if rot.error else "")
                )
            elif rot.back_in_rotation_s > goals.max_back_in_rotation_s:
                reasons.append(
                    f"{rot.service}: back in rotation {rot.back_in_rotation_s:.2f} s after "
                    f"{rot.reference} > {goals.max_back_in_rotation_s:g} s"
                )
            else:
                notes.append(
                    f"{rot.service}: back in rotation {rot.back_in_rotation_s:.2f} s after {rot.reference}"
                )
        if goals.max_healthy_s is not None:
            if rot.healthy_s is None:
                reasons.append(f"{rot.service}: never healthy again")
            elif rot.healthy_s > goals.max_healthy_s:
                reasons.append(
                    f"{rot.service}: healthy {rot.healthy_s:.2f} s after {rot.reference} "
                    f"> {goals.max_healthy_s:g} s"
                )
    if not (goals.max_time_to_recover_s or goals.max_back_in_rotation_s or goals.max_healthy_s):
        notes.append("no recovery goals set: figures reported only")
    return Verdict(passed=not reasons, reasons=reasons, notes=notes)


def check_keyless(k: KeylessAudit, fail_on_duplicates: bool) -> Verdict:
    """Keyless writes by count: stored > acknowledged is duplicates, stored < acknowledged is loss;
    a count that could not be completed fails (it proves neither)."""
    sent = "?" if k.sent is None else str(k.sent)
    reasons: list[str] = []
    notes = [
        f"keyless writes {k.name!r}: {sent} sent, {k.answered} answered, "
        f"{k.acknowledged} acknowledged (2xx), {k.stored} stored"
    ]
    if k.error:
        reasons.append(f"stored items not counted: {k.error}")
    elif not k.list_complete:
        reasons.append(
            f"stored items not counted: GET /items scanned {k.list_pages} page(s), "
            "not back to the run's start"
        )
    else:
        if k.duplicates:
            text = f"{k.duplicates} duplicate(s): {k.stored} items stored for {k.acknowledged} acknowledged"
            if k.failed:
                text += (
                    f" (with {k.failed} failed request(s), some may be writes stored although their answer "
                    "was a failure: the client cannot tell)"
                )
            (reasons if fail_on_duplicates else notes).append(text)
        if k.lost:
            reasons.append(
                f"{k.lost} acknowledged write(s) lost: "
                f"{k.stored} items stored for {k.acknowledged} acknowledged"
            )
        if k.listed_twice:
            reasons.append(f"{k.listed_twice} item(s) of the run listed twice by GET /items")
    if k.sent is None:
        notes.append("requests sent: unknown (the load generator was stopped early)")
    return Verdict(passed=not reasons, reasons=reasons, notes=notes)


def check_audit(audit: AuditResult | None, fail_on_duplicates: bool) -> Verdict:
    """Acknowledged writes lost always fail; so do unverified reads; duplicates when asked."""
    if audit is None:
        return Verdict(passed=True, notes=["write audit disabled"])
    if audit.keyless is not None:
        return check_keyless(audit.keyless, fail_on_duplicates)
    reasons, notes = [], []
    notes.append(f"{audit.acknowledged} acknowledged writes read back: {audit.read_ok} found")
    if audit.lost:
        reasons.append(f"{audit.lost} acknowledged write(s) lost")
    if audit.unverified:
        reasons.append(f"{audit.unverified} acknowledged write(s) could not be read back (unverified)")
    if audit.names_checked:
        notes.append(f"{audit.names_checked} name(s) read back compared with the name sent")
    if audit.wrong_name:
        reasons.append(
            f"{audit.wrong_name} acknowledged write(s) read back with another name "
            f"({'; '.join(audit.wrong_name_examples[:3])})"
        )
    if audit.replays:
        notes.append(f"{audit.replays} acknowledged key(s) re-POSTed after the run")
    if audit.replays_failed:
        reasons.append(
            f"{audit.replays_failed} of {audit.replays} idempotency record(s) did not survive "
            f"({'; '.join(audit.replay_examples[:3])})"
        )
    if audit.missing_from_list:
        reasons.append(f"{audit.missing_from_list} acknowledged item(s) readable but missing from GET /items")
    if audit.duplicate_keys or audit.listed_twice:
        text = (
            f"duplicates: {audit.duplicate_keys} Idempotency-Key(s) with several ids, "
            f"{audit.listed_twice} item(s) listed twice"
        )
        (reasons if fail_on_duplicates else notes).append(text)
    if audit.error:
        notes.append(audit.error)
    elif not audit.list_complete:
        notes.append(f"GET /items scanned {audit.list_pages} page(s), not back to the run's start")
    return Verdict(passed=not reasons, reasons=reasons, notes=notes)


def check_restore(problems: Sequence[str], verified: bool) -> Verdict:
    if problems or not verified:
        return Verdict(passed=False, reasons=list(problems) or ["restore not verified"])
    return Verdict(passed=True, notes=["every target running, healthy and reconnected"])


def overall(
    parts: Mapping[str, Verdict], aborted: str | None = None, extra_reasons: Sequence[str] = ()
) -> Verdict:
    reasons = [f"{name}: {reason}" for name, part in parts.items() for reason in part.reasons]
    if aborted:
        reasons.insert(0, f"aborted: {aborted}")
    reasons.extend(extra_reasons)
    return Verdict(passed=not reasons, reasons=reasons)


@dataclass(frozen=True)
class VerdictInput:
    """What `decide` judges: the run's figures and outcome, and the experiment's goals."""

    phases: Mapping[str, PhaseStats]
    steady: Hypothesis  # judged before and after the faults
    during: Hypothesis  # judged in the fault windows
    goals: RecoveryGoals = field(default_factory=RecoveryGoals)
    figures: Sequence[RecoveryFigures] = ()
    rotations: Sequence[RotationFigures] = ()
    audit: AuditResult | None = None
    fail_on_duplicates: bool = True
    # The experiment asked for the write audit: a missing result fails (audit_note says why).
    audit_required: bool = False
    audit_note: str | None = None
    restore_problems: Sequence[str] = ()
    restore_verified: bool = False
    aborted: str | None = None
    extra_reasons: Sequence[str] = ()

    def hypotheses(self) -> dict[JudgedPhase, Hypothesis]:
        """The hypothesis each phase is judged on."""
        return dict(zip(PHASES, (self.steady, self.during, self.steady), strict=True))


def decide(given: VerdictInput) -> Verdicts:
    parts = {phase: check_phase(given.phases[phase], hyp) for phase, hyp in given.hypotheses().items()}
    parts["recovery"] = check_recovery(given.goals, given.figures, given.rotations)
    parts["audit"] = check_audit(given.audit, given.fail_on_duplicates)
    parts["restore"] = check_restore(given.restore_problems, given.restore_verified)
    verdicts = Verdicts(**parts, overall=overall(parts, given.aborted, given.extra_reasons))
    if given.audit is None and given.audit_required:
        audit_did_not_run(verdicts, given.audit_note)
    return verdicts


def audit_did_not_run(verdicts: Verdicts, note: str | None) -> None:
    """An experiment that asked for the write audit and got none (interrupted, no load result)
    fails: without it no write can be shown safe."""
    amend(verdicts, "audit", [note or AUDIT_DID_NOT_RUN])


def make_inconclusive(verdicts: Verdicts, reasons: Sequence[str]) -> None:
    """The run's measurement is untrustworthy: a pass becomes INCONCLUSIVE (a fail stays FAIL)."""
    verdicts.overall.inconclusive.extend(reasons)


def amend(verdicts: Verdicts, part: str, reasons: Sequence[str] = (), notes: Sequence[str] = ()) -> None:
    """Add findings to one part (and its reasons to overall, prefixed like `overall` does)."""
    item: Verdict = getattr(verdicts, part)
    item.notes.extend(notes)
    if reasons:
        item.reasons.extend(reasons)
        item.passed = False
        verdicts.overall.reasons.extend(f"{part}: {r}" for r in reasons)
        verdicts.overall.passed = False


class FaultOverlap(BaseModel):
    """Requests a fault's window [inject, restore) met: only they can show its effect."""

    fault: int
    in_flight_at_inject: int = 0  # in flight when the inject action began
    during_inject: int = 0  # in flight at some time while it ran (the fault lands in there)
    inject_s: float = 0.0  # how long the inject action took
    started_during: int = 0  # started in [inject, restore)
    completed_during: int = 0  # completed in [inject, restore)

    @property
    def overlapped(self) -> bool:
        return self.during_inject + self.started_during + self.completed_during > 0


def fault_overlap(
    fault: int,
    inject_t: float,
    inject_end: float,
    restore_t: float,
    requests: Iterable[tuple[float, float]],
) -> FaultOverlap:
    """requests: (completion epoch, latency ms) of every request (events.tsv). The inject action
    runs from inject_t to inject_end; the fault takes effect somewhere in between."""
    out = FaultOverlap(fault=fault, inject_s=round(inject_end - inject_t, 3))
    for end, latency_ms in requests:
        start = end - latency_ms / 1000.0
        if start < inject_t < end:
            out.in_flight_at_inject += 1
        if start < max(inject_end, inject_t + 1e-9) and end > inject_t:
            out.during_inject += 1
        if inject_t <= start < restore_t:
            out.started_during += 1
        if inject_t <= end < restore_t:
            out.completed_during += 1
    return out


def check_overlaps(overlaps: Sequence[FaultOverlap]) -> tuple[list[str], list[str]]:
    """(reasons, notes): a fault whose window met no request makes the run inconclusive."""
    reasons, notes = [], []
    for o in overlaps:
        figures = (
            f"{o.in_flight_at_inject} request(s) in flight when the inject began, {o.during_inject} during "
            f"the inject action ({o.inject_s:.2f} s), {o.started_during} started and {o.completed_during} "
            "completed while it was active"
        )
        if o.overlapped:
            notes.append(f"fault {o.fault}: {figures}")
        else:
            reasons.append(f"fault {o.fault}: inconclusive: no request met it ({figures})")
    return reasons, notes


def charge_unplaced(
    verdicts: Verdicts,
    phases: Mapping[str, PhaseStats],
    steady: Hypothesis,
    during: Hypothesis,
    count: int,
    kind: str,
) -> None:
    """Failures with no time (hey: requests without an answer) could belong to any phase: each
    phase must hold its hypothesis with all of them added (the worst case)."""
    if count <= 0:
        return
    for part, hyp in zip(PHASES, (steady, during, steady), strict=True):
        stats = phases.get(part)
        if stats is None or stats.requests == 0:
            continue
        failures = dict(stats.failures)
        failures[kind] = failures.get(kind, 0) + count
        charged = stats.model_copy(
            update={
                "requests": stats.requests + count,
                "failed": stats.failed + count,
                "failures": failures,
                "error_rate": (stats.failed + count) / (stats.requests + count),
            }
        )
        worst = check_phase(charged, hyp)
        current: Verdict = getattr(verdicts, part)
        new = [r for r in worst.reasons if r not in current.reasons]
        suffix = f" (with the {count} unanswered request(s) hey gives no time for)"
        amend(verdicts, part, [r + suffix for r in new])
        current.notes.append(f"{count} request(s) with no answer and no time (hey) counted in this phase")
