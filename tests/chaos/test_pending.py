"""Pending restores on disk: written before each inject, dropped after the restore, undone by
`srelab chaos restore` (fake driver, no Docker); SIGTERM handled like Ctrl-C."""

from __future__ import annotations

import json
import os
import signal
from pathlib import Path

import pytest
from typer.testing import CliRunner

from srelab.chaos.faults import FaultError, Outcome, Snapshot
from srelab.chaos.journal import read_journal
from srelab.chaos.model import Fault
from srelab.chaos.pending import RUN_FILE, PendingLog, entry, read_pending, restore_pending
from srelab.chaos.runner import RunSignal
from srelab.errors import LabError
from tests.chaos.helpers import FakeDriver
from tests.chaos.test_runner import SERVICE, fake_load, fast_experiment, runner


class Peeking(FakeDriver):
    """Records what the shared pending file held when each inject and restore began."""

    def __init__(self, shared: Path) -> None:
        super().__init__()
        self.shared = shared
        self.seen: list[tuple[str, list[str]]] = []

    def _peek(self, what: str) -> None:
        data = read_pending(self.shared)
        self.seen.append((what, [e.key for e in data.entries] if data else []))

    def inject(self, fault: Fault, snap: Snapshot) -> Outcome:
        self._peek("inject")
        return super().inject(fault, snap)

    def restore(self, fault: Fault, snap: Snapshot) -> Outcome:
        self._peek("restore")
        return super().restore(fault, snap)


def test_the_restore_is_on_disk_before_the_inject_and_gone_after_it(tmp_path: Path) -> None:
    shared = tmp_path / ".chaos-pending.json"
    driver = Peeking(shared)
    journal = runner(tmp_path, driver, fake_load()).run()
    assert driver.seen == [("inject", [f"0/{SERVICE}"]), ("restore", [f"0/{SERVICE}"])]
    assert not shared.exists()
    run_file = read_pending(tmp_path / "run" / RUN_FILE)
    assert run_file is not None and run_file.entries == [] and run_file.run_id == journal.run_id


def snap(service: str = "redis") -> Snapshot:
    return FakeDriver().snapshot(service)


def test_a_dead_runs_pending_restores_are_undone_with_the_drivers_restore(tmp_path: Path) -> None:
    shared = tmp_path / ".chaos-pending.json"
    log = PendingLog("chaos-x-1", tmp_path / "run", shared)
    (tmp_path / "run").mkdir()
    pause = Fault(action="pause", target="store", at=10, duration=8)
    cut = Fault(action="disconnect", target="store", at=30, duration=8, network="backend")
    log.add(entry(0, pause, snap()))
    log.add(entry(1, cut, snap()))
    # the process dies here: nothing drops the entries
    driver = FakeDriver()
    lines: list[str] = []
    assert restore_pending(shared, driver, say=lines.append) == (2, 0)
    assert driver.calls == [("restore", "pause", "redis"), ("restore", "disconnect", "redis")]
    assert lines == [
        "restore pause redis (run chaos-x-1, fault 0/redis): restored",
        "restore disconnect redis (run chaos-x-1, fault 1/redis): restored",
    ]
    assert not shared.exists()
    assert read_pending(tmp_path / "run" / RUN_FILE).entries == []  # type: ignore[union-attr]
    assert restore_pending(shared, driver) is None  # nothing left


def test_snapshot_and_fault_survive_the_round_trip(tmp_path: Path) -> None:
    from datetime import UTC, datetime

    original = snap("web-b")
    original.started_at = datetime(2026, 1, 2, 3, 4, 5, 600000, tzinfo=UTC)
    fault = Fault(action="delay", target="t", at=5, duration=3, delay_ms=200, network="edge")
    item = entry(3, fault, original)
    again = type(item).model_validate_json(item.model_dump_json())
    assert again.to_snapshot() == original and again.to_fault() == fault


def test_a_failed_restore_stays_pending(tmp_path: Path) -> None:
    class Refusing(FakeDriver):
        def restore(self, fault: Fault, snap: Snapshot) -> Outcome:
            raise FaultError("restore pause redis: engine gone")

    shared = tmp_path / ".chaos-pending.json"
    log = PendingLog("chaos-x-2", tmp_path / "run", shared)
    (tmp_path / "run").mkdir()
    log.add(entry(0, Fault(action="pause", target="s", at=1, duration=1), snap()))
    lines: list[str] = []
    assert restore_pending(shared, Refusing(), say=lines.append) == (0, 1)
    assert "FAILED: restore pause redis: engine gone" in lines[0]
    assert [e.key for e in read_pending(shared).entries] == ["0/redis"]  # type: ignore[union-attr]


def test_a_run_refuses_to_start_over_pending_restores(tmp_path: Path) -> None:
    shared = tmp_path / ".chaos-pending.json"
    (tmp_path / "old").mkdir()
    PendingLog("chaos-old", tmp_path / "old", shared).add(
        entry(0, Fault(action="pause", target="s", at=1, duration=1), snap())
    )
    with pytest.raises(LabError, match=r"run chaos-old left 1 restore\(s\) pending .*srelab chaos restore"):
        runner(tmp_path, FakeDriver(), fake_load())


def test_restore_command_with_nothing_pending_exits_0(tmp_path: Path) -> None:
    from srelab.chaos.cli import chaos_app

    result = CliRunner().invoke(chaos_app, ["restore", "--file", str(tmp_path / "none.json")])
    assert result.exit_code == 0 and "nothing pending" in result.output


def test_a_garbled_pending_file_is_bad_input(tmp_path: Path) -> None:
    path = tmp_path / "p.json"
    path.write_text(json.dumps({"entries": [{"key": 1}]}))
    with pytest.raises(LabError, match="not a pending-restores file"):
        read_pending(path)


def test_sigterm_is_handled_like_ctrl_c(tmp_path: Path) -> None:
    driver = FakeDriver()
    r = runner(tmp_path, driver, fake_load(seconds=10), fast_experiment(at=0.2, duration=30.0))
    original = r._drain
    sent: list[bool] = []

    def drain_then_terminate() -> None:
        original()
        if r.tasks[0].record.inject_ok and not sent:
            sent.append(True)
            os.kill(os.getpid(), signal.SIGTERM)

    r._drain = drain_then_terminate  # type: ignore[method-assign]
    previous = signal.getsignal(signal.SIGTERM)
    with pytest.raises(RunSignal) as caught:
        r.run()
    assert caught.value.signum == signal.SIGTERM
    assert signal.getsignal(signal.SIGTERM) is previous  # the handler is put back
    assert ("restore", "kill", SERVICE) in driver.calls
    journal = read_journal(tmp_path / "run")
    assert journal.aborted == "interrupted (SIGTERM)" and journal.exit_code == 1
    assert not (tmp_path / ".chaos-pending.json").exists()
