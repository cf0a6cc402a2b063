"""Restores a run still owes, on disk: what `srelab chaos restore` undoes after a dead run.

Before each inject the runner adds the (fault, snapshot) pair to two copies of one JSON file:
the run folder's `pending-restores.json` and the well-known `results/.chaos-pending.json`; a
successful restore removes it. A run killed without its restores (SIGKILL, a crash, a reboot)
leaves the pairs behind; `srelab chaos restore` runs the fault driver's own restore for each
(the same idempotent actions as the runner: unpause, start, reconnect with aliases, delete netem
qdiscs, kill CPU loops), and removes what it undid.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import asdict
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol

from pydantic import BaseModel, Field

from srelab.chaos.faults import FaultError, NoBusyLoops, Outcome, Snapshot
from srelab.chaos.model import Action, Fault
from srelab.errors import LabError

WELL_KNOWN = ".chaos-pending.json"  # under the results folder
RUN_FILE = "pending-restores.json"  # in the run folder


class Restorer(Protocol):
    def restore(self, fault: Fault, snap: Snapshot) -> Outcome: ...


class Entry(BaseModel):
    key: str  # "<fault index>/<service>"
    fault: dict[str, Any]
    snapshot: dict[str, Any]
    added_at: float = 0.0  # epoch, just before the inject

    def expired(self, fault: Fault, now: float) -> bool:
        """CPU loops end by themselves (`timeout`, duration + 5 s): none left then is no failure."""
        return fault.action == Action.CPU and now > self.added_at + int(fault.duration) + 5 + 1

    def to_fault(self) -> Fault:
        return Fault.model_validate(self.fault)

    def to_snapshot(self) -> Snapshot:
        data = dict(self.snapshot)
        if data.get("started_at"):
            data["started_at"] = datetime.fromisoformat(data["started_at"])
        return Snapshot(**data)


class PendingFile(BaseModel):
    run_id: str = ""
    run_dir: str = ""
    pid: int = 0
    entries: list[Entry] = Field(default_factory=list)


def well_known(results_dir: Path) -> Path:
    return results_dir / WELL_KNOWN


def entry(index: int, fault: Fault, snap: Snapshot) -> Entry:
    raw = asdict(snap)
    raw["started_at"] = snap.started_at.isoformat() if snap.started_at else None
    return Entry(
        key=f"{index}/{snap.service}", fault=fault.model_dump(mode="json"), snapshot=raw, added_at=time.time()
    )


def _write(path: Path, data: PendingFile) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(data.model_dump_json(indent=1) + "\n", encoding="utf-8")
    os.replace(tmp, path)  # atomic: a reader never sees half a file


def read_pending(path: Path) -> PendingFile | None:
    """The file's content; None when there is none. A file that is not ours: LabError."""
    if not path.exists():
        return None
    try:
        return PendingFile.model_validate_json(path.read_text(encoding="utf-8"))
    except ValueError as exc:
        first = str(exc).strip().splitlines()
        raise LabError(f"{path}: not a pending-restores file ({first[0] if first else 'invalid'})") from None


class PendingLog:
    """The runner's side: add before an inject, drop after a successful restore (thread-safe)."""

    def __init__(self, run_id: str, run_dir: Path, shared: Path) -> None:
        self.paths = [run_dir / RUN_FILE, shared]
        self.data = PendingFile(run_id=run_id, run_dir=str(run_dir), pid=os.getpid())
        self.lock = threading.Lock()

    def add(self, item: Entry) -> None:
        with self.lock:
            self.data.entries = [e for e in self.data.entries if e.key != item.key] + [item]
            for path in self.paths:
                _write(path, self.data)

    def drop(self, key: str) -> None:
        with self.lock:
            if not any(e.key == key for e in self.data.entries):
                return
            self.data.entries = [e for e in self.data.entries if e.key != key]
            self._flush()

    def _flush(self) -> None:
        run_file, shared = self.paths
        _write(run_file, self.data)
        if self.data.entries:
            _write(shared, self.data)
        else:
            shared.unlink(missing_ok=True)


def restore_pending(
    path: Path, driver: Restorer, say: Callable[[str], None] = print
) -> tuple[int, int] | None:
    """Undo every pending entry of `path` with `driver`; (restored, failed), None when nothing was
    pending. One line per restore through `say`. Undone entries leave the file (it is deleted
    when empty); failed ones stay for another try."""
    data = read_pending(path)
    if data is None or not data.entries:
        if data is not None:
            path.unlink(missing_ok=True)
        return None
    left: list[Entry] = []
    restored = 0
    for item in data.entries:
        fault, snap = item.to_fault(), item.to_snapshot()
        label = f"{fault.action.value} {snap.service} (run {data.run_id or '?'}, fault {item.key})"
        try:
            outcome = driver.restore(fault, snap)
        except NoBusyLoops as exc:
            if not item.expired(fault, time.time()):
                say(f"restore {label}: FAILED: {exc}")
                left.append(item)
                continue
            outcome = Outcome("no busy loop left: their time bound has passed")
        except (FaultError, LabError) as exc:
            say(f"restore {label}: FAILED: {exc}")
            left.append(item)
            continue
        restored += 1
        say(f"restore {label}: {outcome.detail}")
    _settle(path, data, left)
    return restored, len(left)


def _settle(path: Path, data: PendingFile, left: Iterable[Entry]) -> None:
    data.entries = list(left)
    if data.entries:
        _write(path, data)
    else:
        path.unlink(missing_ok=True)
    run_file = Path(data.run_dir) / RUN_FILE if data.run_dir else None
    if run_file is not None and run_file != path and run_file.exists():
        _write(run_file, data)
