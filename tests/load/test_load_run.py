"""Short real Locust runs against a real items service (and against dead ports)."""

from __future__ import annotations

import csv
import json
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from srelab.load import EP_POST, FAILURE_KINDS, LoadSpec, SecondBucket, run_load
from tests.conftest import free_port
from tests.load.conftest import ItemsServer

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]
SRELAB = Path(sys.executable).parent / "srelab"


def test_mixed_run_files_agree(items_server: ItemsServer, tmp_path: Path) -> None:
    seconds: list[SecondBucket] = []
    spec = LoadSpec(scenario="mixed", users=4, spawn_rate=4, duration_s=3, reader_weight=1, writer_weight=1)
    result = run_load(spec.model_copy(update={"host": items_server.url}), tmp_path, on_second=seconds.append)

    for name in ("summary.json", "timeline.csv", "timeline.json", "timeline.png", "events.tsv",
                 "writes.jsonl", "locust_stats.csv", "report.html"):  # fmt: skip
        assert (tmp_path / name).stat().st_size > 0, name
    summary = json.loads((tmp_path / "summary.json").read_text())
    rows = list(csv.DictReader((tmp_path / "timeline.csv").open()))
    timeline = json.loads((tmp_path / "timeline.json").read_text())

    assert summary["requests"] > 50
    assert (
        summary["requests"] == sum(int(r["requests"]) for r in rows) == sum(b["requests"] for b in timeline)
    )
    assert (
        summary["failed"]
        == sum(int(r["failures"]) for r in rows)
        == sum(sum(b["failures"].values()) for b in timeline)
    )
    for kind in FAILURE_KINDS:
        assert summary["failures"][kind] == sum(int(r[kind]) for r in rows)
    assert summary["successes"] + summary["failed"] == summary["requests"]
    assert [int(r["second"]) for r in rows] == list(range(len(rows)))
    assert summary["served_by"] == {items_server.replica: summary["requests"]}
    assert summary["valid"] is True and summary["generator_cpu"]["samples"] >= 2
    # Locust's own CSV can miss the last requests that completed while the users were stopping.
    missing = summary["requests"] - summary["locust_reported"]["requests"]
    assert 0 <= missing <= max(10, summary["requests"] // 50)

    # The live callback saw the same seconds, in order, and the same total.
    assert [b.second for b in seconds] == list(range(len(seconds)))
    assert sum(b.requests for b in seconds) == summary["requests"]

    # Every POST is in the write log, and every acknowledged write reads back.
    writes = list(result.write_records())
    assert len(writes) == summary["endpoints"][EP_POST]["requests"] > 0
    assert len({w.key for w in writes}) == len(writes)  # one key per logical write, no retries needed
    acked = result.acknowledged_writes()
    assert len(acked) == summary["endpoints"][EP_POST]["successes"]
    with requests.Session() as session:
        for w in acked:
            got = session.get(f"{items_server.url}/items/{w.id}", timeout=5)
            assert got.status_code == 200 and got.json()["id"] == w.id


def test_request_budget_is_exact(items_server: ItemsServer, tmp_path: Path) -> None:
    spec = LoadSpec(scenario="list", users=5, spawn_rate=5, requests=60, duration_s=20, host=items_server.url)
    started = time.monotonic()
    result = run_load(spec, tmp_path, html=False)
    assert result.requests == 60
    assert result.stop_reason == "requests"
    assert time.monotonic() - started < 15


def test_stop_event_ends_the_run(items_server: ItemsServer, tmp_path: Path) -> None:
    stop = threading.Event()
    timer = threading.Timer(2.5, stop.set)
    timer.start()
    started = time.monotonic()
    try:
        result = run_load(
            LoadSpec(scenario="read", users=2, duration_s=60, host=items_server.url),
            tmp_path,
            stop_event=stop,
        )
    finally:
        timer.cancel()
    assert result.stop_reason == "stop_event"
    assert time.monotonic() - started < 20
    assert result.requests > 0


def test_connection_refused_is_classified(tmp_path: Path) -> None:
    port = free_port()  # nothing listens there
    spec = LoadSpec(scenario="list", users=1, requests=20, duration_s=10, host=f"http://127.0.0.1:{port}")
    result = run_load(spec, tmp_path, html=False)
    assert result.requests == 20
    assert result.failures["conn_refused"] == 20 and result.successes == 0
    assert sum(b.failures["conn_refused"] for b in result.timeline) == 20
    assert result.error_rate == 1.0


@pytest.fixture
def silent_server() -> Iterator[int]:
    """Accepts connections and never answers (a hung backend)."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(64)
    conns: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        sock.settimeout(0.2)
        while not stop.is_set():
            try:
                conns.append(sock.accept()[0])
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield sock.getsockname()[1]
    stop.set()
    thread.join(timeout=2)
    for c in conns:
        c.close()
    sock.close()


def test_timeouts_are_classified(silent_server: int, tmp_path: Path) -> None:
    spec = LoadSpec(
        scenario="write",
        users=2,
        requests=4,
        duration_s=10,
        timeout_s=0.5,
        host=f"http://127.0.0.1:{silent_server}",
    )
    result = run_load(spec, tmp_path, html=False)
    assert result.requests == 4
    assert result.failures["timeout"] == 4
    writes = list(result.write_records())
    assert len(writes) == 4 and all(w.kind == "timeout" and not w.acknowledged for w in writes)


def _srelab(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(SRELAB), "load", *args], cwd=cwd, capture_output=True, text=True, timeout=90)


def test_cli_threshold_breach_exits_1(items_server: ItemsServer, tmp_path: Path) -> None:
    out = tmp_path / "run"
    proc = _srelab(
        "--host", items_server.url, "--scenario", "list", "--users", "2", "--run-time", "2s",
        "--p95-ms", "0.001", "--min-rps", "1000000", "--max-error-rate", "0.5", "--out", str(out),
        cwd=tmp_path,
    )  # fmt: skip
    assert proc.returncode == 1, proc.stderr
    assert "threshold breached: p95_ms" in proc.stdout
    assert "threshold breached: min_rps" in proc.stdout
    assert "max_error_rate" not in proc.stdout  # not breached, not listed
    assert (out / "summary.json").exists()


def test_cli_passing_thresholds_exit_0(items_server: ItemsServer, tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from srelab.cli import app

    result = CliRunner().invoke(
        app,
        ["load", "--host", items_server.url, "--scenario", "list", "--users", "1", "--requests", "30",
         "--run-time", "10s", "--max-error-rate", "0", "--p99-ms", "5000", "--out", str(tmp_path / "ok")],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "threshold breached" not in result.output
    summary = json.loads((tmp_path / "ok" / "summary.json").read_text())
    assert summary["requests"] == 30 and summary["failed"] == 0


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--users", "0"], "--users"),
        (["--host", "http://10.1.2.3:80"], "refusing to send load"),
        (["--preset", "nope"], "unknown preset"),
    ],
)
def test_cli_bad_options_one_line_exit_2(args: list[str], message: str, tmp_path: Path) -> None:
    proc = _srelab(*args, "--out", str(tmp_path / "never"), cwd=tmp_path)
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr + proc.stdout
    text = " ".join(proc.stderr.split())  # rich may wrap a long line at 80 columns
    assert text.startswith("error:") and message in text
    assert not (tmp_path / "never").exists()
