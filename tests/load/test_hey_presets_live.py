"""The original challenge's commands as the README writes them, through the live proxy (the
session's `lab`): `srelab load --tool hey --preset hey-get|hey-post` with the real hey, beside
the same presets with Locust. Scaled down (--scale; hey-get 500, hey-post 100 requests) and
bounded in time: each run well under a minute, the whole module under three."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.lab import Lab
from tests.load.heytools import require_hey

pytestmark = [pytest.mark.live, pytest.mark.timeout(240)]

ROOT = Path(__file__).resolve().parents[2]
SCALE = {"hey-get": "200", "hey-post": "100"}  # 100,000 / 200 GETs, 10,000 / 100 POSTs
REQUESTS = {"hey-get": 500, "hey-post": 100}
STATUS = {"hey-get": "200", "hey-post": "201"}


def srelab_load(*args: str, out: Path) -> subprocess.CompletedProcess[str]:
    """`srelab load ...` in this session's lab environment (its project and ports, set by `lab`)."""
    return subprocess.run(
        [sys.executable, "-m", "srelab.cli", "load", *args, "--out", str(out)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={**os.environ, "COLUMNS": "200"},
        timeout=90,
    )


def summary(folder: Path) -> dict:
    return json.loads((folder / "summary.json").read_text())


@pytest.mark.parametrize("preset", ["hey-get", "hey-post"])
def test_challenge_command_with_real_hey_gives_locusts_summary_timeline_and_thresholds(
    lab: Lab, tmp_path: Path, preset: str
) -> None:
    require_hey()
    scale = ("--scale", SCALE[preset])
    hey = srelab_load(
        "--tool", "hey", "--preset", preset, *scale, "--max-error-rate", "0", out=tmp_path / "hey"
    )
    assert hey.returncode == 0, hey.stdout + hey.stderr
    n = REQUESTS[preset]
    assert f"hey: {n:,} sent, {n:,} answered ({n:,} 2xx), 0 without an answer" in hey.stdout
    got = summary(tmp_path / "hey")
    assert got["tool"] == "hey" and got["requests"] == n and got["failed"] == 0
    assert got["hey"]["status_codes"] == {STATUS[preset]: n}
    command = (tmp_path / "hey" / "command.txt").read_text()
    assert f"-n {n} -c 10" in command and ("-m POST" in command) == (preset == "hey-post")

    locust = srelab_load("--preset", preset, *scale, "--max-error-rate", "0", out=tmp_path / "locust")
    assert locust.returncode == 0, locust.stdout + locust.stderr
    reference = summary(tmp_path / "locust")
    assert reference["requests"] == n and reference["failed"] == 0
    # The same summary and the same 1 s timeline files, whichever tool ran.
    assert set(got) == set(reference)
    assert set(got["endpoints"]) == set(reference["endpoints"])
    for name in ("timeline.csv", "timeline.json", "timeline.png"):
        assert (tmp_path / "hey" / name).stat().st_size > 0 and (tmp_path / "locust" / name).exists()
    seconds = json.loads((tmp_path / "hey" / "timeline.json").read_text())
    assert sum(row["requests"] for row in seconds) == n

    # Thresholds: a breach exits 1 with its line, as with Locust.
    strict = srelab_load(
        "--tool", "hey", "--preset", preset, "--scale", "1000", "--p95-ms", "0.001", out=tmp_path / "breach"
    )
    assert strict.returncode == 1, strict.stdout + strict.stderr
    assert "threshold breached: p95_ms" in strict.stdout and "Traceback" not in strict.stderr
