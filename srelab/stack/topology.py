"""Switching a running lab between the Redis topologies (LAB_REDIS_TOPOLOGY: ha or single).

The zone-a node `redis` and its volume are in both, so its data is what carries over:
- ha -> single: the web replicas are stopped first (no new writes); when another node is primary,
  `redis` (its replica) is given up to 10 s to reach the primary's replication offset, and the
  switch stops with an error rather than drop writes `redis` has not received. Then the HA stack
  comes down (volumes kept: redis-b's and redis-c's data stay on disk, unused) and `redis` starts
  alone as the primary of everything it holds.
- single -> ha: the single stack comes down (the backend network is recreated with the fixed
  subnet HA needs), `redis` starts as the primary with its data, redis-b and redis-c sync from it
  (whatever older data their volumes held is replaced by the sync).
"""

from __future__ import annotations

import time
from collections.abc import Callable

from python_on_whales import Container, DockerClient
from python_on_whales.exceptions import DockerException

from srelab.errors import LabError, last_line
from srelab.stack.compose_model import ROLE_LABEL
from srelab.stack.engine import compose_client
from srelab.stack.redis_acl import admin_cli
from srelab.stack.settings import PROFILES, Settings

SERVICE_LABEL = "com.docker.compose.service"
# Services only the HA topology has (compose/redis-ha.yaml).
HA_ONLY = ("redis-b", "redis-c", "sentinel-a", "sentinel-b", "sentinel-c")
REDIS_NODES = ("redis", "redis-b", "redis-c")
CATCH_UP_S = 10.0


def deployed_topology(containers: list[Container]) -> str | None:
    """ha or single from the project's containers; None when it has no Redis container."""
    services = {c.config.labels.get(SERVICE_LABEL) for c in containers}
    if services & set(HA_ONLY):
        return "ha"
    return "single" if "redis" in services else None


def parse_info(text: str) -> dict[str, str]:
    """redis-cli INFO output -> its `field:value` lines (section headers and blanks dropped)."""
    fields: dict[str, str] = {}
    for line in text.splitlines():
        key, sep, value = line.strip().partition(":")
        if sep:
            fields[key] = value.strip()
    return fields


def replication_info(docker: DockerClient, container: Container) -> dict[str, str]:
    """INFO replication of a running node, as `admin` (fields such as role, master_repl_offset)."""
    return parse_info(str(docker.container.execute(container, admin_cli("info", "replication"))))


def switch(settings: Settings, docker: DockerClient, say: Callable[[str], None]) -> None:
    """Bring the other topology down first when the project runs it; say what happens to data."""
    containers = docker.container.list(
        all=True, filters=[("label", f"com.docker.compose.project={settings.project}")]
    )
    deployed = deployed_topology(containers)
    wanted = settings.lab_redis_topology
    if deployed is None or deployed == wanted:
        return
    say(f"Redis topology: switching {deployed} -> {wanted} (LAB_REDIS_TOPOLOGY)")
    previous = compose_client(settings.model_copy(update={"lab_redis_topology": deployed}), PROFILES)
    if deployed == "ha":
        _hand_data_to_zone_a(previous, containers, say)
    try:
        previous.compose.down(remove_orphans=True, volumes=False, timeout=20, quiet=True)
    except DockerException as exc:
        raise LabError(f"taking the {deployed} stack down failed: {last_line(exc)}") from None
    if wanted == "single":
        say("redis (zone a) keeps the data and serves alone; redis-b and redis-c volumes are kept, unused")
    else:
        say("redis (zone a) keeps the data and starts as primary; redis-b and redis-c sync from it")


def _hand_data_to_zone_a(
    docker: DockerClient, containers: list[Container], say: Callable[[str], None]
) -> None:
    """Stop the writers, then make sure `redis` holds everything the primary has."""
    by_service = {c.config.labels.get(SERVICE_LABEL): c for c in containers}
    web = [c for c in containers if c.config.labels.get(ROLE_LABEL) == "web" and c.state.running]
    if web:
        docker.container.stop(web, time=15)
    nodes = {
        name: by_service[name]
        for name in REDIS_NODES
        if name in by_service and by_service[name].state.running
    }
    if "redis" not in nodes:
        raise LabError(
            "switching to single: the zone-a node `redis` is not running, so its data may be stale; "
            "start it (`srelab up` with LAB_REDIS_TOPOLOGY=ha) first"
        )
    infos = {name: replication_info(docker, c) for name, c in nodes.items()}
    primary = next((name for name, info in infos.items() if info.get("role") == "master"), None)
    if primary in (None, "redis"):
        return
    target = int(infos[primary]["master_repl_offset"])
    deadline = time.monotonic() + CATCH_UP_S
    while True:
        have = int(replication_info(docker, nodes["redis"]).get("slave_repl_offset", "-1"))
        if have >= target:
            say(f"{primary} was primary; redis caught up with it (replication offset {target})")
            return
        if time.monotonic() > deadline:
            raise LabError(
                f"switching to single: redis is at replication offset {have}, primary {primary} at {target} "
                f"after {CATCH_UP_S:.0f} s; nothing was changed (the web replicas are stopped: `srelab up` "
                "with LAB_REDIS_TOPOLOGY=ha starts them again)"
            )
        time.sleep(0.2)
