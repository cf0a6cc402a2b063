"""FaultDriver's CPU and crash actions against a fake engine (no Docker): the CPU inject must see
its busy loops, a CPU restore that killed nothing fails, a crash re-checks the PID it kills."""

from __future__ import annotations

import os
import signal
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from srelab.chaos import faults
from srelab.chaos.faults import FaultDriver, FaultError, NoBusyLoops
from srelab.chaos.model import Fault
from srelab.chaos.pending import PendingLog, entry, read_pending, restore_pending
from srelab.stack.settings import get_settings
from tests.chaos.helpers import FakeDriver


@dataclass
class FakeContainer:
    id: str = "c0ffee" * 10
    name: str = "proj-web-a-1"
    pids: list[int] = field(default_factory=lambda: [4242])  # State.Pid per reload (last one sticks)
    running: bool = True
    reloads: int = 0

    def reload(self) -> None:
        self.reloads += 1
        pid = self.pids[min(self.reloads - 1, len(self.pids) - 1)]
        self.state = SimpleNamespace(pid=pid, running=self.running, paused=False, restarting=False)


class FakeEngine:
    """docker.container.execute answers the process scans with `counts`, one per call."""

    def __init__(self, box: FakeContainer, counts: list[str]) -> None:
        self.box, self.counts, self.execs = box, counts, []
        self.container = self

    def list(self, **kw: Any) -> list[FakeContainer]:
        return [self.box]

    def execute(self, c: FakeContainer, cmd: list[str], detach: bool = False) -> str:
        self.execs.append((cmd[-1], detach))
        return "" if detach else self.counts.pop(0)


def driver(box: FakeContainer, counts: list[str]) -> tuple[FaultDriver, FakeEngine]:
    engine = FakeEngine(box, counts)
    return FaultDriver(engine, get_settings()), engine  # type: ignore[arg-type]


CPU = Fault(action="cpu", target="t", at=5, duration=4, workers=2)


def test_cpu_inject_counts_the_busy_loops_it_started() -> None:
    box = FakeContainer()
    box.reload()
    d, engine = driver(box, ["4"])
    outcome = d._cpu(CPU, box)  # type: ignore[arg-type]
    assert "4 process(es) seen" in outcome.detail
    assert [detach for _, detach in engine.execs] == [True, False]
    assert "kill" not in engine.execs[1][0]  # a count, not a kill


def test_cpu_inject_fails_when_no_loop_started(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(faults, "CPU_START_WAIT_S", 0.3)
    box = FakeContainer()
    box.reload()
    d, _ = driver(box, ["0"] * 50)
    with pytest.raises(FaultError, match="no busy loop running"):
        d._cpu(CPU, box)  # type: ignore[arg-type]


def test_cpu_restore_that_killed_nothing_fails() -> None:
    box = FakeContainer()
    box.reload()
    d, engine = driver(box, ["0"])
    with pytest.raises(NoBusyLoops, match="killed 0 busy-loop processes"):
        d._uncpu(box)  # type: ignore[arg-type]
    assert "kill -9" in engine.execs[0][0]
    d, _ = driver(box, ["2"])
    assert d._uncpu(box).detail == "killed 2 busy-loop process(es)"  # type: ignore[arg-type]


def test_pending_cpu_restore_with_no_loops_stays_unless_their_bound_passed(tmp_path: Path) -> None:
    class NoLoops(FakeDriver):
        def restore(self, fault: Fault, snap: faults.Snapshot) -> faults.Outcome:
            raise NoBusyLoops("restore cpu x: killed 0 busy-loop processes (none found)")

    shared = tmp_path / "p.json"
    (tmp_path / "run").mkdir()
    log = PendingLog("r", tmp_path / "run", shared)
    log.add(entry(0, CPU, FakeDriver().snapshot("web-a")))
    assert restore_pending(shared, NoLoops(), say=lambda _: None) == (0, 1)
    data = read_pending(shared)
    assert data is not None
    data.entries[0].added_at -= 60  # bound: duration 4 + 5 s
    shared.write_text(data.model_dump_json())
    lines: list[str] = []
    assert restore_pending(shared, NoLoops(), say=lines.append) == (1, 0)
    assert "their time bound has passed" in lines[0]


def test_crash_refuses_when_the_main_pid_changed(monkeypatch: pytest.MonkeyPatch) -> None:
    killed: list[int] = []
    monkeypatch.setattr(os, "kill", lambda pid, sig: killed.append(pid))
    box = FakeContainer(pids=[4242, 5151])  # restarted between the read and the kill
    d, _ = driver(box, [])
    monkeypatch.setattr(Path, "read_text", lambda self, **kw: f"0::/docker/{box.id}")
    with pytest.raises(FaultError, match=r"main PID changed \(4242 -> 5151\): PID 4242 not killed"):
        d._crash(box)  # type: ignore[arg-type]
    assert killed == []


def test_crash_refuses_when_the_container_stopped(monkeypatch: pytest.MonkeyPatch) -> None:
    killed: list[str] = []
    box = FakeContainer()
    d, _ = driver(box, [])
    monkeypatch.setattr(Path, "read_text", lambda self, **kw: "0::/elsewhere")  # not visible: helper path
    monkeypatch.setattr(d, "_helper", lambda script, env, **kw: killed.append(script))
    original = box.reload

    def reload_then_stop() -> None:
        original()
        box.running = False  # stopped after the first read

    box.reload = reload_then_stop  # type: ignore[method-assign]
    with pytest.raises(FaultError, match="no longer running: PID 4242 not killed"):
        d._crash(box)  # type: ignore[arg-type]
    assert killed == []


def test_crash_kills_the_pid_it_read_twice(monkeypatch: pytest.MonkeyPatch) -> None:
    killed: list[tuple[int, int]] = []
    monkeypatch.setattr(os, "kill", lambda pid, sig: killed.append((pid, sig)))
    box = FakeContainer()
    d, _ = driver(box, [])
    monkeypatch.setattr(Path, "read_text", lambda self, **kw: f"0::/docker/{box.id}")
    assert d._crash(box).method == "host kill"  # type: ignore[arg-type]
    assert killed == [(4242, signal.SIGKILL)] and box.reloads == 2
