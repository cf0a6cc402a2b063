"""Redis HA against the live stack (the session's `lab`, HA by default): the primary killed under
load fails over with the write audit passing, the service follows the new primary, the old one
rejoins as a replica.

The failover runs the shipped kill-redis-primary experiment through the CLI (like `make chaos`),
made shorter (load 30 s, kill at 8 s for 8 s), and must exit 0. The tests after it read the
stack as that run left it: the primary is another node now, every replica linked, which is how
the tests after this module find it (healthy; any node may be primary).
"""

from __future__ import annotations

import json
import time
import uuid
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.chaos.test_chaos_live import EXPERIMENTS, only_run, run_cli
from tests.lab import Lab, wait_until

pytestmark = pytest.mark.live

NODES = ("redis", "redis-b", "redis-c")
SENTINELS = ("sentinel-a", "sentinel-b", "sentinel-c")
STATE: dict[str, Any] = {}  # what the failover test saw, for the tests after it


def probe(lab: Lab):
    from srelab.chaos.failover import RedisProbe
    from srelab.chaos.faults import FaultDriver
    from srelab.stack.engine import compose_client

    settings = lab.settings
    driver = FaultDriver(compose_client(settings, ()), settings)  # type: ignore[arg-type]
    return RedisProbe(driver, settings.lab_redis_master_name)  # type: ignore[attr-defined]


def roles(lab: Lab) -> dict[str, Any]:
    return {n.service: n for n in probe(lab).nodes(NODES)}


def all_linked(lab: Lab) -> dict[str, Any] | None:
    """The node states when there is one primary and every other node is its linked replica."""
    nodes = roles(lab)
    primaries = [n for n in nodes.values() if n.role == "primary"]
    replicas = [n for n in nodes.values() if n.role == "replica" and n.link_up]
    return nodes if len(primaries) == 1 and len(replicas) == len(NODES) - 1 else None


@pytest.fixture(scope="module", autouse=True)
def ha_stack(lab: Lab) -> None:
    if getattr(lab.settings, "lab_redis_topology", "ha") != "ha":
        pytest.skip("LAB_REDIS_TOPOLOGY is not ha")
    wait_until(lambda: all_linked(lab), 60, 0.5, "one Redis primary and two linked replicas")


def test_kill_primary_fails_over_under_load_and_the_audit_passes(lab: Lab, tmp_path: Path) -> None:
    data = yaml.safe_load((EXPERIMENTS / "kill-redis-primary.yaml").read_text())
    data["load"]["duration_s"] = 30
    data["faults"][0].update({"at": 8, "duration": 8})
    data["hypothesis"].update({"warmup_s": 1, "settle_s": 4})
    path = tmp_path / "kill-redis-primary.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    before = roles(lab)
    (old,) = [s for s, n in before.items() if n.role == "primary"]
    proc = run_cli(["run", str(path), "--no-live"], tmp_path, timeout=240)
    run = only_run(tmp_path, "kill-redis-primary", proc)
    journal = json.loads((run / "journal.json").read_text())
    assert proc.returncode == 0, (journal["verdicts"]["overall"], proc.stdout[-3000:], proc.stderr[-2000:])
    assert journal["targets"] == {"primary": [old]} and journal["roles"] == {old: "redis-primary"}
    assert journal["topology"] == "ha"
    f = journal["failover"]
    assert f["promoted"] and f["old_primary"] == old and f["new_primary"] not in (None, old), f
    assert 0 < f["failover_s"] <= 5 and 0 < f["first_write_s"] <= 5, f
    assert f["errors_outside_window"] == 0 and f["replicas_linked"] and f["old_primary_rejoined"], f
    # Clients saw the failover (quick 503s inside it) and nothing else.
    during = journal["phases"]["during"]
    assert set(k for k, v in during["failures"].items() if v) <= {"http_503"}, during
    assert journal["phases"]["after"]["failed"] == 0
    audit = journal["audit"]
    assert audit["acknowledged"] > 0 and audit["lost"] == audit["unverified"] == 0, audit
    assert audit["duplicate_keys"] == audit["listed_twice"] == audit["missing_from_list"] == 0, audit
    assert journal["verdicts"]["failover"]["passed"], journal["verdicts"]["failover"]
    STATE.update(old=old, new=f["new_primary"])


def test_the_service_follows_the_new_primary(lab: Lab) -> None:
    nodes = wait_until(lambda: all_linked(lab), 60, 0.5, "one primary, two linked replicas")
    (primary,) = [s for s, n in nodes.items() if n.role == "primary"]
    if "new" in STATE:
        assert primary == STATE["new"] != STATE["old"]
    name = f"ha-follow-{uuid.uuid4().hex[:8]}"
    response = lab.post("/items", json={"name": name}, headers={"Idempotency-Key": name})
    assert response.status_code == 201, response.text
    item_id = response.json()["id"]
    got = lab.get(f"/items/{item_id}")
    assert got.status_code == 200 and got.json()["name"] == name, got.text
    # The write is on the primary and (WAIT 1) on a replica: read it on the nodes themselves.
    from srelab.stack.redis_acl import admin_cli

    p = probe(lab)
    found = {
        s: p._exec(s, admin_cli("hexists", "items:data", str(item_id))).strip() for s in NODES
    }  # the items hash (docs/architecture.md, "Redis keys")
    assert found[primary] == "1", found
    assert sum(v == "1" for v in found.values()) >= 2, found


def test_the_old_primary_rejoined_as_a_replica(lab: Lab) -> None:
    old = STATE.get("old")
    if old is None:
        pytest.skip("the failover test did not run")
    nodes = wait_until(lambda: all_linked(lab), 60, 0.5, "every replica linked")
    assert nodes[old].role == "replica" and nodes[old].link_up, nodes[old]
    p = probe(lab)
    new_ip = next(iter(p.driver.snapshot(STATE["new"]).ips.values()))
    assert nodes[old].master_host == new_ip, (nodes[old], new_ip)
    # Every Sentinel names the new primary, and everything is healthy: the stack is left as the
    # tests after this module expect it (any node may be primary).
    from srelab.chaos.failover import SENTINEL_CLI

    name = lab.settings.lab_redis_master_name  # type: ignore[attr-defined]
    for sentinel in SENTINELS:
        c = p.driver.container(sentinel)
        out = p.driver.docker.container.execute(
            c, ["sh", "-c", SENTINEL_CLI, "redis-cli", "sentinel", "get-master-addr-by-name", name]
        )
        assert str(out).split()[0] == new_ip, (sentinel, out)
    from srelab.stack.lifecycle import health_of

    for service in (*NODES, *SENTINELS, "web-a", "web-b", "web-c", "traefik"):
        c = lab.container(service)
        c.reload()
        assert health_of(c) in ("healthy", "running"), (service, health_of(c))
    deadline = time.monotonic() + 30
    while lab.get("/readyz").status_code != 200 and time.monotonic() < deadline:
        time.sleep(0.5)
    assert lab.get("/readyz").status_code == 200
