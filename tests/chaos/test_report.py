"""Report rendering and comparison on a recorded journal (a real kill-redis run, 40 s).

The recording (data/journal-kill-redis.json) is from a run on the development machine where one
acknowledged write was lost when Redis was SIGKILLed (appendfsync everysec, a busy disk).
"""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from srelab.chaos.analysis import analyse
from srelab.chaos.cli import chaos_app, compare_rows
from srelab.chaos.journal import Journal, read_journal
from srelab.chaos.model import Experiment
from srelab.chaos.report import render_html, render_markdown, write_report
from srelab.load import LatencyStats, SecondBucket

RECORDED = Path(__file__).parent / "data" / "journal-kill-redis.json"


def recorded() -> Journal:
    return read_journal(RECORDED)


def buckets_of(journal: Journal) -> list[SecondBucket]:
    return [
        SecondBucket(
            second=r.second,
            t=r.t,
            requests=r.requests,
            successes=r.successes,
            failures=dict(r.failures),
            latency=LatencyStats(count=r.requests, p50_ms=r.p50_ms, p95_ms=r.p95_ms, p99_ms=r.p99_ms),
            served_by=dict(r.served_by),
        )
        for r in journal.timeline
    ]


def test_markdown_shows_verdicts_figures_audit_and_every_second() -> None:
    journal = recorded()
    md = render_markdown(journal)
    assert md.startswith("# Chaos run `kill-redis`: FAIL")
    assert "| audit | FAIL | 1 acknowledged write(s) lost |" in md
    assert "| during | PASS | error rate 58.77% (max 100.00%)" in md
    assert "| acknowledged writes lost | 1 (2b8a43387aea4cdc85ed0c9464480cb9) |" in md
    fault_row = next(line for line in md.splitlines() if line.startswith("| 0 | kill store"))
    assert "| redis | t+10.0s | t+19.8s |" in fault_row and "181/308" in fault_row
    assert "1.14 s after container start" in fault_row
    assert "![timeline](timeline.png)" in md
    phases = {"warmup", "before", "during", "after"}
    per_second = [
        line for line in md.splitlines() if line.startswith("| ") and line.split(" | ")[1] in phases
    ]
    assert len(per_second) == len(journal.timeline) == 42
    assert "inject kill redis" in md and "restore kill redis" in md


def test_reanalysis_of_the_recording_reproduces_phases_and_verdict() -> None:
    journal = recorded()
    phases = {k: (v.requests, v.failed, v.failures) for k, v in journal.phases.items()}
    exp = Experiment.model_validate(journal.experiment)
    again = analyse(recorded(), exp, buckets_of(journal))
    assert {k: (v.requests, v.failed, v.failures) for k, v in again.phases.items()} == phases
    assert again.verdicts is not None and not again.verdicts.overall.passed
    assert "audit: 1 acknowledged write(s) lost" in again.verdicts.overall.reasons
    assert again.exit_code == 1
    # Without the per-request events the phase p95 is the per-second upper bound: never lower
    # than the exact value the run recorded.
    assert again.phase_latency == "per-second upper bound"
    for name in ("before", "during", "after"):
        assert again.phases[name].p95_ms >= journal.phases[name].p95_ms
    assert [r.time_to_first_error_s for r in again.recovery] == [0.0]
    assert again.recovery[0].errors == 181


def test_written_files_and_html(tmp_path: Path) -> None:
    journal = recorded()
    journal.description = "kill <script>alert(1)</script> redis"
    files = write_report(journal, tmp_path)
    assert set(files) == {"journal", "markdown", "html", "png"}
    png = (tmp_path / "timeline.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 10_000
    html = (tmp_path / "report.html").read_text()
    assert 'src="data:image/png;base64,' in html
    assert "<script>alert(1)</script>" not in html and "&lt;script&gt;" in html
    assert '<td class="FAIL">FAIL</td>' in html
    assert read_journal(tmp_path).run_id == journal.run_id
    assert render_html(journal, None).count("<img") == 0


def test_compare_two_runs(tmp_path: Path) -> None:
    a = recorded()
    b = recorded()
    b.run_id = "chaos-kill-redis-later"
    assert b.audit is not None and b.verdicts is not None
    b.audit.lost = 0
    b.verdicts.overall.passed = True
    rows = {metric: (x, y) for metric, x, y in compare_rows(a, b)}
    assert rows["verdict"] == ("FAIL", "PASS")
    assert rows["writes lost"] == ("1", "0")
    assert rows["during: failures"] == ("http_503 181", "http_503 181")
    assert rows["fault 0: errors in window"] == ("181/308", "181/308")
    for name, journal in (("one", a), ("two", b)):
        (tmp_path / name).mkdir()
        journal.write(tmp_path / name / "journal.json")
    result = CliRunner().invoke(
        chaos_app, ["compare", str(tmp_path / "one"), str(tmp_path / "two")], env={"COLUMNS": "200"}
    )
    assert result.exit_code == 0, result.output
    assert "chaos-kill-redis-later" in result.output and "writes lost" in result.output


def test_list_flags_an_invalid_file(tmp_path: Path) -> None:
    (tmp_path / "broken.yaml").write_text("name: broken\nfaults: 3\n")
    result = CliRunner().invoke(chaos_app, ["list", "--dir", str(tmp_path)], env={"COLUMNS": "200"})
    assert result.exit_code == 0
    assert "broken" in result.output and "invalid" in result.output


def with_detection(journal: Journal) -> Journal:
    """The recording with a measured detection: RedisDown 4.1 s after the inject, resolved 3 s
    after the restore; a probe alert before the fault (a false positive)."""
    from srelab.chaos.detection import AlertSeen, FaultWindow, measure

    fault = journal.faults[0]
    assert fault.injected_at is not None and fault.restored_at is not None

    def seen(name: str, starts: float, resolved: float, **labels: str) -> AlertSeen:
        return AlertSeen(
            name=name,
            fingerprint=name,
            labels={"alertname": name, "severity": "page", **labels},
            severity="page",
            summary=f"{name} summary",
            starts_at=starts,
            first_seen=starts + 0.4,
            resolved_at=resolved,
            resolved_by="endsAt",
        )

    alerts = [
        seen("RedisDown", fault.injected_at + 4.1, fault.restored_at + 3.0),
        seen("ItemsProbeFailing", journal.started_at + 2.0, journal.started_at + 4.0, module="items_get"),
    ]
    window = FaultWindow(**fault.model_dump())
    journal.detection = measure(alerts, [window], journal.started_at, journal.ended_at)
    journal.detection.source = "http://127.0.0.1:9093"
    return journal


def test_report_shows_detection_per_fault_and_per_alert(tmp_path: Path) -> None:
    journal = with_detection(recorded())
    md = render_markdown(journal)
    section = md[md.index("## Detection") : md.index("## Actions")]
    assert "1 false positive(s), silent faults: none" in section
    assert "| RedisDown | 4.1 s | 3.0 s | RedisDown +4.1s (resolved +3.0s) |" in section
    assert "| ItemsProbeFailing{module=items_get} | page |" in section and "FALSE POSITIVE" in section
    html = render_html(journal, None)
    assert "Time to detect" in html and "RedisDown +4.1s" in html
    write_report(journal, tmp_path)  # the timeline gains an alert lane; it must still draw
    assert (tmp_path / "timeline.png").stat().st_size > 0
    assert not [n for n in journal.notes if "not drawn" in n]


def test_compare_shows_detection_side_by_side() -> None:
    measured, old = with_detection(recorded()), recorded()
    rows = {name: (a, b) for name, a, b in compare_rows(measured, old)}
    assert rows["fault 0: time to detect s"] == ("4.1 (RedisDown)", "not recorded")
    assert rows["fault 0: time to resolve s"] == ("3.0", "not recorded")
    assert rows["false positives"] == ("1", "not recorded")
