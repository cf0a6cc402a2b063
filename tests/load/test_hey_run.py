"""The real hey binary against a small items API on loopback (and a dead port): run_hey and the CLI.

Needs hey (apt-get install -y hey): skipped without it, failed under LAB_REQUIRE_DOCKER=1.
"""

from __future__ import annotations

import csv
import json
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from srelab.load import EP_LIST, EP_POST, LoadSpec
from srelab.load.hey import HeyOptions, parse_hey_csv, run_hey
from srelab.load.timeline import Event, parse_line
from tests.conftest import free_port
from tests.load.heytools import items_api, require_hey

pytestmark = pytest.mark.timeout(120)
SRELAB = Path(sys.executable).parent / "srelab"


@pytest.fixture(autouse=True)
def _hey() -> None:
    require_hey()


def test_post_run_files_agree_with_what_the_server_stored(tmp_path: Path) -> None:
    starts: list[float] = []
    seconds: list[int] = []
    with items_api() as api:
        spec = LoadSpec(scenario="hey-post", users=4, requests=42, duration_s=30, host=api.url)
        result = run_hey(
            spec,
            tmp_path,
            on_second=lambda b: seconds.append(b.second),
            options=HeyOptions(item_name="hey-unit-post"),
            on_start=starts.append,
        )
        stored = [i for i in api.items if i["name"] == "hey-unit-post"]
    assert len(stored) == 40  # 42 // 4 workers * 4: hey's own rounding
    assert result.tool == "hey" and result.stop_reason == "requests" and result.valid
    assert result.requests == 40 == result.successes and result.failed == 0
    assert result.hey is not None and result.hey.acknowledged == 40 and result.hey.unanswered == 0
    assert result.hey.status_codes == {"201": 40} and result.hey.item_name == "hey-unit-post"
    assert result.endpoints[EP_POST].requests == 40
    assert len(starts) == 1 and result.timeline[0].t == starts[0]  # exactly: fault times count from it
    assert seconds == [b.second for b in result.timeline] and seconds == list(range(len(seconds)))
    assert sum(b.requests for b in result.timeline) == 40
    # events.tsv and timeline.csv say the same as hey's own CSV
    rows = parse_hey_csv((tmp_path / "hey.csv").read_text())
    events = [
        e for e in map(parse_line, (tmp_path / "events.tsv").read_text().splitlines()) if isinstance(e, Event)
    ]
    assert len(rows) == len(events) == 40
    assert sorted(round(e.latency_ms, 1) for e in events) == sorted(
        round(r.response_s * 1000, 1) for r in rows
    )
    with (tmp_path / "timeline.csv").open(encoding="utf-8") as fh:
        assert sum(int(r["requests"]) for r in csv.DictReader(fh)) == 40
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["tool"] == "hey" and summary["requests"] == 40 and summary["files"]["hey_csv"] == "hey.csv"
    assert "-d" in (tmp_path / "command.txt").read_text()


def test_no_answer_at_all_is_counted_not_dropped(tmp_path: Path) -> None:
    spec = LoadSpec(
        scenario="hey-get", users=2, requests=10, duration_s=20, host=f"http://127.0.0.1:{free_port()}"
    )
    result = run_hey(spec, tmp_path)
    assert result.hey is not None and result.hey.answered == 0 and result.hey.unanswered == 10
    assert result.requests == 10 and result.failures["other"] == 10 == result.unplaced_failures
    assert result.error_rate == 1.0 and result.timeline == []
    assert result.endpoints[EP_LIST].failures == {"other": 10}
    assert not result.valid  # no request completed


def test_time_bound_stops_hey_and_says_what_is_unknown(tmp_path: Path) -> None:
    with items_api(delay_s=0.2) as api:
        spec = LoadSpec(scenario="hey-get", users=2, requests=1000, duration_s=1.5, host=api.url)
        started = time.monotonic()
        result = run_hey(spec, tmp_path)
    assert time.monotonic() - started < 10
    assert result.stop_reason == "duration"
    assert result.hey is not None and result.hey.unanswered is None and 0 < result.hey.answered < 1000
    assert not result.valid and any("cannot be counted" in r for r in result.invalid_reasons)


def test_stop_event_interrupts_hey(tmp_path: Path) -> None:
    stop = threading.Event()
    with items_api(delay_s=0.1) as api:
        spec = LoadSpec(scenario="hey-get", users=2, requests=1000, duration_s=60, host=api.url)
        threading.Timer(1.0, stop.set).start()
        result = run_hey(spec, tmp_path, stop_event=stop)
    assert result.stop_reason == "stop_event" and result.requests > 0


def test_error_answers_are_failures_by_status(tmp_path: Path) -> None:
    with items_api(status=503) as api:
        spec = LoadSpec(scenario="hey-post", users=2, requests=8, duration_s=20, host=api.url)
        result = run_hey(spec, tmp_path)
    assert result.failures["http_503"] == 8 and result.hey is not None and result.hey.acknowledged == 0
    assert sum(b.failures["http_503"] for b in result.timeline) == 8


def test_cli_without_hey_on_path_is_one_line_exit_2(tmp_path: Path) -> None:
    with items_api() as api:
        proc = subprocess.run(
            [str(SRELAB), "load", "--tool", "hey", "--preset", "hey-get", "--host", api.url,
             "--out", str(tmp_path / "never")],
            capture_output=True, text=True, timeout=60, env={"COLUMNS": "200", "PATH": str(tmp_path)},
        )  # fmt: skip
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert " ".join(proc.stderr.split()) == "error: hey not found: apt-get install -y hey"
    assert not (tmp_path / "never").exists()


def test_cli_runs_the_preset_with_real_hey(tmp_path: Path) -> None:
    import os

    env = {**os.environ, "COLUMNS": "200"}
    with items_api() as api:
        args = ["load", "--tool", "hey", "--preset", "hey-get", "--scale", "1000", "--host", api.url]
        ok = subprocess.run(
            [str(SRELAB), *args, "--max-error-rate", "0", "--out", str(tmp_path / "ok")],
            capture_output=True, text=True, timeout=60, env=env,
        )  # fmt: skip
        breach = subprocess.run(
            [str(SRELAB), *args, "--p95-ms", "0.0001", "--out", str(tmp_path / "bad")],
            capture_output=True, text=True, timeout=60, env=env,
        )  # fmt: skip
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert "hey: 100 sent, 100 answered (100 2xx), 0 without an answer" in ok.stdout
    assert "served_by is empty" in " ".join(ok.stdout.split())
    summary = json.loads((tmp_path / "ok" / "summary.json").read_text())
    assert summary["requests"] == 100 and summary["tool"] == "hey"
    assert breach.returncode == 1 and "threshold breached: p95_ms" in breach.stdout
