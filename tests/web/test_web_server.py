"""The real thing: the replica's PID 1 (items_service.server: granian with 2 workers under the
drain supervisor) against the real redis-server.

Checks /metrics aggregation across workers (prometheus_client multiprocess files), JSON-only
logs, and that SIGTERM first fails readiness, then lets an in-flight request finish (graceful drain).
"""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import shutil
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.parser import text_string_to_metric_families

if TYPE_CHECKING:
    from tests.conftest import RedisServer

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
WEB_DIR = REPO / "services" / "web"
PYTHON = REPO / ".venv" / "bin" / "python"


@dataclass
class Server:
    process: subprocess.Popen[bytes]
    port: int
    metrics_dir: Path
    log_path: Path

    def request(
        self,
        method: str,
        path: str,
        body: dict[str, Any] | None = None,
        timeout: float = 10.0,
        headers: dict[str, str] | None = None,
    ) -> tuple[int, http.client.HTTPMessage, bytes]:
        """One request on a fresh connection (so requests spread over the workers)."""
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        try:
            payload = json.dumps(body).encode() if body is not None else None
            all_headers = {"Connection": "close", "Content-Type": "application/json", **(headers or {})}
            conn.request(method, path, body=payload, headers=all_headers)
            response = conn.getresponse()
            # HTTPMessage: header names are case-insensitive (granian sends them lower-case).
            return response.status, response.msg, response.read()
        finally:
            conn.close()

    def log_lines(self) -> list[str]:
        return [line for line in self.log_path.read_text().splitlines() if line.strip()]


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.contextmanager
def running_server(redis_server: RedisServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """The replica's real entrypoint on a free loopback port, killed at exit if still up."""
    if not PYTHON.exists():
        pytest.fail(f"{PYTHON} missing: `make install`", pytrace=False)
    redis_server.resume()
    redis_server.start()
    redis_server.flushall()
    tmp = tmp_path_factory.mktemp("server")
    metrics_dir = tmp / "metrics"
    metrics_dir.mkdir()
    (metrics_dir / "counter_1.db").write_bytes(b"stale file of a previous run")  # the supervisor wipes it
    log_path = tmp / "server.log"
    port = _free_port()
    env = {
        **os.environ,
        "REDIS_HOST": redis_server.host,
        "REDIS_PORT": str(redis_server.port),
        "REDIS_PASSWORD": redis_server.password,
        "REDIS_SOCKET_TIMEOUT": "5",  # the drain test holds a request on a paused Redis
        "REPLICA": "web-g",
        "ZONE": "g",
        "PROMETHEUS_MULTIPROC_DIR": str(metrics_dir),
        "WEB_WORKERS": "2",
        "WEB_THREADS": "4",
        "WEB_DRAIN_SECONDS": "1.5",
        "DRAIN_MARKER": str(tmp / "draining"),
        "WEB_HOST": "127.0.0.1",
        "WEB_PORT": str(port),
        "PYTHONDONTWRITEBYTECODE": "1",
    }
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            [str(PYTHON), "-m", "items_service.server"],
            cwd=WEB_DIR,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    server = Server(process=process, port=port, metrics_dir=metrics_dir, log_path=log_path)
    try:
        deadline = time.monotonic() + 20
        while True:
            assert process.poll() is None, log_path.read_text()
            try:
                if server.request("GET", "/livez", timeout=1)[0] == 200:
                    break
            except OSError:
                pass
            assert time.monotonic() < deadline, log_path.read_text()
            time.sleep(0.05)
        # Both workers have booted once each has written its metric files.
        while len({p.name.rsplit("_", 1)[1] for p in metrics_dir.glob("counter_*.db")}) < 2:
            assert time.monotonic() < deadline, sorted(p.name for p in metrics_dir.iterdir())
            time.sleep(0.05)
        yield server
    finally:
        redis_server.resume()
        if process.poll() is None:
            process.kill()
            process.wait(timeout=10)


@pytest.fixture(scope="module")
def server(_redis_server_session: RedisServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    with running_server(_redis_server_session, tmp_path_factory) as server:
        yield server


@pytest.fixture
def own_server(
    _redis_server_session: RedisServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Server]:
    """A server of the test's own, for tests that stop it."""
    with running_server(_redis_server_session, tmp_path_factory) as server:
        yield server


def _metric_values(text: str, name: str) -> float:
    return sum(s.value for f in text_string_to_metric_families(text) for s in f.samples if s.name == name)


def _per_worker_created(metrics_dir: Path) -> dict[str, float]:
    """items_created_total of each worker alone, from its own counter file."""
    result: dict[str, float] = {}
    for path in metrics_dir.glob("counter_*.db"):
        pid = path.stem.rsplit("_", 1)[1]
        single = metrics_dir.parent / f"single-{pid}"
        shutil.rmtree(single, ignore_errors=True)
        single.mkdir()
        shutil.copy(path, single / path.name)
        registry = CollectorRegistry()
        MultiProcessCollector(registry, path=str(single))
        result[pid] = _metric_values(generate_latest(registry).decode(), "items_created_total")
    return result


def test_stale_metric_files_are_wiped_at_start(server: Server) -> None:
    assert not (server.metrics_dir / "counter_1.db").exists()
    assert server.request("GET", "/metrics")[0] == 200


def test_metrics_aggregate_across_workers(server: Server) -> None:
    sent = 0
    per_worker: dict[str, float] = {}
    with ThreadPoolExecutor(max_workers=8) as pool:
        for _ in range(10):  # until both workers have served some (the kernel picks the acceptor)
            statuses = list(
                pool.map(lambda i: server.request("POST", "/items", {"name": f"g{i}"})[0], range(40))
            )
            assert statuses == [201] * 40
            sent += 40
            per_worker = _per_worker_created(server.metrics_dir)
            if len(per_worker) == 2 and all(v > 0 for v in per_worker.values()):
                break
    assert len(per_worker) == 2 and all(v > 0 for v in per_worker.values()), per_worker

    status, headers, body = server.request("GET", "/metrics")
    assert status == 200
    assert headers["X-Served-By"] == "web-g"
    text = body.decode()
    assert _metric_values(text, "items_created_total") == sent == sum(per_worker.values())
    assert 'items_created_total{replica="web-g",zone="g"}' in text
    families = {f.name: f for f in text_string_to_metric_families(text)}
    posts = [
        s.value
        for s in families["items_http_requests"].samples
        if s.name == "items_http_requests_total"
        and s.labels["route"] == "/items"
        and s.labels["status"] == "201"
    ]
    assert posts == [sent]  # one series: summed over the workers, labelled replica/zone, no pid label
    in_progress = families["items_http_requests_in_progress"].samples
    assert all("pid" not in s.labels for s in in_progress)
    assert sum(s.value for s in in_progress if s.labels["route"] == "/items") == 0


def raw_exchange(
    server: Server, head: bytes, body_parts: list[bytes], pause: float = 0.0, attempts: int = 3
) -> tuple[int, bytes]:
    """Send a request byte-exactly, `pause` seconds between body parts; the answer's status and body.

    The server may answer (413) and close before the client is done sending: a refused send is
    fine. Closing with unread data makes the kernel send a reset, which can now and then destroy
    the answer before it is read: then the exchange is tried again (up to `attempts` times)."""
    for _ in range(attempts):
        with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
            sock.sendall(head)
            try:
                for part in body_parts:
                    time.sleep(pause)
                    sock.sendall(part)
            except (BrokenPipeError, ConnectionResetError):
                pass
            data = b""
            try:
                while chunk := sock.recv(65536):
                    data += chunk
            except ConnectionResetError:
                pass
        if data:
            status_line, _, rest = data.partition(b"\r\n")
            return int(status_line.split()[1]), rest.partition(b"\r\n\r\n")[2]
    raise AssertionError(f"no answer in {attempts} attempts")


def chunk(data: bytes) -> bytes:
    return f"{len(data):x}\r\n".encode() + data + b"\r\n"


CHUNKED_HEAD = (
    b"POST /items HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n"
    b"Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
)


def _chunked_post(server: Server, size: int) -> tuple[int, dict[str, Any]]:
    """POST /items with Transfer-Encoding: chunked (no Content-Length) and a JSON body of `size` bytes."""
    head = b'{"name": "chunked", "pad": "'
    body = head + b"y" * (size - len(head) - 2) + b'"}'
    assert len(body) == size
    parts = [chunk(body[i : i + 1000]) for i in range(0, len(body), 1000)] + [b"0\r\n\r\n"]
    status, answer = raw_exchange(server, CHUNKED_HEAD, parts)
    return status, json.loads(answer)


def test_chunked_bodies_are_limited_to_16_kib_exactly(server: Server) -> None:
    status, body = _chunked_post(server, 16384)
    assert (status, body["name"]) == (201, "chunked")
    status, body = _chunked_post(server, 16385)
    assert (status, body["error"]) == (413, "payload too large")
    status, body = _chunked_post(server, 100_000)
    assert (status, body["error"]) == (413, "payload too large")


def test_logs_are_json_lines_only(server: Server) -> None:
    server.request("POST", "/items", {"name": "logged"}, headers={"X-Request-ID": "server-log-1"})
    time.sleep(0.2)
    lines = server.log_lines()
    parsed = [json.loads(line) for line in lines]  # fails on any plain-text line
    assert all(p["service"] == "items" and p["replica"] == "web-g" and p["zone"] == "g" for p in parsed)
    loggers = {p["logger"] for p in parsed}
    assert {"_granian", "items_service.access", "items_service.app"} <= loggers
    assert "granian.access" not in loggers
    assert any(p["message"].startswith("Spawning worker") for p in parsed)
    mine = [p for p in parsed if p.get("request_id") == "server-log-1"]
    assert [(p["logger"], p["method"], p["route"], p["status"]) for p in mine] == [
        ("items_service.access", "POST", "/items", 201)
    ]


def test_sigterm_drains_in_flight_requests(server: Server, _redis_server_session: RedisServer) -> None:
    redis_server = _redis_server_session
    result: dict[str, Any] = {}

    def slow_request() -> None:
        try:
            status, _, body = server.request("GET", "/items?limit=1", timeout=15)
            result.update(status=status, body=body, finished=time.monotonic())
        except Exception as exc:  # reported by the assertions below
            result["error"] = repr(exc)

    assert server.request("POST", "/items", {"name": "drain"})[0] == 201
    redis_server.pause()  # the request will block in Redis until resume()
    try:
        thread = threading.Thread(target=slow_request)
        thread.start()
        time.sleep(0.5)
        assert thread.is_alive(), result
        server.process.send_signal(signal.SIGTERM)
        sigterm_at = time.monotonic()
        time.sleep(1.0)
        assert server.process.poll() is None  # still draining
        assert thread.is_alive(), result
    finally:
        redis_server.resume()
    thread.join(timeout=10)
    assert result.get("status") == 200, result
    assert [item["name"] for item in json.loads(result["body"])] == ["drain"]
    assert result["finished"] > sigterm_at + 1.0
    assert server.process.wait(timeout=12) == 0
    messages = [json.loads(line)["message"] for line in server.log_lines()]
    assert any(m.startswith("draining for 1.5 s") for m in messages), messages
    assert "stopped (granian status 0)" in messages, messages


def test_sigterm_first_fails_readiness_while_still_serving(own_server: Server) -> None:
    server = own_server
    assert server.request("GET", "/readyz")[0] == 200
    server.process.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + 1.0
    while server.request("GET", "/readyz")[0] != 503:
        assert time.monotonic() < deadline, "readiness did not fail after SIGTERM"
        time.sleep(0.05)
    status, _, body = server.request("GET", "/readyz")
    assert (status, json.loads(body)["status"]) == (503, "draining")
    # Draining: the proxy is told to stop routing, yet requests still succeed.
    assert server.request("GET", "/livez")[0] == 200
    assert server.request("POST", "/items", {"name": "during-drain"})[0] == 201
    marker = server.metrics_dir.parent / "draining"
    assert marker.exists()
    assert server.process.wait(timeout=15) == 0
    assert not marker.exists(), "the drain marker outlived the server"


def _children(pid: int) -> list[int]:
    """Direct children of `pid`, from /proc (Linux)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat[stat.rindex(")") + 2 :].split()[1]) == pid:
                found.append(int(entry.name))
    return found


def test_a_dead_worker_takes_the_replica_down_for_the_restart_policy(own_server: Server) -> None:
    """A worker killed (OOM, segfault) must not leave a process that answers nothing: granian
    shuts down, the supervisor exits non-zero, and Docker's restart policy starts a fresh one."""
    server = own_server
    (granian,) = _children(server.process.pid)
    workers = _children(granian)
    assert len(workers) == 2, workers  # WEB_WORKERS=2
    os.kill(workers[0], signal.SIGKILL)
    assert server.process.wait(timeout=15) == 1
    messages = [json.loads(line)["message"] for line in server.log_lines()]
    assert "granian exited with status 1" in messages, messages[-5:]
