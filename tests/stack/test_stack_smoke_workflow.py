"""The users' CI workflow that runs the full stack with official images (.github/workflows)."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.observability._obs import ROOT, load_yaml

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


# What `docker inspect` prints for a container (Docker Engine API, ContainerInspect response:
# docs.docker.com/reference/api/engine/ : Id, Created, Path, Args, State{..., Health{Log}},
# Config{Env, Cmd, Labels, Healthcheck, ...}, HostConfig, Mounts, NetworkSettings): a sample
# in that shape, with the lab's generated secrets where compose really puts them (Env of every
# service that gets one, Redis's --requirepass in Cmd and Args).
SECRETS = {
    "REDIS_PASSWORD": "r3d1s-pw",
    "ELASTIC_PASSWORD": "el4st1c-pw",
    "KIBANA_ENCRYPTION_KEY": "k3y-0123",
}


def inspect_sample() -> list[dict]:
    redis_pw, elastic_pw, kibana_key = SECRETS.values()
    return [
        {
            "Id": "c0ffee",
            "Created": "2026-08-22T10:00:00Z",
            "Path": "docker-entrypoint.sh",
            "Args": ["redis-server", "/etc/redis/redis.conf", "--requirepass", redis_pw],
            "State": {
                "Status": "running",
                "ExitCode": 0,
                "Health": {
                    "Status": "unhealthy",
                    "FailingStreak": 3,
                    "Log": [{"ExitCode": 1, "Output": "boom"}],
                },
            },
            "Image": "sha256:9b1e",
            "Name": "/srelab-redis-1",
            "RestartCount": 2,
            "HostConfig": {
                "Memory": 268435456,
                "NanoCpus": 500000000,
                "RestartPolicy": {"Name": "unless-stopped"},
            },
            "Mounts": [
                {"Type": "volume", "Source": "/var/lib/docker/volumes/x", "Destination": "/data", "RW": True}
            ],
            "Config": {
                "Env": [f"REDISCLI_AUTH={redis_pw}", f"ELASTIC_PASSWORD={elastic_pw}", f"KEY={kibana_key}"],
                "Cmd": ["redis-server", "/etc/redis/redis.conf", "--requirepass", redis_pw],
                "Image": "redis:7.0.15-bookworm",
                "Labels": {"com.docker.compose.service": "redis"},
                "Healthcheck": {"Test": ["CMD", "redis-cli", "ping"]},
            },
            "NetworkSettings": {"Networks": {"backend": {"Aliases": ["redis"], "IPAddress": "172.18.0.2"}}},
        }
    ]


def collect_step() -> dict:
    return next(s for s in steps() if "docker logs" in s.get("run", ""))


def test_failure_artifacts_keep_no_secret_from_docker_inspect(tmp_path: Path) -> None:
    """The collect step's own commands, run here (bash, grep, jq) on a compose/.env and a
    `docker inspect` sample: the uploaded JSON keeps the diagnosis and none of the secrets."""
    if shutil.which("jq") is None:
        pytest.fail("jq not found: the workflow's collect step runs jq (apt-get install jq)", pytrace=False)
    step = collect_step()
    run = step["run"]
    inspects = [
        line for line in run.splitlines() if re.search(r"docker inspect (?!-f '\{\{\.Name\}\}')", line)
    ]
    assert inspects, "the collect step no longer saves docker inspect"
    for line in inspects:
        assert re.search(r'\| jq --argjson secrets "\$secrets" "\$INSPECT_FILTER"', line), (
            f"docker inspect saved without the filter: {line.strip()}"
        )
    jq_filter = (step.get("env") or {}).get("INSPECT_FILTER")
    assert jq_filter, "no INSPECT_FILTER: docker inspect (Config.Env: the lab's passwords) uploaded whole"
    (secrets_line,) = [line.strip() for line in run.splitlines() if line.strip().startswith("secrets=")]

    (tmp_path / "compose").mkdir()
    (tmp_path / "compose" / ".env").write_text(
        "".join(f"{k}={v}\n" for k, v in SECRETS.items()) + "GRAFANA_ADMIN_USER=admin\nEMPTY_PASSWORD=\n"
    )
    script = f'set -eo pipefail\n{secrets_line}\nprintf %s "$secrets" > secrets.json\n'
    subprocess.run(["bash", "-c", script], cwd=tmp_path, check=True, timeout=30)
    secrets = (tmp_path / "secrets.json").read_text()
    assert sorted(json.loads(secrets)) == sorted(SECRETS.values())

    result = subprocess.run(
        ["jq", "--argjson", "secrets", secrets, jq_filter],
        input=json.dumps(inspect_sample()),
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )
    for name, value in SECRETS.items():
        assert value not in result.stdout, f"{name} in the uploaded inspect output"
    (kept,) = json.loads(result.stdout)
    assert "Env" not in kept.get("Config", {}) and "Args" not in kept
    assert kept["State"]["Health"]["Log"][0]["Output"] == "boom" and kept["RestartCount"] == 2
    assert kept["Config"]["Cmd"][-1] == "[redacted]"

    # Before `make up` wrote compose/.env: no secret list, and the filter still runs.
    (tmp_path / "compose" / ".env").unlink()
    subprocess.run(["bash", "-c", script], cwd=tmp_path, check=True, timeout=30)
    assert json.loads((tmp_path / "secrets.json").read_text()) == []


def test_every_log_shipper_runs_strictly_in_its_own_job() -> None:
    """Promtail and Alloy (srelab.stack.settings.LOG_SHIPPERS) each get a job; nothing may be skipped."""
    from srelab.stack.settings import LOG_SHIPPERS

    (job,) = load_yaml(WORKFLOW)["jobs"].values()
    assert job["strategy"]["matrix"]["log_shipper"] == list(LOG_SHIPPERS)
    assert job["strategy"]["fail-fast"] is False
    assert job["env"]["LAB_LOG_SHIPPER"] == "${{ matrix.log_shipper }}"
    assert "${{ matrix.log_shipper }}" in job["env"]["REQUEST_ID"]
    up = next(s["run"] for s in job["steps"] if "make up" in s.get("run", ""))
    assert "--strict" in up
    check = next(s["run"] for s in job["steps"] if "not started" in s.get("run", ""))
    assert "LAB_LOG_SHIPPER" in check and "Health.Status" in check
    upload = next(s for s in job["steps"] if s.get("uses", "").startswith("actions/upload-artifact@"))
    assert "${{ matrix.log_shipper }}" in upload["with"]["name"]
