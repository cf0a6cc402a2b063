"""hey's CSV, its timeline and summary, the command builder and the checks (no hey binary needed).

tests/load/data/*.csv were printed by the real hey 0.1.4 against the lab's proxy:
hey-post-small.csv: `hey -n 24 -c 4 -q 4 -m POST -H 'Content-Type: application/json'
-d '{"name": "hey-testdata"}' -t 5 -o csv http://127.0.0.1/items`;
hey-get-404.csv: `hey -n 6 -c 2 -t 5 -o csv http://127.0.0.1/items/000...0` (every answer 404).
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest

from srelab.load import EP_LIST, EP_POST, FAILURE_KINDS, HeyFigures, LoadSpec
from srelab.load.errors import LoadError
from srelab.load.hey import (
    HEY_CSV_COLUMNS,
    UNANSWERED_KIND,
    HeyOptions,
    check_hey_spec,
    events_lines,
    hey_command,
    parse_hey_csv,
    planned_requests,
    run_hey,
    with_hey_figures,
)
from srelab.load.presets import preset_spec
from srelab.load.runner import summarize
from srelab.load.timeline import build_timeline
from tests.load.heytools import DATA

SRELAB = Path(sys.executable).parent / "srelab"
T0 = 1_800_000_000.0


def real_rows(name: str = "hey-post-small.csv"):
    return parse_hey_csv((DATA / name).read_text())


def test_real_csv_header_and_lines() -> None:
    text = (DATA / "hey-post-small.csv").read_text()
    assert tuple(text.splitlines()[0].split(",")) == HEY_CSV_COLUMNS
    rows = real_rows()
    assert len(rows) == len(text.strip().splitlines()) - 1 == 24
    assert {r.status for r in rows} == {201}
    first = text.splitlines()[1].split(",")
    assert rows[0].response_s == float(first[0]) and rows[0].offset_s == float(first[7])
    assert rows[0].end_s == pytest.approx(float(first[7]) + float(first[0]))
    # -q 4: each worker's first request waits one tick (0.25 s), the last starts about 1.5 s in
    assert min(r.offset_s for r in rows) >= 0.2 and max(r.offset_s for r in rows) > 1.0


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "printed no CSV"),
        ("Summary:\n  Total: 1 secs\n", "unexpected hey CSV header"),
        (",".join(HEY_CSV_COLUMNS) + "\n0.1,0,0,0,0.1,0,200\n", "line 2: cannot read"),
        (",".join(HEY_CSV_COLUMNS) + "\n0.1,0,0,0,0.1,0,abc,0.5\n", "line 2: cannot read"),
    ],
)
def test_unreadable_csv_is_an_error(text: str, message: str) -> None:
    with pytest.raises(LoadError, match=message):
        parse_hey_csv(text)


def test_timeline_from_real_csv_buckets_by_completion() -> None:
    rows = real_rows()
    lines = events_lines(rows, T0, EP_POST, workers=4)
    assert lines[0].startswith("#start\t") and lines[1].startswith("#users\t")
    tl = build_timeline(lines)
    assert tl is not None and tl.t0 == pytest.approx(T0, abs=1e-3)
    buckets = tl.all_buckets()
    expected: dict[int, int] = {}
    for r in rows:
        expected[math.floor(r.end_s)] = expected.get(math.floor(r.end_s), 0) + 1
    assert {b.second: b.requests for b in buckets} == {s: expected.get(s, 0) for s in range(len(buckets))}
    assert len(buckets) == max(expected) + 1 >= 2  # the paced run spans two seconds
    assert all(b.users == 4 and b.served_by == {} for b in buckets)
    assert sum(b.endpoints[EP_POST].successes for b in buckets if EP_POST in b.endpoints) == 24
    slowest = max(rows, key=lambda r: r.response_s)
    assert max(b.latency.max_ms or 0 for b in buckets) == pytest.approx(slowest.response_s * 1000, abs=0.01)


def test_non_2xx_answers_are_http_failures() -> None:
    rows = real_rows("hey-get-404.csv")
    tl = build_timeline(events_lines(rows, T0, EP_LIST, workers=2))
    assert tl is not None
    assert tl.run.overall.failures == {"http_4xx": 6} and tl.run.overall.successes == 0


def _result(rows, spec: LoadSpec, tmp_path: Path, stop_reason="requests", stopped_early=False):
    endpoint = EP_POST if spec.scenario.value == "hey-post" else EP_LIST
    tl = build_timeline(events_lines(rows, T0, endpoint, spec.users))
    base = summarize(spec, "http://127.0.0.1", tmp_path, tl, [], stop_reason, 0)
    figures = HeyFigures(command=["hey"], planned=planned_requests(spec), answered=0, acknowledged=0)
    return with_hey_figures(
        base,
        rows,
        endpoint=endpoint,
        planned=planned_requests(spec),
        stopped_early=stopped_early,
        cpu=[],
        figures=figures,
    )


def test_requests_without_an_answer_are_failures_in_no_bucket(tmp_path: Path) -> None:
    rows = real_rows()[:20]  # hey printed 20 lines of the 24 it sent
    spec = LoadSpec(scenario="hey-post", users=4, requests=24, duration_s=10)
    result = _result(rows, spec, tmp_path)
    assert result.requests == 24 and result.successes == 20
    assert result.failures[UNANSWERED_KIND] == 4 == result.unplaced_failures == result.failed
    assert result.error_rate == pytest.approx(4 / 24, abs=1e-6)
    assert sum(b.requests for b in result.timeline) == 20  # no time: in no second
    assert result.endpoints[EP_POST].requests == 24 and result.endpoints[EP_POST].failures == {"other": 4}
    assert result.hey is not None and result.hey.unanswered == 4 and result.hey.acknowledged == 20
    assert result.hey.status_codes == {"201": 20}
    assert any("4 request(s) got no answer" in n and "no time" in n for n in result.notes)
    assert any("served_by is empty" in n for n in result.notes)
    assert result.tool == "hey" and result.served_by == {} and result.valid


def test_stopped_early_leaves_unanswered_unknown_and_the_run_invalid(tmp_path: Path) -> None:
    spec = LoadSpec(scenario="hey-post", users=4, requests=100, duration_s=1)
    result = _result(real_rows(), spec, tmp_path, stop_reason="duration", stopped_early=True)
    assert result.hey is not None and result.hey.unanswered is None
    assert result.requests == 24 and result.unplaced_failures == 0
    assert not result.valid
    assert any("cannot be counted" in r for r in result.invalid_reasons)


def test_every_answer_with_nothing_missing(tmp_path: Path) -> None:
    spec = LoadSpec(scenario="hey-post", users=4, requests=26, duration_s=10)  # hey sends 24 of 26
    result = _result(real_rows(), spec, tmp_path)
    assert result.hey is not None and result.hey.planned == 24 and result.hey.unanswered == 0
    assert result.failed == 0 and result.requests == 24
    assert any("hey sends 24 requests, not 26" in n for n in result.notes)
    assert set(result.failures) == set(FAILURE_KINDS)


def test_command_is_the_challenges_with_csv_timeout_and_rate() -> None:
    spec = preset_spec("hey-post", 10, host="http://127.0.0.1/", timeout_s=2.5)
    cmd = hey_command(spec, "http://127.0.0.1/", HeyOptions(rate_per_worker=50, item_name="hey-run-1"), "hey")
    assert cmd == [
        "hey", "-n", "1000", "-c", "10", "-q", "50", "-m", "POST",
        "-H", "Content-Type: application/json", "-d", '{"name": "hey-run-1"}',
        "-t", "3", "-o", "csv", "http://127.0.0.1/items",
    ]  # fmt: skip
    get = hey_command(preset_spec("hey-get", 1), "http://127.0.0.1", HeyOptions(), "/usr/bin/hey")
    assert get == [
        "/usr/bin/hey",
        "-n",
        "100000",
        "-c",
        "10",
        "-t",
        "5",
        "-o",
        "csv",
        "http://127.0.0.1/items",
    ]
    default = hey_command(preset_spec("hey-post"), "http://127.0.0.1", HeyOptions(), "hey")
    assert json.loads(default[default.index("-d") + 1]) == {"name": "Sample Item"}  # the original body


def test_planned_requests_rounds_down_to_the_workers() -> None:
    assert planned_requests(LoadSpec(scenario="hey-get", users=10, requests=1000)) == 1000
    assert planned_requests(LoadSpec(scenario="hey-get", users=3, requests=7)) == 6


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"scenario": "mixed", "requests": 10}, "scenario: hey runs hey-get or hey-post"),
        ({"scenario": "hey-get"}, "requests: hey needs a request count"),
        ({"scenario": "hey-get", "requests": 5, "users": 10}, "requests: hey needs at least one request"),
        ({"scenario": "hey-get", "requests": 50, "wait_max_s": 1.0}, "wait_max_s: a Locust setting"),
        ({"scenario": "hey-post", "requests": 50, "write_retries": 1}, "write_retries: a Locust setting"),
        ({"scenario": "hey-get", "requests": 50, "shape": "spike"}, "shape: a Locust setting"),
        (
            {"scenario": "hey-get", "requests": 50, "target_hosts": ("http://127.0.0.1:1",)},
            "target_hosts: a Locust setting",
        ),
    ],
)
def test_specs_hey_cannot_run(fields: dict, message: str) -> None:
    with pytest.raises(LoadError, match=message):
        check_hey_spec(LoadSpec(**fields))


@pytest.mark.parametrize("host", ["http://10.1.2.3", "http://example.com", "ftp://127.0.0.1"])
def test_only_loopback_or_the_proxy_is_a_target(host: str, tmp_path: Path) -> None:
    spec = LoadSpec(scenario="hey-get", users=1, requests=1, host=host)
    with pytest.raises(LoadError, match=r"refusing to send load|not an http"):
        run_hey(spec, tmp_path / "never")
    assert not (tmp_path / "never").exists()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--tool", "wrk"], "--tool: unknown tool 'wrk'"),
        (["--tool", "hey"], "--tool hey runs the challenge's commands: give --preset"),
        (["--tool", "hey", "--preset", "hey-get", "--spawn-rate", "3"], "--spawn-rate: a Locust option"),
        (["--tool", "hey", "--preset", "hey-get", "--wait-max", "1"], "--wait-max: a Locust setting"),
        (["--tool", "hey", "--preset", "hey-get", "--rate", "0"], "--rate: Input should be greater than 0"),
        (["--tool", "hey", "--preset", "hey-get", "--requests", "4"], "--requests: hey needs at least one"),
        (["--tool", "hey", "--preset", "hey-get", "--host", "http://10.0.0.9"], "refusing to send load"),
        (["--rate", "5"], "--rate: only with --tool hey"),
    ],
)
def test_cli_bad_hey_options_one_line_exit_2(args: list[str], message: str, tmp_path: Path) -> None:
    proc = subprocess.run(
        [str(SRELAB), "load", *args, "--out", str(tmp_path / "never")],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stderr + proc.stdout
    text = " ".join(proc.stderr.split())
    assert text.startswith("error:") and message in text, text
    assert not (tmp_path / "never").exists()
