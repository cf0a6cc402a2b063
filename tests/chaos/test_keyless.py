"""Chaos runs driven by hey: the `tool: hey` load, the keyless write audit, fault overlap, failures
with no time; the runner with a fake hey (no Docker, no hey binary) and a small items API."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from srelab.chaos.audit import audit_keyless, keyless_balance
from srelab.chaos.journal import HEY_LIVE_NOTE
from srelab.chaos.model import (
    Audit,
    Experiment,
    ExperimentError,
    Fault,
    Hypotheses,
    Hypothesis,
    LoadConfig,
    RecoveryGoals,
    TargetSelector,
    load_experiment,
    parse_experiment,
)
from srelab.chaos.runner import ChaosRunner
from srelab.chaos.targets import Candidate
from srelab.chaos.timeline import PhaseStats
from srelab.chaos.verdict import (
    Verdict,
    VerdictInput,
    amend,
    charge_unplaced,
    check_keyless,
    check_overlaps,
    decide,
    fault_overlap,
)
from srelab.load import EP_POST, HeyFigures, LoadResult, LoadSpec, SecondBucket
from srelab.load.hey import HeyLine, HeyOptions, events_lines, with_hey_figures
from srelab.load.runner import summarize
from srelab.load.timeline import build_timeline
from srelab.stack.settings import get_settings
from tests.chaos.helpers import FakeDriver, experiment_dict
from tests.load.heytools import items_api

ROOT = Path(__file__).resolve().parents[2]
SHIPPED = ROOT / "chaos" / "experiments" / "challenge-hey-keyless-kill.yaml"
SERVICE = "svc-x"


# -- the experiment file -----------------------------------------------------------------------------
def test_tool_hey_with_a_preset_and_rate() -> None:
    exp = parse_experiment(
        experiment_dict(load={"tool": "hey", "preset": "hey-post", "scale": 2, "rate_per_worker": 20}),
        "u.yaml",
    )
    assert exp.load.tool == "hey" and exp.load.rate_per_worker == 20
    assert exp.spec.requests == 5000 and exp.spec.users == 10
    assert parse_experiment(experiment_dict(), "u.yaml").load.tool == "locust"


@pytest.mark.parametrize(
    ("load", "message"),
    [
        ({"tool": "wrk", "preset": "hey-post"}, "u.yaml: load.tool: Input should be 'locust' or 'hey'"),
        (
            {"tool": "hey", "scenario": "mixed", "duration_s": 30},
            "load.scenario: hey runs hey-get or hey-post",
        ),
        (
            {"tool": "hey", "scenario": "hey-get", "duration_s": 30},
            "load.requests: hey needs a request count",
        ),
        ({"preset": "hey-post", "rate_per_worker": 5}, "load.rate_per_worker: only with tool: hey"),
        (
            {"tool": "hey", "preset": "hey-get", "rate_per_worker": -1},
            "load.rate_per_worker: Input should be",
        ),
        ({"tool": "hey", "preset": "hey-post", "wait_max_s": 0.2}, "load.wait_max_s: a Locust setting"),
    ],
)
def test_bad_hey_load_names_the_field(load: dict, message: str) -> None:
    with pytest.raises(ExperimentError) as err:
        parse_experiment(experiment_dict(load=load), "u.yaml")
    assert message in str(err.value)


def test_shipped_keyless_experiment_outlasts_its_fault_whatever_the_stack_speed() -> None:
    exp = load_experiment(SHIPPED)
    assert exp.load.tool == "hey" and exp.spec.scenario.value == "hey-post"
    assert exp.audit.enabled and exp.audit.fail_on_duplicates
    assert exp.hypothesis.steady.max_error_rate == 0 == exp.hypothesis.during_or_steady.max_error_rate
    (fault,) = exp.faults
    assert fault.action.value == "kill" and exp.targets[fault.target].service == "web"
    rate = exp.spec.users * (exp.load.rate_per_worker or 0)
    shortest_run_s = exp.spec.requests / rate  # the rate cap: no stack can make it shorter
    assert shortest_run_s >= fault.restore_at + exp.hypothesis.settle_s + 5  # an after-phase remains
    # the time bound leaves room for a stack much slower than the cap
    assert exp.spec.duration_s >= 3 * shortest_run_s
    pages_needed = exp.spec.requests / 500
    assert exp.audit.max_list_pages >= 4 * pages_needed


# -- keyless audit -------------------------------------------------------------------------------------
def test_keyless_balance() -> None:
    assert keyless_balance(1000, 1000) == (0, 0)
    assert keyless_balance(1000, 1003) == (3, 0)  # the original challenge's duplicates
    assert keyless_balance(1000, 990) == (0, 10)


def test_audit_counts_the_runs_items_across_pages_back_to_its_start() -> None:
    with items_api() as api:
        since = time.time()
        for _ in range(2000):
            api.add("hey-run-1", created=since - 3600)  # an older run under the same name: not counted
        for i in range(1200):
            api.add("hey-run-1" if i % 2 == 0 else "someone else's write")
        result = audit_keyless("hey-run-1", api.url, since, sent=600, answered=600, acknowledged=600)
    k = result.keyless
    assert k is not None and k.error is None
    assert (k.stored, k.duplicates, k.lost) == (600, 0, 0) and k.list_complete
    assert k.list_pages == 4  # 500 a page, newest first, until a page older than the run
    assert result.posts == 600 and result.acknowledged_posts == 600


def test_audit_finds_duplicates_and_losses_and_an_incomplete_scan() -> None:
    with items_api() as api:
        since = time.time() - 1
        for _ in range(1003):
            api.add("hey-dup")
        dup = audit_keyless("hey-dup", api.url, since, sent=1000, answered=1000, acknowledged=1000).keyless
        lost = audit_keyless("hey-dup", api.url, since, sent=1010, answered=1010, acknowledged=1010).keyless
        short = audit_keyless(
            "hey-dup", api.url, since, sent=1000, answered=1000, acknowledged=1000, max_list_pages=1
        ).keyless
    assert dup is not None and (dup.stored, dup.duplicates, dup.lost) == (1003, 3, 0)
    assert lost is not None and (lost.duplicates, lost.lost) == (0, 7)
    assert short is not None and not short.list_complete and short.stored == 500


def test_audit_of_an_unreachable_api_is_an_error_not_a_count() -> None:
    result = audit_keyless("x", "http://127.0.0.1:9", time.time(), sent=10, answered=10, acknowledged=10)
    assert result.keyless is not None and result.keyless.error and result.keyless.stored == 0


def _keyless(**fields: object):
    from srelab.chaos.audit import KeylessAudit

    base = {"name": "hey-r", "sent": 1000, "answered": 1000, "acknowledged": 1000, "stored": 1000}
    base.update({"list_complete": True, "list_pages": 3})
    base.update(fields)
    duplicates, lost = keyless_balance(int(base["acknowledged"]), int(base["stored"]))
    base.setdefault("duplicates", duplicates)
    base.setdefault("lost", lost)
    return KeylessAudit(**base)  # type: ignore[arg-type]


def test_keyless_verdicts() -> None:
    ok = check_keyless(_keyless(), fail_on_duplicates=True)
    assert ok.passed and "1000 acknowledged (2xx), 1000 stored" in ok.notes[0]
    dup = check_keyless(_keyless(stored=1003), fail_on_duplicates=True)
    assert not dup.passed and dup.reasons == ["3 duplicate(s): 1003 items stored for 1000 acknowledged"]
    assert check_keyless(_keyless(stored=1003), fail_on_duplicates=False).passed
    lost = check_keyless(_keyless(stored=998), fail_on_duplicates=True)
    assert lost.reasons == ["2 acknowledged write(s) lost: 998 items stored for 1000 acknowledged"]
    failed = check_keyless(_keyless(acknowledged=990, answered=995, failed=10, stored=992), True)
    assert (
        not failed.passed
        and "some may be writes stored although their answer was a failure" in failed.reasons[0]
    )
    incomplete = check_keyless(_keyless(list_complete=False), True)
    assert not incomplete.passed and "not back to the run's start" in incomplete.reasons[0]
    error = check_keyless(_keyless(error="listing failed: ConnectionError"), True)
    assert not error.passed and "stored items not counted" in error.reasons[0]


# -- overlap and failures without a time ---------------------------------------------------------------
def test_fault_overlap_counts_in_flight_started_and_completed() -> None:
    # (completion epoch, ms): [9.9, 10.0], [10.4, 10.6], [11.45, 11.5], [13.15, 13.2], [8.99, 9.0]
    requests = [(10.0, 100.0), (10.6, 200.0), (11.5, 50.0), (13.2, 50.0), (9.0, 10.0)]
    o = fault_overlap(0, 10.5, 10.55, 12.0, requests)  # the inject action ran 10.5 .. 10.55
    assert (o.in_flight_at_inject, o.during_inject, o.started_during, o.completed_during) == (1, 1, 1, 2)
    assert o.overlapped
    wide = fault_overlap(0, 9.95, 10.45, 12.0, requests)
    assert (wide.in_flight_at_inject, wide.during_inject) == (1, 2)
    none = fault_overlap(1, 20.0, 20.3, 25.0, requests)
    assert not none.overlapped
    reasons, notes = check_overlaps([o, none])
    assert notes == [
        "fault 0: 1 request(s) in flight when the inject began, 1 during the inject action (0.05 s), "
        "1 started and 2 completed while it was active"
    ]
    assert reasons == [
        "fault 1: inconclusive: no request met it (0 request(s) in flight when the inject began, 0 during "
        "the inject action (0.30 s), 0 started and 0 completed while it was active)"
    ]


def _phase(name: str, requests: int, failed: int = 0) -> PhaseStats:
    return PhaseStats(
        phase=name, seconds=5, requests=requests, failed=failed, error_rate=failed / requests, p95_ms=20.0
    )


def _verdicts(phases: dict[str, PhaseStats], hyp: Hypothesis):
    return decide(VerdictInput(phases, hyp, hyp, RecoveryGoals(), restore_verified=True))


def test_unplaced_failures_are_charged_to_every_phase() -> None:
    phases = {
        "before": _phase("before", 900),
        "during": _phase("during", 2000),
        "after": _phase("after", 3000),
    }
    strict = Hypothesis(max_error_rate=0.0)
    verdicts = _verdicts(phases, strict)
    assert verdicts.overall.passed
    charge_unplaced(verdicts, phases, strict, strict, 2, "other")
    assert not verdicts.overall.passed and not verdicts.during.passed and not verdicts.before.passed
    assert "with the 2 unanswered request(s) hey gives no time for" in verdicts.during.reasons[0]
    assert verdicts.exit_code == 1
    lenient = Hypothesis(max_error_rate=0.01)
    relaxed = _verdicts(phases, lenient)
    charge_unplaced(relaxed, phases, lenient, lenient, 2, "other")  # 2/902 < 1 %
    assert relaxed.overall.passed and "counted in this phase" in relaxed.before.notes[-1]


def test_amend_fails_the_part_and_overall() -> None:
    verdicts = _verdicts({p: _phase(p, 10) for p in ("before", "during", "after")}, Hypothesis())
    amend(verdicts, "recovery", ["fault 0: inconclusive"], ["a note"])
    assert verdicts.recovery == Verdict(
        passed=False, reasons=["fault 0: inconclusive"], notes=verdicts.recovery.notes
    )
    assert "a note" in verdicts.recovery.notes
    assert verdicts.overall.reasons == ["recovery: fault 0: inconclusive"] and verdicts.exit_code == 1


# -- the runner with a fake hey ------------------------------------------------------------------------
def hey_experiment(requests: int = 40) -> Experiment:
    return Experiment.model_construct(
        name="unit-hey",
        description="fast fake hey run",
        load=LoadConfig.model_construct(
            preset=None,
            scale=10.0,
            tool="hey",
            rate_per_worker=None,
            spec=LoadSpec(scenario="hey-post", users=1, requests=requests, duration_s=10),
        ),
        targets={"t": TargetSelector(service=SERVICE)},
        faults=[Fault(action="kill", target="t", at=1.1, duration=0.5, grace_s=1)],
        hypothesis=Hypotheses(steady=Hypothesis(max_error_rate=0.0), warmup_s=0.0, settle_s=0.2, stable_s=1),
        recovery=RecoveryGoals(),
        audit=Audit(enabled=True),
        restore_timeout_s=5.0,
    )


class FakeHey:
    """Answers 10 POSTs a second for `seconds` and stores them in the items API; only at the end,
    like hey, does it hand over the buckets. `quiet` (seconds after t0) answers nothing."""

    def __init__(self, api, seconds: int = 4, extra_items: int = 0, unanswered: int = 0, quiet=None):
        self.api, self.seconds, self.extra, self.unanswered, self.quiet = (
            api,
            seconds,
            extra_items,
            unanswered,
            quiet,
        )
        self.options: HeyOptions | None = None
        self.buckets_during_run = 0
        self.t0: float | None = None

    def __call__(
        self,
        spec: LoadSpec,
        out_dir: Path,
        on_second=None,
        stop_event: threading.Event | None = None,
        *,
        options: HeyOptions,
        on_start=None,
    ) -> LoadResult:
        out_dir.mkdir(parents=True, exist_ok=True)
        self.options = options
        t0 = self.t0 = round(time.time(), 4)  # what run_hey hands on_start: the buckets' own t0
        on_start(t0)
        end = t0 + self.seconds
        while time.time() < end and not (stop_event is not None and stop_event.is_set()):
            time.sleep(0.02)
        rows = []
        for second in range(self.seconds):
            for k in range(10):
                done = second + 0.05 + 0.09 * k
                if self.quiet and self.quiet[0] <= done < self.quiet[1]:
                    continue
                rows.append(HeyLine(0.005, 0.0, 0.0, 0.0, 0.005, 0.0, 201, done - 0.005))
        for _ in range(len(rows) + self.extra):
            self.api.add(options.item_name)
        lines = events_lines(rows, t0, EP_POST, spec.users)
        (out_dir / "events.tsv").write_text("\n".join(lines) + "\n")
        tl = build_timeline(lines)
        spec = spec.model_copy(update={"requests": len(rows) + self.unanswered})
        base = summarize(spec, self.api.url, out_dir, tl, [], "requests", 0)
        figures = HeyFigures(
            command=["hey"], planned=spec.requests, answered=0, acknowledged=0, item_name=options.item_name
        )
        result = with_hey_figures(
            base, rows, endpoint=EP_POST, planned=spec.requests, stopped_early=False, cpu=[], figures=figures
        )
        for bucket in result.timeline:
            on_second(bucket)
        return result


def hey_runner(tmp_path: Path, api, fake: FakeHey, exp: Experiment | None = None) -> ChaosRunner:
    def no_locust(*args: object, **kwargs: object) -> LoadResult:
        raise AssertionError("tool: hey must not run Locust")

    r = ChaosRunner(
        exp or hey_experiment(),
        Path("unit.yaml"),
        get_settings(),
        driver=FakeDriver(),  # type: ignore[arg-type]
        load_fn=no_locust,
        hey_fn=fake,
        candidates=[Candidate(SERVICE, "other")],
        out_dir=tmp_path / "run",
        live=False,
        annotate=False,
        watch_alerts=False,
        proxy_url=api.url,
    )
    r.prepare()
    return r


def test_hey_run_counts_from_its_start_and_audits_keyless_writes(tmp_path: Path) -> None:
    seen: list[SecondBucket] = []
    with items_api() as api:
        fake = FakeHey(api)
        r = hey_runner(tmp_path, api, fake)
        original = r.bucket_queue.put

        def put(bucket: SecondBucket) -> None:
            seen.append(bucket)
            original(bucket)

        r.bucket_queue.put = put  # type: ignore[method-assign]
        journal = r.run()
    assert fake.options is not None and fake.options.item_name == f"hey-{r.out_dir.name}"
    assert journal.t0 == pytest.approx(fake.t0, abs=1e-6)
    inject = next(e for e in journal.events if e.kind == "inject")
    assert 1.0 <= inject.offset_s <= 1.4  # scheduled from hey's start, with no bucket yet
    assert len(seen) == 4 and inject.t < fake.t0 + 4  # the buckets came after the fault
    assert HEY_LIVE_NOTE in journal.notes
    assert any("served_by is empty" in n for n in journal.notes)
    k = journal.audit.keyless
    assert k is not None and (k.sent, k.acknowledged, k.stored, k.duplicates, k.lost) == (40, 40, 40, 0, 0)
    assert journal.verdicts.audit.passed and journal.exit_code == 0, journal.verdicts.overall.reasons
    assert any("in flight when the inject began" in n for n in journal.verdicts.recovery.notes)
    assert journal.phase_latency == "exact (per request)"


def test_hey_duplicates_fail_the_run(tmp_path: Path) -> None:
    with items_api() as api:
        journal = hey_runner(tmp_path, api, FakeHey(api, extra_items=3)).run()
    assert journal.audit.keyless.duplicates == 3
    assert "audit: 3 duplicate(s): 43 items stored for 40 acknowledged" in journal.verdicts.overall.reasons
    assert journal.exit_code == 1


def test_hey_unanswered_requests_fail_a_zero_error_hypothesis(tmp_path: Path) -> None:
    with items_api() as api:
        journal = hey_runner(tmp_path, api, FakeHey(api, unanswered=2)).run()
    assert journal.load.failed == 2 and journal.load.summary["unplaced_failures"] == 2
    assert sum(r.failed for r in journal.timeline) == 0  # no time: in no second
    assert not journal.verdicts.during.passed and journal.exit_code == 1
    assert journal.audit.keyless.failed == 2 and journal.audit.keyless.sent == 42


def test_a_fault_no_request_met_is_inconclusive(tmp_path: Path) -> None:
    with items_api() as api:
        journal = hey_runner(tmp_path, api, FakeHey(api, quiet=(0.95, 2.0))).run()
    assert any("inconclusive: no request met it" in r for r in journal.verdicts.recovery.reasons)
    assert journal.exit_code == 1


# -- the report of a recorded run ----------------------------------------------------------------------
RECORDED = Path(__file__).parent / "data" / "journal-hey-keyless-kill.json"  # a live run, 2026-12-01


def test_report_and_compare_show_the_keyless_balance(tmp_path: Path) -> None:
    from srelab.chaos.cli import compare_rows
    from srelab.chaos.journal import read_journal
    from srelab.chaos.report import render_html, render_markdown

    journal = read_journal(RECORDED)
    k = journal.audit.keyless
    assert k is not None and k.name == f"hey-{journal.run_id}"
    md = render_markdown(journal)
    assert f"- keyless writes: {k.acknowledged} acknowledged, {k.stored} stored: 0 duplicate(s), 0 lost" in md
    assert f"| stored (items with the run's name in GET /items) | {k.stored} (scanned" in md
    assert "| duplicates (stored - acknowledged) | 0 |" in md
    assert "| acknowledged writes lost (acknowledged - stored) | 0 |" in md
    assert f"requests (preset hey-post) with hey: {journal.load.requests} requests" in md
    assert "in flight when the inject began" in md
    html = render_html(journal, None)
    assert "Keyless writes (no Idempotency-Key)" in html and k.name in html
    worse = journal.model_copy(deep=True)
    worse.audit.keyless.stored += 3
    rows = {metric: (a, b) for metric, a, b in compare_rows(journal, worse)}
    assert rows["keyless: acknowledged / stored"] == (
        f"{k.acknowledged} / {k.stored}",
        f"{k.acknowledged} / {k.stored + 3}",
    )
