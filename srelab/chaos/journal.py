"""journal.json: everything a chaos run measured and did, as one pydantic model.

The report (report.py) and `srelab chaos compare` read it back, so a recorded journal can be
re-rendered or compared without the stack.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field

from srelab.chaos.audit import AuditResult
from srelab.chaos.detection import Detection
from srelab.chaos.failover import FailoverFigures, NodeState
from srelab.chaos.timeline import PhaseStats, Recovery, Row
from srelab.chaos.verdict import RotationFigures, Verdicts
from srelab.errors import LabError

SCHEMA = 1

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
    recovery: list[Recovery] = Field(default_factory=list)
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
