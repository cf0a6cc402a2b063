"""journal.json: everything a chaos run measured and did, as one pydantic model.

The report (report.py) and `srelab chaos compare` read it back, so a recorded journal can be
re-rendered or compared without the stack. The runner builds it with `new_journal` (the plan, at
the start) and `record_load` (what the load harness returned); analysis.py fills in the figures
and verdicts.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field

from srelab.chaos.audit import AuditResult
from srelab.chaos.detection import Detection
from srelab.chaos.failover import FailoverFigures, NodeState
from srelab.chaos.model import Experiment
from srelab.chaos.targets import Selection
from srelab.chaos.timeline import PhaseStats, RecoveryFigures, Row
from srelab.chaos.verdict import RotationFigures, Verdicts
from srelab.errors import LabError
from srelab.load import LoadResult, LoadSpec
from srelab.load.hey import END_ONLY_NOTE

SCHEMA = 1
HEY_LIVE_NOTE = (
    "load: hey writes its per-request CSV only when it ends: the live view had no per-second data "
    "during the run; the 1 s timeline, phases and verdicts were built from that CSV afterwards"
)

EventKindName = Literal["inject", "restore", "safety-restore", "skipped", "verify", "note"]


class EventRecord(BaseModel):
    """One action taken (or skipped) against a target, with its timing and outcome."""

    kind: EventKindName
    t: float  # epoch when the action started
    end: float  # epoch when it returned
    offset_s: float | None = None  # t - t0 (seconds after the load's start)
    fault: int | None = None
    action: str = ""
    service: str = ""
    ok: bool = True
    detail: str = ""
    method: str = ""
    error: str | None = None

    @property
    def label(self) -> str:
        return f"{self.kind} {self.action} {self.service}".strip()


class FaultRecord(BaseModel):
    index: int
    action: str
    target: str  # selector key
    service: str
    description: str
    planned_at_s: float
    planned_restore_s: float
    injected_at: float | None = None
    inject_offset_s: float | None = None
    restored_at: float | None = None  # end of the (last successful) restore action
    restore_offset_s: float | None = None
    inject_ok: bool = False
    restore_ok: bool = False
    skipped: str | None = None
    method: str = ""
    rotation: RotationFigures | None = None


class LoadSection(BaseModel):
    dir: str  # folder of the load harness's files, relative to the run folder
    spec: dict[str, Any]
    preset: str | None = None
    summary: dict[str, Any] = Field(default_factory=dict)  # LoadResult without the timeline
    requests: int = 0
    failed: int = 0
    stop_reason: str | None = None
    error: str | None = None


class Journal(BaseModel):
    schema_version: int = SCHEMA
    run_id: str
    experiment_name: str
    description: str
    experiment_file: str
    experiment: dict[str, Any]
    project: str
    proxy_url: str
    started_at: float
    ended_at: float
    t0: float | None = None  # the load's start (epoch): offsets count from here
    targets: dict[str, list[str]] = Field(default_factory=dict)
    seeds: dict[str, int] = Field(default_factory=dict)
    # What each targeted service was when the targets were resolved: web, sentinel, proxy,
    # redis-primary / redis-replica (HA), redis (single), other.
    roles: dict[str, str] = Field(default_factory=dict)
    topology: str | None = None  # LAB_REDIS_TOPOLOGY of the stack: ha | single
    redis_nodes: list[NodeState] = Field(default_factory=list)  # every Redis node at the start
    failover: FailoverFigures | None = None  # HA runs whose faults touched Redis or a Sentinel
    failover_note: str | None = None  # why there are no failover figures
    load: LoadSection
    events: list[EventRecord] = Field(default_factory=list)
    faults: list[FaultRecord] = Field(default_factory=list)
    timeline: list[Row] = Field(default_factory=list)
    phases: dict[str, PhaseStats] = Field(default_factory=dict)
    phase_latency: str = "per-second upper bound"  # or "exact (per request)"
    recovery: list[RecoveryFigures] = Field(default_factory=list)
    audit: AuditResult | None = None
    audit_note: str | None = None
    restore_verified: bool = False
    restore_problems: list[str] = Field(default_factory=list)
    annotations: dict[str, str] = Field(default_factory=dict)
    detection: Detection | None = None  # None: a journal from before detection existed
    notes: list[str] = Field(default_factory=list)
    aborted: str | None = None
    verdicts: Verdicts | None = None
    exit_code: int = 1
    files: dict[str, str] = Field(default_factory=dict)

    def write(self, path: Path) -> None:
        path.write_text(json.dumps(self.model_dump(mode="json"), indent=1) + "\n", encoding="utf-8")


def new_journal(
    *,
    run_id: str,
    experiment: Experiment,
    source: Path,
    project: str,
    proxy_url: str,
    started_at: float,
    spec: LoadSpec,
    selections: Mapping[str, Selection],
    roles: Mapping[str, str],
    topology: str,
    redis_nodes: Sequence[NodeState],
    faults: Sequence[FaultRecord],
) -> Journal:
    """The journal of a run about to start: what it will run and against what. `faults` are the
    runner's own records: it fills them in as the run goes."""
    return Journal(
        run_id=run_id,
        experiment_name=experiment.name,
        description=experiment.description,
        experiment_file=str(source),
        experiment=experiment.model_dump(mode="json"),
        project=project,
        proxy_url=proxy_url,
        started_at=started_at,
        ended_at=started_at,
        targets={k: list(s.services) for k, s in selections.items()},
        seeds={k: s.seed for k, s in selections.items() if s.seed is not None},
        roles=dict(roles),
        topology=topology,
        redis_nodes=list(redis_nodes),
        load=LoadSection(dir="load", spec=spec.model_dump(mode="json"), preset=experiment.load.preset),
        faults=list(faults),
    )


def record_load(journal: Journal, load: LoadResult | None, error: str | None, tool: str) -> None:
    """What the load harness returned (its summary, counts, notes) or why it returned nothing."""
    if load is not None:
        journal.load.summary = load.model_dump(mode="json", exclude={"timeline"})
        journal.load.requests, journal.load.failed = load.requests, load.failed
        journal.load.stop_reason = load.stop_reason
        if not load.valid:
            journal.notes.append("load harness: measurement not valid: " + "; ".join(load.invalid_reasons))
        # hey's own note says the same as HEY_LIVE_NOTE below, which also names the live view.
        journal.notes.extend(f"load: {note}" for note in load.notes if note != END_ONLY_NOTE)
    if tool == "hey":
        journal.notes.append(HEY_LIVE_NOTE)
    if error is not None:
        journal.load.error = error


def read_journal(path: Path) -> Journal:
    """A journal.json, or a run folder holding one."""
    file = path / "journal.json" if path.is_dir() else path
    if not file.exists():
        raise LabError(f"{path}: no journal.json (expected a results/chaos-* folder or its journal.json)")
    try:
        return Journal.model_validate_json(file.read_text(encoding="utf-8"))
    except ValueError as exc:
        first = str(exc).strip().splitlines()
        raise LabError(f"{file}: not a chaos journal ({first[0] if first else 'invalid'})") from None
