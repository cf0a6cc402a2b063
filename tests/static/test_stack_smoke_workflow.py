"""The users' CI workflow that runs the full stack with official images (.github/workflows)."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.static._obs import ROOT, load_yaml

WORKFLOW = ROOT / ".github" / "workflows" / "stack-smoke.yml"


def actionlint() -> str:
    found = shutil.which("actionlint") or str(Path(sys.executable).parent / "actionlint")
    if not Path(found).exists():
        pytest.fail("actionlint not found: `make install` (pinned wheel in pyproject.toml)", pytrace=False)
    return found


def test_actionlint_passes() -> None:
    result = subprocess.run(
        [actionlint(), "-no-color", str(WORKFLOW)], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_actionlint_catches_a_broken_workflow(tmp_path: Path) -> None:
    broken = tmp_path / ".github" / "workflows" / "bad.yml"
    broken.parent.mkdir(parents=True)
    broken.write_text(WORKFLOW.read_text().replace("runs-on: ubuntu-24.04", "runs-on: [ubuntu-24.04"))
    result = subprocess.run(
        [actionlint(), "-no-color", str(broken)], capture_output=True, text=True, timeout=60
    )
    assert result.returncode != 0


def steps() -> list[dict]:
    workflow = load_yaml(WORKFLOW)
    (job,) = workflow["jobs"].values()
    assert job["timeout-minutes"] <= 45
    return job["steps"]


def test_actions_are_pinned_to_exact_versions() -> None:
    uses = [s["uses"] for s in steps() if "uses" in s]
    assert {u.split("@")[0] for u in uses} >= {"actions/checkout", "actions/upload-artifact"}
    for use in uses:
        ref = use.split("@", 1)[1]
        assert re.fullmatch(r"v\d+\.\d+\.\d+|[0-9a-f]{40}", ref), f"{use}: not pinned to a full version"


def test_workflow_sets_max_map_count_brings_up_all_profiles_and_polls_every_backend() -> None:
    runs = [s.get("run", "") for s in steps()]
    text = "\n".join(runs)
    assert "sysctl -w vm.max_map_count=262144" in text
    assert re.search(r"make up PROFILE=all", text)
    request = next(r for r in runs if "http://127.0.0.1/items" in r)
    assert "X-Request-ID: ${REQUEST_ID}" in request
    for backend in ("9090/api/v1/query", "3100/loki/api/v1/query_range", "srelab-logs-*/_search"):
        step = next(r for r in runs if backend in r)
        assert "poll " in step and "POLL_SECONDS" in step, f"{backend}: not a bounded poll"
    assert "REQUEST_ID" in next(r for r in runs if "loki/api" in r)
    assert "REQUEST_ID" in next(r for r in runs if "_search" in r)


def test_logs_are_uploaded_on_failure_and_the_lab_always_torn_down() -> None:
    all_steps = steps()
    upload = next(s for s in all_steps if s.get("uses", "").startswith("actions/upload-artifact@"))
    assert upload["if"] == "failure()"
    collect = next(s for s in all_steps if "docker logs" in s.get("run", ""))
    assert collect["if"] == "failure()" and collect["run"].count("artifacts/") >= 2
    assert upload["with"]["path"] == "artifacts/"
    teardown = all_steps[-1]
    assert teardown["if"] == "always()" and teardown["run"].strip() == "make clean"
    makefile = (ROOT / "Makefile").read_text()
    assert re.search(r"^clean:.*\n\t\$\(SRELAB\) down --volumes", makefile, re.M)
