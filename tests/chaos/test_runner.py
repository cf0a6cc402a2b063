"""The runner with a fake fault driver and a fake load: restores always run and are recorded.

Experiments are built with model_construct so faults can come a fraction of a second after the
load's start (files must leave a 5 s baseline); no Docker, no Locust, no network.
"""

from __future__ import annotations

import io
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console

from srelab.chaos.events import RunObserver, RunStart
from srelab.chaos.faults import Snapshot
from srelab.chaos.journal import read_journal
from srelab.chaos.model import (
    Audit,
    Experiment,
    Fault,
    Hypotheses,
    Hypothesis,
    LoadConfig,
    RecoveryGoals,
    TargetSelector,
)
from srelab.chaos.runner import ChaosRunner
from srelab.chaos.targets import Candidate
from srelab.chaos.view import LiveView
from srelab.errors import LabError
from srelab.load import LoadSpec
from srelab.stack.settings import get_settings
from tests.chaos.helpers import FakeDriver, bucket, load_result

SERVICE = "svc-x"  # role "other": no rotation probe, no proxy checks


def fast_experiment(at: float = 1.1, duration: float = 0.5, action: str = "kill") -> Experiment:
    return Experiment.model_construct(
        name="unit-fast",
        description="fast fake run",
        load=LoadConfig.model_construct(preset=None, scale=10.0, spec=LoadSpec(users=1, duration_s=3)),
        targets={"t": TargetSelector(service=SERVICE)},
        faults=[Fault(action=action, target="t", at=at, duration=duration, grace_s=1)],
        hypothesis=Hypotheses(steady=Hypothesis(max_error_rate=0.0), warmup_s=0.0, settle_s=0.2, stable_s=1),
        recovery=RecoveryGoals(),
        audit=Audit(enabled=False),
        restore_timeout_s=5.0,
    )


def fake_load(seconds: int = 4, fail_at: float | None = None):
    def run(spec: LoadSpec, out_dir: Path, on_second=None, stop_event: threading.Event | None = None):
        out_dir.mkdir(parents=True, exist_ok=True)
        t0 = time.time()
        buckets = []
        for second in range(seconds):
            if fail_at is not None and time.time() - t0 >= fail_at:
                raise RuntimeError("load generator crashed")
            b = bucket(second, t0, requests=10, served_by={SERVICE: 10})
            buckets.append(b)
            if on_second is not None:
                on_second(b)
            end = t0 + second + 1
            while time.time() < end:
                if stop_event is not None and stop_event.is_set():
                    return load_result(spec, out_dir, buckets)
                if fail_at is not None and time.time() - t0 >= fail_at:
                    raise RuntimeError("load generator crashed")
                time.sleep(0.02)
        return load_result(spec, out_dir, buckets)

    return run


def runner(
    tmp_path: Path,
    driver: FakeDriver,
    load,
    exp: Experiment | None = None,
    candidates: list[Candidate] | None = None,
    **options: Any,
) -> ChaosRunner:
    r = ChaosRunner(
        exp or fast_experiment(),
        Path("unit.yaml"),
        get_settings(),
        driver=driver,  # type: ignore[arg-type]
        load_fn=load,
        candidates=candidates or [Candidate(SERVICE, "other")],
        out_dir=tmp_path / "run",
        live=options.pop("live", False),
        annotate=False,
        watch_alerts=False,
        proxy_url="http://127.0.0.1:9",
        pending_path=tmp_path / ".chaos-pending.json",
        **options,
    )
    r.prepare()
    return r


def test_fault_injected_restored_verified_and_reported(tmp_path: Path) -> None:
    driver = FakeDriver()
    journal = runner(tmp_path, driver, fake_load()).run()
    assert [c[0] for c in driver.calls] == ["inject", "restore", "verify"]
    kinds = [e.kind for e in journal.events]
    assert kinds == ["inject", "restore", "verify"]
    fault = journal.faults[0]
    assert fault.inject_ok and fault.restore_ok
    assert 1.0 <= fault.inject_offset_s <= 1.4, fault.inject_offset_s
    assert 1.5 <= fault.restore_offset_s <= 2.0, fault.restore_offset_s
    assert [r.phase for r in journal.timeline] == ["before", "during", "after", "after"]
    assert journal.restore_verified and journal.verdicts is not None
    assert journal.load.requests == 40 and sum(r.requests for r in journal.timeline) == 40
    assert any("inject kill svc-x" in r.marks for r in journal.timeline)
    assert journal.exit_code == 0, journal.verdicts.overall.reasons
    folder = tmp_path / "run"
    for name in ("journal.json", "report.md", "report.html", "timeline.png"):
        assert (folder / name).stat().st_size > 0, name
    assert read_journal(folder).run_id == journal.run_id


def test_restore_runs_early_when_the_load_crashes(tmp_path: Path) -> None:
    driver = FakeDriver()
    exp = fast_experiment(at=0.2, duration=30.0)  # restore planned long after the crash
    started = time.monotonic()
    journal = runner(tmp_path, driver, fake_load(seconds=5, fail_at=1.2), exp).run()
    assert time.monotonic() - started < 15
    assert ("restore", "kill", SERVICE) in driver.calls
    assert journal.faults[0].restore_ok
    assert journal.aborted and "load generator crashed" in journal.aborted
    assert journal.exit_code == 1


def test_failed_inject_still_restores_and_fails_the_run(tmp_path: Path) -> None:
    driver = FakeDriver(fail_inject=True)
    journal = runner(tmp_path, driver, fake_load(seconds=2)).run()
    assert [c[0] for c in driver.calls] == ["inject", "restore", "verify"]
    inject = next(e for e in journal.events if e.kind == "inject")
    assert not inject.ok and "injection refused" in (inject.error or "")
    assert journal.exit_code == 1
    assert any("no fault was injected" in r for r in journal.verdicts.overall.reasons)


def test_fault_after_the_load_ended_is_skipped(tmp_path: Path) -> None:
    driver = FakeDriver()
    journal = runner(tmp_path, driver, fake_load(seconds=2), fast_experiment(at=10.0, duration=1.0)).run()
    assert [c[0] for c in driver.calls] == ["verify"]
    assert journal.faults[0].skipped == "the load ended first"
    assert journal.exit_code == 1


def test_unverified_restore_fails_the_run(tmp_path: Path) -> None:
    driver = FakeDriver(verify_problems=["svc-x: not running (exited)"])
    journal = runner(tmp_path, driver, fake_load(seconds=2)).run()
    assert not journal.restore_verified
    assert journal.verdicts.restore.reasons == ["svc-x: not running (exited)"]
    assert journal.exit_code == 1


def test_ctrl_c_restores_writes_the_journal_and_reraises(tmp_path: Path) -> None:
    driver = FakeDriver()
    exp = fast_experiment(at=0.2, duration=30.0)
    r = runner(tmp_path, driver, fake_load(seconds=10), exp)
    original = r._drain

    def drain_then_interrupt() -> None:
        original()
        if r.tasks[0].record.inject_ok:
            raise KeyboardInterrupt

    r._drain = drain_then_interrupt  # type: ignore[method-assign]
    with pytest.raises(KeyboardInterrupt):
        r.run()
    assert ("restore", "kill", SERVICE) in driver.calls
    journal = read_journal(tmp_path / "run")
    assert journal.aborted == "interrupted (Ctrl-C)" and journal.exit_code == 1
    assert [e.kind for e in journal.events] == ["inject", "restore", "verify"]
    assert journal.audit is None


def test_prepare_refuses_an_unhealthy_stack(tmp_path: Path) -> None:
    class Unhealthy(FakeDriver):
        def snapshot(self, service: str) -> Snapshot:
            snap = super().snapshot(service)
            snap.health = "unhealthy"
            return snap

    driver = Unhealthy()
    r = ChaosRunner(
        fast_experiment(),
        Path("unit.yaml"),
        get_settings(),
        driver=driver,  # type: ignore[arg-type]
        load_fn=fake_load(),
        candidates=[Candidate(SERVICE, "web")],
        out_dir=tmp_path / "run",
        live=False,
        annotate=False,
        watch_alerts=False,
    )
    with pytest.raises(LabError, match="svc-x is unhealthy: the stack must be healthy"):
        r.prepare()
    assert driver.calls == [] and not (tmp_path / "run").exists()


def live_view(r: ChaosRunner, t0: float) -> LiveView:
    """A live view (not started: no terminal) told the runner's plan and the load's start."""
    view = LiveView(Console())
    view.experiment = r.exp
    for task in r.tasks:
        view.fault_planned(task.record)
    view.load_started(t0)
    return view


def test_live_view_shows_phase_rate_errors_and_next_fault(tmp_path: Path) -> None:
    r = runner(tmp_path, FakeDriver(), fake_load(), fast_experiment(at=8.0, duration=2.0))
    now = time.time()
    view = live_view(r, now - 3.2)
    # 60 requests, 3 failed so far; the last second 25 of them with the 3 failures.
    view.second_recorded(bucket(0, view.t0, requests=20))
    view.second_recorded(bucket(1, view.t0, requests=15))
    view.second_recorded(bucket(2, view.t0, requests=25, failures={"http_502": 2, "timeout": 1}, p95=321.0))
    console = Console(record=True, width=140)
    console.print(view.render())
    text = console.export_text()
    assert "before (baseline)" in text and "t+3s" in text
    assert "25 req/s, 3 failed (http_502 2, timeout 1), p95 321 ms" in text
    assert "60 requests, 3 failed" in text
    assert "next fault" in text and "kill t @8s for 2s on svc-x in 5 s" in text
    view.fault_injecting(r.tasks[0].record)
    r.tasks[0].record.inject_ok = True
    view.fault_injected(r.tasks[0].record)
    console = Console(record=True, width=140)
    console.print(view.render())
    text = console.export_text()
    assert "during (fault active)" in text and "restore in" in text and "next fault" not in text


def test_one_failed_inject_fails_the_run_although_another_succeeded(tmp_path: Path) -> None:
    other = "svc-y"
    exp = fast_experiment()
    exp.targets["u"] = TargetSelector(service=other)
    exp.faults.append(Fault(action="kill", target="u", at=1.1, duration=0.5, grace_s=1))
    driver = FakeDriver(fail_services=frozenset({other}))
    candidates = [Candidate(SERVICE, "other"), Candidate(other, "other")]
    journal = runner(tmp_path, driver, fake_load(), exp, candidates).run()
    ok = {f.service: f.inject_ok for f in journal.faults}
    assert ok == {SERVICE: True, other: False}
    assert journal.exit_code == 1
    assert not journal.verdicts.overall.passed
    assert any(
        "fault 1 (svc-y): inject failed: boom: injection refused" in reason
        for reason in journal.verdicts.overall.reasons
    ), journal.verdicts.overall.reasons
    assert ("restore", "kill", other) in driver.calls  # a failed inject is still restored


def test_a_saturated_load_generator_makes_a_passing_run_inconclusive(tmp_path: Path) -> None:
    base = fake_load()
    reason = "load generator CPU >= 90% of a core for 4 of 4 s (max 100%)"

    def saturated(*args, **kwargs):
        result = base(*args, **kwargs)
        return result.model_copy(update={"valid": False, "invalid_reasons": [reason]})

    journal = runner(tmp_path, FakeDriver(), saturated).run()
    assert journal.exit_code == 3
    overall = journal.verdicts.overall
    assert overall.passed and overall.label == "INCONCLUSIVE"
    assert overall.inconclusive == [f"load generator: {reason}"]
    assert "INCONCLUSIVE" in (tmp_path / "run" / "report.md").read_text(encoding="utf-8")


def test_a_failed_run_stays_failed_when_also_inconclusive() -> None:
    from srelab.chaos.verdict import Verdict, Verdicts, make_inconclusive

    ok = Verdict(passed=True)
    verdicts = Verdicts(
        before=ok, during=ok, after=ok, recovery=ok, audit=ok, restore=ok, overall=Verdict(passed=False)
    )
    make_inconclusive(verdicts, ["load generator: saturated"])
    assert verdicts.exit_code == 1 and verdicts.overall.label == "FAIL"


def test_live_view_with_two_faults_planned_at_the_same_second(tmp_path: Path) -> None:
    other = "svc-y"
    exp = fast_experiment(at=8.0, duration=2.0)
    exp.targets["u"] = TargetSelector(service=other)
    exp.faults.append(Fault(action="pause", target="u", at=8.0, duration=2.0))
    candidates = [Candidate(SERVICE, "other"), Candidate(other, "other")]
    r = runner(tmp_path, FakeDriver(), fake_load(), exp, candidates)
    assert [t.record.planned_at_s for t in r.tasks] == [8.0, 8.0]
    view = live_view(r, time.time() - 1.0)
    console = Console(record=True, width=140)
    console.print(view.render())  # raised TypeError ('<' between two Task) before sorting by key
    text = console.export_text()
    assert "next fault" in text and "kill t @8s for 2s on svc-x in 7 s" in text


class EventLog(RunObserver):
    """Every run event's name, in order (fault events with the service)."""

    def __init__(self) -> None:
        self.names: list[str] = []

    def run_started(self, start: RunStart) -> None:
        self.names.append("run_started")

    def fault_planned(self, record) -> None:
        self.names.append(f"fault_planned {record.service}")

    def load_started(self, t0: float) -> None:
        self.names.append("load_started")

    def second_recorded(self, bucket) -> None:
        self.names.append("second_recorded")

    def fault_injecting(self, record) -> None:
        self.names.append(f"fault_injecting {record.service}")

    def fault_injected(self, record) -> None:
        self.names.append(f"fault_injected {record.service} ok={record.inject_ok}")

    def fault_restored(self, record) -> None:
        self.names.append(f"fault_restored {record.service} ok={record.restore_ok}")

    def load_finished(self) -> None:
        self.names.append("load_finished")

    def run_finished(self, journal) -> None:
        self.names.append(f"run_finished exit={journal.exit_code}")


def test_observers_are_told_the_run_events_in_order(tmp_path: Path) -> None:
    log = EventLog()
    runner(tmp_path, FakeDriver(), fake_load(), observers=[log]).run()
    seconds = [n for n in log.names if n == "second_recorded"]
    faults = [n for n in log.names if n.startswith("fault_")]
    assert len(seconds) == 4
    assert faults == [
        f"fault_planned {SERVICE}",
        f"fault_injecting {SERVICE}",
        f"fault_injected {SERVICE} ok=True",
        f"fault_restored {SERVICE} ok=True",
    ]
    assert log.names[:3] == ["run_started", f"fault_planned {SERVICE}", "load_started"]
    assert log.names[-2:] == ["load_finished", "run_finished exit=0"]


# rich draws the view in its own thread: a rendering error there would only warn.
@pytest.mark.filterwarnings("error::pytest.PytestUnhandledThreadExceptionWarning")
def test_a_live_run_on_a_terminal_with_two_faults_at_one_second(tmp_path: Path, caplog) -> None:
    """The live view on a (forced) terminal through a whole run: faults at the same second, no
    observer failure, the view drawn."""
    other = "svc-y"
    exp = fast_experiment()
    exp.targets["u"] = TargetSelector(service=other)
    exp.faults.append(Fault(action="pause", target="u", at=1.1, duration=0.5))
    candidates = [Candidate(SERVICE, "other"), Candidate(other, "other")]
    out = io.StringIO()
    console = Console(file=out, force_terminal=True, width=140)
    r = runner(tmp_path, FakeDriver(), fake_load(), exp, candidates, live=True, console=console)
    journal = r.run()
    assert journal.exit_code == 0, journal.verdicts.overall.reasons
    assert "observer" not in caplog.text
    text = out.getvalue()
    assert "unit-fast: fast fake run" in text and "so far" in text
