"""The results index on made-up result folders: every kind read, nothing foreign crashes it."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

from typer.testing import CliRunner

from srelab.cli import app
from srelab.results import scan, write_index
from srelab.results.index import as_rows
from tests.results.helpers import at, bench_run, chaos_run, load_run

PNG = b"\x89PNG\r\n\x1a\n"


def make_results(root: Path) -> Path:
    results = root / "results"
    bench_run(results, "bench-20261201-100000", at(10), get_rps=1200, post_rps=700)
    bench_run(results, "bench-20261201-120000", at(12), get_rps=1700, post_rps=1350)
    load_run(results, "load-20261201-110000", at(11), requests=500, failed=0)
    load_run(results, "load-20261201-113000", at(11, 30), requests=400, failed=4, valid=False)
    chaos_run(results, "journal-kill-redis.json", "chaos-kill-redis-20261201T130000Z", at(13))
    chaos_run(results, "journal-hey-keyless-kill.json", "chaos-hey-20261201T140000Z", at(14))
    (results / "notes-from-bob").mkdir()  # foreign: none of the writers' files
    (results / "notes-from-bob" / "todo.txt").write_text("x")
    broken = results / "chaos-broken-20261201T150000Z"
    broken.mkdir()
    (broken / "journal.json").write_text('{"run_id": 3')
    wrong = results / "load-wrong-types"
    wrong.mkdir()
    (wrong / "summary.json").write_text(json.dumps({"requests": "many"}))
    (results / ".chaos-pending").mkdir()  # hidden: not a run
    (results / "stray.txt").write_text("not a folder")
    return results


def test_scan_reads_every_kind_in_date_order(tmp_path: Path) -> None:
    entries = scan(make_results(tmp_path))
    rows = {r["run"]: r for r in as_rows(entries)}

    assert [e.name for e in entries][:6] == [
        "bench-20261201-100000",
        "load-20261201-110000",
        "load-20261201-113000",
        "bench-20261201-120000",
        "chaos-kill-redis-20261201T130000Z",
        "chaos-hey-20261201T140000Z",
    ]
    assert set(rows) == {e.name for e in entries} and ".chaos-pending" not in rows and "stray.txt" not in rows

    assert rows["bench-20261201-100000"]["verdict"] == "1/2 goals missed"
    assert rows["bench-20261201-120000"]["verdict"] == "goals met"
    assert "GET proxy 1,700 req/s" in rows["bench-20261201-120000"]["figures"]
    assert rows["bench-20261201-120000"]["date"] == "2026-12-01 12:00:00"
    assert rows["bench-20261201-120000"]["report"] == "bench-20261201-120000/bench.md"

    assert rows["load-20261201-110000"]["verdict"] == "valid"
    assert rows["load-20261201-113000"]["verdict"] == "invalid"
    assert "400 requests, 40 req/s, 1.00% errors, p95 12 ms" in rows["load-20261201-113000"]["figures"]

    kill_redis = rows["chaos-kill-redis-20261201T130000Z"]
    assert kill_redis["verdict"] == "FAIL"  # the recorded run lost one acknowledged write
    assert "1 lost" in kill_redis["figures"] and "860 requests, 181 failed" in kill_redis["figures"]
    assert kill_redis["report"].endswith("/report.html")
    assert rows["chaos-hey-20261201T140000Z"]["verdict"] == "PASS"

    assert rows["notes-from-bob"]["kind"] == "foreign"
    assert rows["chaos-broken-20261201T150000Z"]["kind"] == "unreadable"
    assert rows["chaos-broken-20261201T150000Z"]["figures"].startswith("journal.json: ")
    assert rows["load-wrong-types"]["kind"] == "unreadable"
    assert "summary.json: ValidationError" in rows["load-wrong-types"]["figures"]
    assert [e.date for e in entries[-3:]] == [None, None, None]  # undated ones last


def test_index_links_every_report_and_draws_both_trends(tmp_path: Path) -> None:
    results = make_results(tmp_path)
    index = write_index(results)

    html = index.read_text(encoding="utf-8")
    links = re.findall(r'<a href="([^"]+)">', html)
    assert len(links) == 6  # the two foreign/unreadable folders and nothing else are unlinked
    for link in links:
        assert (results / link).is_file(), link
    for plot in ("index-bench-trend.png", "index-chaos-trend.png"):
        assert f'src="{plot}"' in html
        assert (results / plot).read_bytes()[:8] == PNG
    assert "notes-from-bob" in html and "unreadable" in html


def test_index_without_bench_or_chaos_says_so_and_drops_stale_plots(tmp_path: Path) -> None:
    results = tmp_path / "results"
    load_run(results, "load-20261201-110000", at(11), requests=100, failed=0)
    (results / "index-bench-trend.png").write_bytes(PNG)  # left by an earlier index
    html = write_index(results).read_text(encoding="utf-8")
    assert "no bench runs yet" in html and "no chaos runs yet" in html
    assert not (results / "index-bench-trend.png").exists()


def test_cli_lists_the_runs_and_writes_the_index(tmp_path: Path) -> None:
    results = make_results(tmp_path)
    out = CliRunner().invoke(app, ["results", "--dir", str(results)], env={"COLUMNS": "200"})
    assert out.exit_code == 0, out.output
    assert "9 runs in" in out.output
    for name in ("chaos-kill-redis-20261201T130000Z", "notes-from-bob", "load-wrong-types"):
        assert name in out.output
    assert "FAIL" in out.output and "foreign" in out.output
    assert (results / "index.html").is_file()


def test_cli_on_an_empty_or_missing_folder(tmp_path: Path) -> None:
    out = CliRunner().invoke(app, ["results", "--dir", str(tmp_path / "none")])
    assert out.exit_code == 0, out.output
    assert "no runs under" in out.output
    assert not (tmp_path / "none").exists()


def test_cli_refuses_a_file_in_one_line(tmp_path: Path) -> None:
    (tmp_path / "results.txt").write_text("x")
    proc = subprocess.run(
        [sys.executable, "-m", "srelab.cli", "results", "--dir", str(tmp_path / "results.txt")],
        cwd=Path(__file__).resolve().parents[2],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [
        f"error: {tmp_path / 'results.txt'} is not a folder (results are folders under results/)"
    ]
