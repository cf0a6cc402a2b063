"""Both Redis topologies, live: `single` comes up without Sentinels and serves; switching the same
lab to `ha` keeps every item (zone a's node carries the data) and writes go on through Sentinel.
Its own compose project, ports and backend subnet: the shared live stack is left alone."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from python_on_whales import docker

from tests.lab import _require_docker, isolated_environment

pytestmark = pytest.mark.live

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def env() -> Iterator[dict[str, str]]:
    _require_docker()
    values = {
        **isolated_environment(),
        "LAB_PROJECT": f"srelabtopo{os.getpid()}",
        "LAB_BACKEND_NET": f"10.217.{os.getpid() % 250}",
    }
    yield values
    subprocess.run(
        [sys.executable, "-m", "srelab.cli", "down", "--volumes"],
        cwd=ROOT,
        env={**_clean_env(), **values},
        timeout=180,
        capture_output=True,
    )


def _clean_env() -> dict[str, str]:
    # Without what compose_client() exported into this process (another project's image names).
    return {k: v for k, v in os.environ.items() if not k.endswith("_IMAGE") and k != "LAB_HOST_RULE"}


def _up(env: dict[str, str], topology: str) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "srelab.cli", "up", "--profile", "core", "--timeout", "240"],
        cwd=ROOT,
        env={**_clean_env(), **env, "LAB_REDIS_TOPOLOGY": topology, "COLUMNS": "200"},
        capture_output=True,
        text=True,
        timeout=420,
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    return done.stdout


def _services(env: dict[str, str]) -> set[str]:
    found = docker.container.list(filters=[("label", f"com.docker.compose.project={env['LAB_PROJECT']}")])
    return {c.config.labels["com.docker.compose.service"] for c in found}


def test_single_serves_then_switching_to_ha_keeps_every_item(env: dict[str, str]) -> None:
    url = f"http://127.0.0.1:{env['LAB_HTTP_PORT']}"
    _up(env, "single")
    assert not {s for s in _services(env) if s.startswith(("sentinel", "redis-"))}
    ids = []
    for i in range(5):
        created = requests.post(f"{url}/items", json={"name": f"single {i}"}, timeout=5)
        assert created.status_code == 201, created.text
        ids.append(created.json()["id"])
    # Single's one node replays its AOF on restart (as `default`: srelab/stack/redis_acl.py says why it
    # keeps its permissions); in HA a restarted node resyncs from a replica instead.
    project = ("label", f"com.docker.compose.project={env['LAB_PROJECT']}")
    redis_node = docker.container.list(filters=[project, ("label", "srelab.role=redis")])[0]
    docker.container.restart(redis_node)
    deadline = time.monotonic() + 60
    while requests.get(f"{url}/readyz", timeout=5).status_code != 200:
        assert time.monotonic() < deadline, "no ready replica 60 s after restarting Redis"
        time.sleep(0.5)
    for item_id in ids:
        assert requests.get(f"{url}/items/{item_id}", timeout=5).status_code == 200, item_id

    out = _up(env, "ha")
    assert "switching single -> ha" in out
    assert {"redis", "redis-b", "redis-c", "sentinel-a", "sentinel-b", "sentinel-c"} <= _services(env)
    for item_id in ids:
        assert requests.get(f"{url}/items/{item_id}", timeout=5).status_code == 200, item_id
    after = requests.post(f"{url}/items", json={"name": "through sentinel"}, timeout=5)
    assert after.status_code == 201, after.text
