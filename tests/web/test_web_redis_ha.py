"""The items service against a real primary, replica and Sentinel (redis-server processes on
loopback, never mocks): it finds the primary through Sentinel, acknowledges a create only once the
replica has it (WAIT), says "outcome unknown" when no replica confirms, and follows a failover
without a restart, failing fast while no primary is known."""

from __future__ import annotations

import shutil
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import redis
from flask import Flask
from items_service.app import create_app
from items_service.config import Settings
from items_service.errors import OUTCOME_UNKNOWN

from tests.conftest import RedisServer, free_port

pytestmark = pytest.mark.integration

MASTER = "items"


@dataclass
class Sentinel:
    workdir: Path
    port: int
    password: str
    process: subprocess.Popen[bytes] | None = None

    def start(self, primary: RedisServer, node_password: str) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            pytest.skip("redis-server is not installed")
        conf = self.workdir / "sentinel.conf"
        # The settings compose's sentinel.sh writes, with a quorum of one and a faster down-after.
        conf.write_text(
            f"port {self.port}\nbind 127.0.0.1\ndir {self.workdir}\nrequirepass {self.password}\n"
            f"sentinel monitor {MASTER} 127.0.0.1 {primary.port} 1\n"
            f"sentinel auth-pass {MASTER} {node_password}\n"
            f"sentinel down-after-milliseconds {MASTER} 500\n"
            f"sentinel failover-timeout {MASTER} 5000\n"
        )
        with open(self.workdir / "sentinel.log", "ab") as log:
            self.process = subprocess.Popen(
                [binary, str(conf), "--sentinel"], stdout=log, stderr=subprocess.STDOUT
            )
        client = self.client()
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                if client.sentinel_master(MASTER)["num-slaves"] >= 1:
                    return
            except (redis.ConnectionError, redis.ResponseError):
                pass
            time.sleep(0.1)
        raise RuntimeError(f"sentinel did not see the replica: {self.workdir}/sentinel.log")

    def client(self) -> redis.Redis:
        return redis.Redis("127.0.0.1", self.port, password=self.password, decode_responses=True)

    def master_port(self) -> int:
        return int(self.client().sentinel_get_master_addr_by_name(MASTER)[1])

    def stop(self) -> None:
        if self.process is not None:
            self.process.kill()
            self.process.wait(timeout=5)


@dataclass
class Topology:
    nodes: dict[int, RedisServer]  # port -> node
    sentinel: Sentinel

    def primary(self) -> RedisServer:
        return self.nodes[self.sentinel.master_port()]

    def replica(self) -> RedisServer:
        primary = self.primary()
        return next(n for n in self.nodes.values() if n is not primary)

    def settings(self, **overrides: object) -> Settings:
        values: dict[str, object] = {
            "redis_password": self.primary().password,
            "redis_sentinels": (("127.0.0.1", self.sentinel.port),),
            "redis_master_name": MASTER,
            "redis_sentinel_password": self.sentinel.password,
            "redis_min_replica_acks": 1,
            "redis_wait_timeout_ms": 300,
            "replica": "web-ha-test",
        }
        values.update(overrides)
        return Settings(**values)  # type: ignore[arg-type]


def _direct(node: RedisServer) -> redis.Redis:
    return redis.Redis(node.host, node.port, password=node.password, decode_responses=True)


def _wait_for(predicate, timeout: float, what: str) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if predicate():
                return
        except redis.RedisError:
            pass
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


@pytest.fixture
def topology(tmp_path: Path) -> Iterator[Topology]:
    password = "ha-test-password"
    primary = RedisServer(workdir=tmp_path / "a", password=password, extra={"masterauth": password})
    primary.start()
    replica = RedisServer(
        workdir=tmp_path / "b",
        password=password,
        extra={"masterauth": password, "replicaof": f"127.0.0.1 {primary.port}"},
    )
    replica.start()
    _wait_for(lambda: _direct(replica).info("replication")["master_link_status"] == "up", 10, "replica link")
    sentinel = Sentinel(workdir=tmp_path, port=free_port(), password="sentinel-test-password")
    try:
        sentinel.start(primary, password)
        yield Topology({primary.port: primary, replica.port: replica}, sentinel)
    finally:
        sentinel.stop()
        replica.stop()
        primary.stop()


def _app(settings: Settings) -> Flask:
    app = create_app(settings)
    app.testing = True
    return app


def test_create_is_acknowledged_only_once_the_replica_has_it(topology: Topology) -> None:
    client = _app(topology.settings()).test_client()
    created = client.post("/items", json={"name": "replicated"})
    assert created.status_code == 201, created.get_data(as_text=True)
    item_id = created.get_json()["id"]
    # WAIT returned 1: the replica holds the item the moment the client has its 201.
    assert _direct(topology.replica()).hget("items:data", item_id) is not None
    assert client.get(f"/items/{item_id}").status_code == 200


def test_no_replica_confirming_is_a_503_outcome_unknown_and_reads_go_on(topology: Topology) -> None:
    client = _app(topology.settings()).test_client()
    assert client.post("/items", json={"name": "before"}).status_code == 201
    topology.replica().pause()  # connected, never acknowledges
    try:
        started = time.monotonic()
        response = client.post("/items", json={"name": "unconfirmed"}, headers={"Idempotency-Key": "k-ha-1"})
        elapsed = time.monotonic() - started
        assert response.status_code == 503
        body = response.get_json()
        assert body["error"] == OUTCOME_UNKNOWN
        assert "NotReplicated" in body["detail"]
        assert response.headers["Retry-After"] == "1"
        assert elapsed < 1.0, elapsed  # the 300 ms WAIT bound, not a hang
        assert client.get("/items").status_code == 200
    finally:
        topology.replica().resume()
    # The write stayed on the primary; the client's retry with its key is answered from it.
    retry = client.post("/items", json={"name": "unconfirmed"}, headers={"Idempotency-Key": "k-ha-1"})
    assert retry.status_code == 201
    assert retry.headers.get("Idempotent-Replayed") == "true"


def test_without_wait_a_create_does_not_wait_for_the_replica(topology: Topology) -> None:
    client = _app(topology.settings(redis_min_replica_acks=0)).test_client()
    topology.replica().pause()
    try:
        assert client.post("/items", json={"name": "fast"}).status_code == 201
    finally:
        topology.replica().resume()


def test_follows_a_failover_without_restart_and_fails_fast_meanwhile(topology: Topology) -> None:
    # WAIT off: after the failover the old primary is gone and no replica is left to confirm.
    client = _app(topology.settings(redis_min_replica_acks=0)).test_client()
    first = client.post("/items", json={"name": "before failover"})
    assert first.status_code == 201
    old, new = topology.primary(), topology.replica()
    old.process.kill()  # type: ignore[union-attr]  # SIGKILL: no goodbye to the replica
    old.process.wait(timeout=5)  # type: ignore[union-attr]
    old.process = None
    slowest = 0.0
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        started = time.monotonic()
        response = client.post("/items", json={"name": "after failover"})
        slowest = max(slowest, time.monotonic() - started)
        if response.status_code == 201:
            break
        assert response.status_code == 503, response.get_data(as_text=True)
        time.sleep(0.05)
    else:
        raise AssertionError("no write accepted within 15 s of killing the primary")
    assert topology.sentinel.master_port() == new.port
    assert slowest < 1.5, slowest  # connect timeout 0.25 s, socket 1 s: never a hang
    # The item written before the failover was on the replica (now primary) all along.
    assert client.get(f"/items/{first.get_json()['id']}").status_code == 200


def test_a_demoted_primary_is_left_for_the_new_one(topology: Topology) -> None:
    client = _app(topology.settings(redis_min_replica_acks=0)).test_client()
    assert client.post("/items", json={"name": "pooled"}).status_code == 201  # a pooled connection
    old = topology.primary()
    # NOGOODSLAVE until Sentinel has talked to the replica itself (a second or so after start).
    _wait_for(
        lambda: topology.sentinel.client().execute_command("SENTINEL", "FAILOVER", MASTER),
        10,
        "a failover to start",
    )
    _wait_for(lambda: topology.sentinel.master_port() != old.port, 10, "the forced failover")
    # Sentinel demotes a primary that still says "master" some seconds (4 hello periods) later.
    _wait_for(lambda: _direct(old).info("replication")["role"] == "slave", 25, "the old primary's demotion")
    responses = [client.post("/items", json={"name": f"after {i}"}) for i in range(3)]
    statuses = [r.status_code for r in responses]
    # READONLY is Redis refusing the command: a plain "storage unavailable", never "outcome unknown".
    assert all(r.get_json()["error"] == "storage unavailable" for r in responses if r.status_code == 503)
    # The pooled connection meets READONLY: at most that request fails (a plain 503: nothing ran),
    # then the client asks Sentinel again and writes to the new primary.
    assert statuses[-1] == 201, statuses
    assert set(statuses) <= {201, 503}
    assert statuses.count(503) <= 1
