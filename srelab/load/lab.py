"""What the bench needs from the running lab: replica IPs, item count, memory (python-on-whales).

Replicas publish no ports. The bench reaches them from the host at their container IPs on the
project's edge network (Linux routes the bridge subnets to the host), which are the project's own
containers and so allowed load targets; no helper container is started.
"""

from __future__ import annotations

import ipaddress
import threading
from dataclasses import dataclass, field
from typing import Any

from python_on_whales import DockerClient
from python_on_whales.exceptions import DockerException

from srelab.load.errors import LoadError
from srelab.stack.compose_model import ROLE_LABEL
from srelab.stack.redis_acl import admin_cli
from srelab.stack.topology import replication_info

SERVICE_LABEL = "com.docker.compose.service"
REPLICA_PORT = 8000
# Plus every web replica; the HA nodes and Sentinels where they run (compose/redis-ha.yaml).
CORE_SERVICES = ("traefik", "redis", "redis-b", "redis-c", "sentinel-a", "sentinel-b", "sentinel-c")


@dataclass
class LabTargets:
    project: str
    proxy_url: str
    containers: dict[str, str]  # compose service -> container name (running ones)
    container_ids: dict[str, str]  # compose service -> container id (its cgroup's name)
    replica_urls: dict[str, str]  # web service -> http://<edge ip>:8000
    redis_container: str | None  # the primary (in HA the node that says role:master), by name

    @property
    def replica_hosts(self) -> list[str]:
        return [u.split("//", 1)[1].rsplit(":", 1)[0] for u in self.replica_urls.values()]

    def core_services(self) -> list[str]:
        return [s for s in self.containers if s in CORE_SERVICES or s in self.replica_urls]


def discover(docker: DockerClient, project: str, proxy_url: str, web_services: tuple[str, ...]) -> LabTargets:
    """Running containers of `project`, and each web replica's address on the edge network."""
    try:
        running = docker.compose.ps()
    except DockerException as exc:
        raise LoadError(
            f"cannot list the lab's containers: {(exc.stderr or str(exc)).strip()[:200]}"
        ) from None
    containers: dict[str, str] = {}
    by_service: dict[str, Any] = {}
    for c in running:
        service = (c.config.labels or {}).get(SERVICE_LABEL)
        if service and c.state.running:
            containers[service] = c.name
            by_service[service] = c
    missing = [s for s in ("traefik", "redis", *web_services) if s not in containers]
    if missing:
        raise LoadError(
            f"the lab ({project}) is not running: {', '.join(missing)} down; start it with `make up`"
        )
    edge = f"{project}_edge"
    replica_urls: dict[str, str] = {}
    for service in web_services:
        networks = by_service[service].network_settings.networks or {}
        net = networks.get(edge)
        ip = getattr(net, "ip_address", None) if net is not None else None
        if not ip:
            raise LoadError(f"{service} has no address on network {edge}")
        if not ipaddress.ip_address(ip).is_private:
            raise LoadError(f"{service}'s address {ip} is not a private bridge address")
        replica_urls[service] = f"http://{ip}:{REPLICA_PORT}"
    return LabTargets(
        project=project,
        proxy_url=proxy_url,
        containers=containers,
        container_ids={s: c.id for s, c in by_service.items()},
        replica_urls=replica_urls,
        redis_container=primary_container(docker, by_service),
    )


def primary_container(docker: DockerClient, by_service: dict[str, Any]) -> str | None:
    """The Redis container writes go to: `redis` in single; in HA whichever node says role:master
    (after a failover that is not `redis`). None when no node answers as primary."""
    nodes = [c for c in by_service.values() if (c.config.labels or {}).get(ROLE_LABEL) == "redis"]
    if len(nodes) == 1:
        return str(nodes[0].name)
    for c in sorted(nodes, key=lambda c: str(c.name)):
        try:
            if replication_info(docker, c).get("role") == "master":
                return str(c.name)
        except DockerException:
            continue  # a node going away: ask the next
    return None


def item_count(docker: DockerClient, redis_container: str) -> int:
    """Items stored (ZCARD of the listing index), asked inside the Redis container."""
    try:
        out = docker.container.execute(redis_container, admin_cli("ZCARD", "items:by_seq"))
    except DockerException as exc:
        raise LoadError(f"cannot count items in Redis: {(exc.stderr or str(exc)).strip()[:200]}") from None
    text = str(out or "").strip().splitlines()
    try:
        return int(text[-1].strip().removeprefix("(integer)").strip())
    except (IndexError, ValueError):
        raise LoadError(f"unexpected answer from redis-cli ZCARD: {out!r}") from None


def flush_items(docker: DockerClient, redis_container: str) -> None:
    """Empty the lab's Redis (bench --fresh only)."""
    try:
        docker.container.execute(redis_container, admin_cli("FLUSHALL"))
    except DockerException as exc:
        raise LoadError(f"cannot flush Redis: {(exc.stderr or str(exc)).strip()[:200]}") from None


def memory_snapshot(container_ids: dict[str, str]) -> dict[str, int]:
    """service -> memory used now (bytes), from each container's cgroup (no `docker stats`)."""
    from srelab.load.cpu import container_memory_bytes

    found = {service: container_memory_bytes(cid) for service, cid in container_ids.items()}
    return {service: value for service, value in found.items() if value is not None}


@dataclass
class MemorySampler:
    """Samples the lab containers' memory from their cgroups in a thread while a load phase runs.

    Reading cgroup files costs next to nothing; `docker stats`, which this replaced, kept the engine
    busy enough to show in the bench's own CPU-per-request figures."""

    container_ids: dict[str, str]
    max_bytes: dict[str, int] = field(default_factory=dict)
    samples: int = 0
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def _run(self) -> None:
        while not self._stop.is_set():
            for service, used in memory_snapshot(self.container_ids).items():
                self.max_bytes[service] = max(self.max_bytes.get(service, 0), used)
            self.samples += 1
            self._stop.wait(0.5)

    def __enter__(self) -> MemorySampler:
        self._thread = threading.Thread(target=self._run, name="bench-memory", daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=15)
