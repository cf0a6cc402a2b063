"""The chaos table: one Markdown row per run (README's "Chaos" section is made with it).

`srelab chaos table results/chaos-*` reads each run's journal.json; the newest run of each
experiment wins. Every figure comes from the journal: nothing is typed in by hand.
"""

from __future__ import annotations

from collections.abc import Iterable

from srelab.chaos.journal import Journal

HEADER = (
    "experiment",
    "verdict",
    "req/s before",
    "requests in fault window",
    "failed",
    "failures by kind",
    "back in rotation",
    "Redis failover (promotion / first write)",
    "acknowledged writes",
    "lost",
    "duplicates",
    "first alert",
    "time to detect",
    "time to resolve",
)


def _s(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f} s"


def _failover(journal: Journal) -> str:
    f = journal.failover
    if f is None:
        return "-"
    promoted = f"{f.failover_s:.1f} s" if f.promoted and f.failover_s is not None else "none"
    return f"{promoted} / {_s(f.first_write_s)}"


def _writes(journal: Journal) -> tuple[str, str, str]:
    audit = journal.audit
    if audit is None:
        return "-", "-", "-"
    if audit.keyless is not None:
        k = audit.keyless
        return f"{k.acknowledged} (keyless, {k.stored} stored)", str(k.lost), str(k.duplicates)
    return str(audit.acknowledged), str(audit.lost), str(audit.duplicate_keys + audit.listed_twice)


def _detection(journal: Journal) -> tuple[str, str, str]:
    d = journal.detection
    if d is None or d.status != "measured":
        return "not measured", "-", "-"
    timings = [a for fault in d.faults for a in fault.alerts]
    if not timings:
        return "none", "-", "-"
    first = min(a.detect_s for a in timings)
    names = sorted({a.name for a in timings if a.detect_s == first})
    resolved = [a.resolve_s for a in timings if a.severity == "page" and a.resolve_s is not None]
    return ", ".join(names), _s(first), _s(max(resolved) if resolved else None)


def row(journal: Journal) -> tuple[str, ...]:
    before = journal.phases.get("before")
    during = journal.phases.get("during")
    rotation = [f.rotation.back_in_rotation_s for f in journal.faults if f.rotation is not None]
    rotation_s = [r for r in rotation if r is not None]
    failures = ", ".join(f"{k} {v}" for k, v in sorted((during.failures if during else {}).items()))
    return (
        journal.experiment_name,
        journal.verdicts.overall.label if journal.verdicts else "?",
        f"{before.rps:.0f}" if before else "-",
        str(during.requests) if during else "-",
        str(during.failed) if during else "-",
        failures or "-",
        _s(max(rotation_s)) if rotation_s else "-",
        _failover(journal),
        *_writes(journal),
        *_detection(journal),
    )


def markdown(journals: Iterable[Journal]) -> str:
    newest: dict[str, Journal] = {}
    for journal in sorted(journals, key=lambda j: j.started_at):
        newest[journal.experiment_name] = journal
    lines = ["| " + " | ".join(HEADER) + " |", "|" + "---|" * len(HEADER)]
    for name in sorted(newest):
        lines.append("| " + " | ".join(row(newest[name])) + " |")
    return "\n".join(lines)
