"""Timeline rows, phase aggregates, recovery figures and verdicts on plain buckets."""

from __future__ import annotations

from dataclasses import replace

from srelab.chaos.audit import AuditResult, duplicate_keys, read_back
from srelab.chaos.model import Hypothesis, RecoveryGoals
from srelab.chaos.schedule import windows
from srelab.chaos.timeline import Mark, aggregate, build_rows, recovery
from srelab.chaos.verdict import (
    RotationFigures,
    VerdictInput,
    check_audit,
    check_phase,
    check_recovery,
    decide,
)
from srelab.load import WriteRecord
from tests.chaos.helpers import bucket

T0 = 1_000.0
STEADY = Hypothesis(max_error_rate=0.0, p95_ms=500, min_rps=5)


def rows_with_fault(bad: dict[int, dict[str, int]], slow: dict[int, float] | None = None):
    slow = slow or {}
    buckets = [bucket(s, T0, failures=bad.get(s), p95=slow.get(s, 50.0)) for s in range(30)]
    win = windows(T0, T0 + 30, warmup_s=2, settle_s=3, injects=[T0 + 10.3], restores=[T0 + 15.5])
    marks = [Mark(t=T0 + 10.3, label="inject kill web-a"), Mark(t=T0 + 15.5, label="restore kill web-a")]
    return build_rows(buckets, win, STEADY, marks)


def test_rows_carry_phase_marks_and_holds() -> None:
    rows = rows_with_fault({12: {"timeout": 2}})
    assert [r.phase for r in rows[:3]] == ["warmup", "warmup", "before"]
    assert rows[10].phase == "during" and rows[10].marks == ["inject kill web-a"]
    assert rows[15].marks == ["restore kill web-a"]
    assert rows[18].phase == "during" and rows[19].phase == "after"
    assert rows[12].holds is False and rows[12].failures == {"timeout": 2} and rows[12].failed == 2
    assert all(r.holds for r in rows if r.second != 12)


def test_aggregate_per_phase() -> None:
    rows = rows_with_fault({12: {"timeout": 2, "http_502": 1}}, slow={5: 900.0})
    before, during, after = (aggregate(rows, p) for p in ("before", "during", "after"))
    assert (before.seconds, during.seconds, after.seconds) == (8, 9, 11)
    assert before.requests == 80 and before.failed == 0 and before.p95_ms == 900.0
    assert during.failed == 3 and during.failures == {"timeout": 2, "http_502": 1}
    assert abs(during.error_rate - 3 / 90) < 1e-9 and during.rps == 10.0
    assert after.p95_ms == 50.0


def test_recovery_figures() -> None:
    rows = rows_with_fault({13: {"http_502": 1}, 14: {"http_502": 4}}, slow={16: 800.0})
    rec = recovery(rows, fault=0, inject_t=T0 + 10.3, window_end=T0 + 18.5, stable_s=3)
    assert rec.time_to_first_error_s == 2.7  # the first failing second starts 2.7 s after the inject
    assert rec.errors == 5 and rec.requests == 90 and rec.failures == {"http_502": 5}
    assert rec.violated and rec.bad_seconds == 3
    # The last bad second is 16 (slow); 17, 18, 19 hold: recovered at 17 = 6.7 s after the inject.
    assert rec.time_to_recover_s == 6.7 and rec.recovered
    clean = recovery(rows_with_fault({}), 0, T0 + 10.3, T0 + 18.5, 3)
    assert clean.time_to_first_error_s is None and clean.time_to_recover_s == 0.0 and not clean.violated
    broken = rows_with_fault({s: {"http_503": 10} for s in range(12, 30)})
    never = recovery(broken, 0, T0 + 10.3, T0 + 18.5, 3)
    assert not never.recovered and never.time_to_recover_s is None


def test_check_phase_limits() -> None:
    rows = rows_with_fault({12: {"timeout": 1}}, slow={13: 700.0})
    during = aggregate(rows, "during")
    ok = check_phase(during, Hypothesis(max_error_rate=0.05, p95_ms=1000, min_rps=5))
    assert ok.passed and not ok.reasons
    bad = check_phase(
        during, Hypothesis(max_error_rate=0.0, p95_ms=500, min_rps=20, max_failures={"timeout": 0})
    )
    assert not bad.passed
    joined = " | ".join(bad.reasons)
    assert "error rate 1.11% > 0.00% (1/90)" in joined
    assert "p95 700 ms > 500 ms" in joined
    assert "10.0 req/s < 20 req/s" in joined
    assert "1 timeout failures > 0" in joined
    empty = check_phase(aggregate([], "after"), STEADY)
    assert not empty.passed and empty.reasons == ["no data in the after phase"]


def test_recovery_goals() -> None:
    rows = rows_with_fault({13: {"http_502": 1}})
    fig = recovery(rows, 0, T0 + 10.3, T0 + 18.5, 3)
    fast = RotationFigures(fault=0, service="web-a", reference="container start", back_in_rotation_s=1.8)
    slow = RotationFigures(fault=0, service="web-a", reference="container start", back_in_rotation_s=7.2)
    assert check_recovery(RecoveryGoals(max_back_in_rotation_s=5), [fig], [fast]).passed
    verdict = check_recovery(RecoveryGoals(max_back_in_rotation_s=5, max_time_to_recover_s=1), [fig], [slow])
    assert not verdict.passed
    assert any("back in rotation 7.20 s after container start > 5 s" in r for r in verdict.reasons)
    assert any("recovered after 3.7 s > 1 s" in r for r in verdict.reasons)
    missing = RotationFigures(fault=0, service="web-a", error="not seen")
    assert not check_recovery(RecoveryGoals(max_back_in_rotation_s=5), [], [missing]).passed


def test_audit_verdict_and_helpers() -> None:
    assert check_audit(AuditResult(acknowledged=10, read_ok=10, list_complete=True), True).passed
    lost = check_audit(AuditResult(acknowledged=10, read_ok=9, lost=1, list_complete=True), True)
    assert not lost.passed and lost.reasons == ["1 acknowledged write(s) lost"]
    dup = AuditResult(acknowledged=10, read_ok=10, duplicate_keys=1, list_complete=True)
    assert not check_audit(dup, fail_on_duplicates=True).passed
    assert check_audit(dup, fail_on_duplicates=False).passed
    records = [
        WriteRecord(t=1, key="k1", status=201, id="a"),
        WriteRecord(t=2, key="k1", attempt=2, status=201, id="b"),
        WriteRecord(t=3, key="k2", status=201, id="c"),
        WriteRecord(t=4, key="k2", attempt=2, status=201, id="c"),
        WriteRecord(t=5, key="k3", status=0, error="timeout"),
    ]
    assert duplicate_keys(records) == {"k1": ["a", "b"]}
    statuses = {"found": [200], "gone": [404, 404], "flaky": [503, 0, 200], "down": [503] * 5}

    def fetch(item_id: str) -> tuple[int, str | None]:
        status = statuses[item_id].pop(0)
        return status, f"name-{item_id}" if status == 200 else None

    found, gone, unverified, names = read_back(
        ["found", "gone", "flaky", "down"], fetch, concurrency=2, pause_s=0.0
    )
    assert sorted(found) == ["flaky", "found"] and gone == ["gone"] and unverified == ["down"]
    assert names == {"found": "name-found", "flaky": "name-flaky"}


def test_decide_overall_and_exit_code() -> None:
    rows = rows_with_fault({})
    phases = {p: aggregate(rows, p) for p in ("before", "during", "after")}
    audit = AuditResult(acknowledged=5, read_ok=5, list_complete=True)
    given = VerdictInput(
        phases, STEADY, STEADY, RecoveryGoals(), audit=audit, fail_on_duplicates=True, restore_verified=True
    )
    good = decide(given)
    assert good.overall.passed and good.exit_code == 0
    restore_failed = decide(
        replace(given, restore_problems=["web-a: not running (exited)"], restore_verified=False)
    )
    assert not restore_failed.overall.passed and restore_failed.exit_code == 1
    assert restore_failed.overall.reasons == ["restore: web-a: not running (exited)"]
    aborted = decide(replace(given, aborted="interrupted (Ctrl-C)"))
    assert aborted.exit_code == 1 and aborted.overall.reasons[0] == "aborted: interrupted (Ctrl-C)"
