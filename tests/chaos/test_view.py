"""The live view and the event-line printer as run observers, fed events without a runner or a TTY."""

from __future__ import annotations

import io
import time

from rich.console import Console

from srelab.chaos.events import ObserverRegistry, RunObserver, RunStart
from srelab.chaos.journal import FaultRecord
from srelab.chaos.view import ConsoleLog, LiveView
from tests.chaos.helpers import bucket, experiment


def record(index: int, service: str, at: float = 10.0, duration: float = 8.0) -> FaultRecord:
    return FaultRecord(
        index=index,
        action="kill",
        target="victim",
        service=service,
        description=f"kill victim @{at:g}s for {duration:g}s",
        planned_at_s=at,
        planned_restore_s=at + duration,
    )


def terminal() -> tuple[Console, io.StringIO]:
    out = io.StringIO()
    return Console(file=out, force_terminal=True, width=140), out


def test_two_faults_planned_at_the_same_second_are_pending_and_render_on_a_terminal() -> None:
    """count: all (or two faults at one time) plans two faults at one second: sorting the pending
    faults themselves raised TypeError on a terminal before the first fault."""
    console, out = terminal()
    view = LiveView(console)
    view.run_started(RunStart(experiment()))
    try:
        for index, service in enumerate(("web-b", "web-a")):
            view.fault_planned(record(index, service))
        view.load_started(time.time() - 2.0)
        pending = view.pending()
        assert [(f.at, f.service) for f in pending] == [(10.0, "web-b"), (10.0, "web-a")]
        console.print(view.render())
    finally:
        view.load_finished()
    text = out.getvalue()
    assert "next fault" in text and "kill victim @10s for 8s on web-b in 8 s" in text


def test_the_view_follows_inject_restore_and_skip_events() -> None:
    view = LiveView(Console(file=io.StringIO()))
    view.experiment = experiment()
    first, second = record(0, "web-a"), record(1, "web-b", at=20.0)
    view.fault_planned(first)
    view.fault_planned(second)
    t0 = time.time() - 12.0
    view.load_started(t0)
    view.fault_injecting(first)
    assert [f.service for f in view.pending()] == ["web-b"] and view.active() == []
    first.inject_ok = True
    view.fault_injected(first)
    assert [f.service for f in view.active()] == ["web-a"]
    assert view.phase_now(time.time()) == "during (fault active)"
    first.restore_ok, first.restored_at = True, time.time()
    view.fault_restored(first)
    assert view.active() == [] and view.phase_now(time.time()) == "during (settling)"
    assert view.phase_now(time.time() + 60) == "after"
    second.skipped = "the load ended first"
    view.fault_skipped(second)
    assert view.pending() == []


def test_messages_are_stamped_and_the_last_six_shown() -> None:
    view = LiveView(Console(file=io.StringIO()))
    view.experiment = experiment()
    for i in range(8):
        view.message(f"line {i}")
    view.second_recorded(bucket(0, time.time(), requests=7))
    console = Console(record=True, width=140)
    console.print(view.render())
    text = console.export_text()
    assert "line 1" not in text and "line 2" in text and "line 7" in text
    assert "7 requests, 0 failed" in text and "starting load" in text


def test_console_log_prints_every_event_line() -> None:
    out = io.StringIO()
    log = ConsoleLog(Console(file=out, width=140))
    log.message("t+1.0s inject kill web-a: killed")
    log.second_recorded(bucket(0, time.time()))  # not an event line: nothing printed
    assert out.getvalue() == "t+1.0s inject kill web-a: killed\n"


def test_a_failing_observer_is_skipped_and_the_others_still_told(caplog) -> None:
    class Broken(RunObserver):
        def message(self, text: str) -> None:
            raise RuntimeError("display bug")

    class Recorder(RunObserver):
        def __init__(self) -> None:
            self.lines: list[str] = []

        def message(self, text: str) -> None:
            self.lines.append(text)

    recorder = Recorder()
    registry = ObserverRegistry([Broken()])
    registry.register(recorder)
    registry.message("hello")
    assert recorder.lines == ["hello"]
    assert "Broken failed on message" in caplog.text
