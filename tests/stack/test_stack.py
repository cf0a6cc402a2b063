"""Live checks of the core stack through Traefik on 127.0.0.1 (real Docker, real Traefik, real Redis)."""

from __future__ import annotations

import os
import signal
import time
import uuid
from collections import Counter

import pytest
from python_on_whales import docker as docker_cli
from python_on_whales.exceptions import DockerException

from tests.lab import Lab, wait_until

pytestmark = pytest.mark.live

REPLICAS = {"web-a", "web-b", "web-c"}


def served_by(lab: Lab, n: int, path: str = "/items?limit=1") -> Counter[str]:
    return Counter(lab.get(path).headers.get("X-Served-By", "?") for _ in range(n))


def test_post_then_get_round_trip(lab: Lab) -> None:
    name = f"round-trip-{uuid.uuid4().hex[:8]}"
    created = lab.post("/items", json={"name": name})
    assert created.status_code == 201, created.text
    item = created.json()
    assert item["name"] == name and item["id"] and item["created_at"]
    fetched = lab.get(f"/items/{item['id']}")
    assert fetched.status_code == 200
    assert fetched.json() == item
    assert any(i["id"] == item["id"] for i in lab.get("/items?limit=50").json())


def test_all_three_replicas_serve_and_share_data(lab: Lab) -> None:
    item = lab.post("/items", json={"name": "shared"}).json()
    seen: dict[str, int] = {}
    deadline = time.monotonic() + 20
    while set(seen) != REPLICAS and time.monotonic() < deadline:
        response = lab.get(f"/items/{item['id']}")
        assert response.status_code == 200, response.text
        assert response.json()["id"] == item["id"]
        replica = response.headers["X-Served-By"]
        seen[replica] = seen.get(replica, 0) + 1
    assert set(seen) == REPLICAS, f"replicas seen: {seen}"
    zone_of = {}
    for _ in range(60):
        response = lab.get("/items?limit=1")
        zone_of[response.headers["X-Served-By"]] = response.headers["X-Zone"]
    assert zone_of == {"web-a": "a", "web-b": "b", "web-c": "c"}


def test_health_metrics_openapi_through_proxy(lab: Lab) -> None:
    health = lab.get("/health")
    assert health.status_code == 200 and health.json() == {"status": "healthy"}
    # /metrics is for Prometheus on the monitoring network, never through the proxy
    # (test_security_live.py); the replica still serves it there.
    metrics = lab.get("/metrics")
    assert metrics.status_code == 404
    spec = lab.get("/openapi.json").json()
    assert spec["openapi"].startswith("3.") and "/items" in spec["paths"]
    missing = lab.get("/no-such-route")
    assert missing.status_code == 404 and "error" in missing.json()


def test_published_ports_are_loopback_only(lab: Lab) -> None:
    bindings = [
        (c.name, b["HostIp"])
        for c in lab.stack.containers()
        for bs in (c.network_settings.ports or {}).values()
        for b in bs or []
    ]
    assert bindings, "the proxy publishes at least one port"
    assert {ip for _, ip in bindings} == {"127.0.0.1"}, bindings


def test_web_containers_are_hardened(lab: Lab) -> None:
    for service in sorted(REPLICAS):
        c = lab.container(service)
        assert c.config.user not in ("", "0", "root"), f"{service} runs as root"
        assert c.host_config.readonly_rootfs, f"{service} root filesystem is writable"
        assert "ALL" in (c.host_config.cap_drop or [])
        assert any("no-new-privileges" in opt for opt in c.host_config.security_opt or [])


def _probe_redis(lab: Lab, network: str) -> bool:
    """Try a TCP connection to redis:6379 from a throwaway container on `network`."""
    probe = (
        "import socket,sys\n"
        "try:\n socket.create_connection(('redis', 6379), timeout=2); sys.exit(0)\n"
        "except OSError: sys.exit(1)"
    )
    image = lab.container("web-a").config.image
    try:
        docker_cli.run(image, ["python3", "-c", probe], networks=[network], remove=True, user="10001")
        return True
    except DockerException:
        return False


def test_redis_is_not_reachable_from_the_proxy_network(lab: Lab) -> None:
    project = lab.settings.project  # type: ignore[attr-defined]
    # Positive control: from the backend network the same probe connects.
    assert _probe_redis(lab, f"{project}_backend") is True
    assert _probe_redis(lab, f"{project}_edge") is False
    traefik_networks = set(lab.container("traefik").network_settings.networks)
    assert f"{project}_backend" not in traefik_networks


def test_crashed_replica_leaves_rotation_and_returns(lab: Lab) -> None:
    victim = lab.container("web-b")
    restarts_before, old_pid = victim.restart_count, victim.state.pid
    # SIGKILL of the container's main process from the host is a crash: the restart policy acts.
    os.kill(old_pid, signal.SIGKILL)
    killed_at = time.monotonic()
    wait_until(lambda: lab.container("web-b").state.pid != old_pid, 10, what="web-b to die")
    # While it is away every request still succeeds on the other replicas.
    statuses = Counter()
    replicas = Counter()
    for _ in range(30):
        response = lab.get("/items?limit=1")
        statuses[response.status_code] += 1
        replicas[response.headers.get("X-Served-By")] += 1
    assert statuses == Counter({200: 30}), statuses
    back = wait_until(lambda: "web-b" in served_by(lab, 6), 30, what="web-b back in rotation")
    assert back
    back_after_s = time.monotonic() - killed_at
    assert lab.container("web-b").restart_count == restarts_before + 1
    print(f"web-b crashed and back in rotation after {back_after_s:.1f} s")
    assert back_after_s < 30
