"""Shared fixtures.

- `redis_server`: a real redis-server on 127.0.0.1 (never a mock), for `integration` tests;
- `lab`: the live compose stack (tests/lab.py), for `live` tests;
- `browser`: a headless chromium per module (tests/browser_driver.py), for `browser` tests.

Tests live in the folder of the package they test (web/, stack/, load/, chaos/, export/,
observability/, results/); the markers say what each needs.
"""

from __future__ import annotations

import os
import secrets
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.browser_driver import chromium

pytest_plugins = ["tests.lab"]


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class RedisServer:
    """A redis-server process with --requirepass on a free loopback port.

    Tests may stop(), start() (same port, same password, empty data), pause() (SIGSTOP: accepts
    connections but never answers, i.e. a hung Redis) and resume() it. The `redis_server`
    fixture brings it back up and empties it before every test.
    """

    workdir: Path
    host: str = "127.0.0.1"
    port: int = field(default_factory=free_port)
    password: str = field(default_factory=lambda: secrets.token_hex(16))
    process: subprocess.Popen[bytes] | None = None
    paused: bool = False
    # More redis-server options (e.g. replicaof, masterauth: tests/web/test_web_redis_ha.py).
    extra: dict[str, str] = field(default_factory=dict)

    @property
    def url(self) -> str:
        return f"redis://:{self.password}@{self.host}:{self.port}/0"

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def start(self, timeout: float = 10.0) -> None:
        if self.running:
            return
        binary = shutil.which("redis-server")
        if binary is None:
            pytest.skip("redis-server is not installed")
        self.workdir.mkdir(parents=True, exist_ok=True)
        options = {
            "bind": self.host,
            "port": str(self.port),
            "requirepass": self.password,
            "dir": str(self.workdir),
            "save": "",
            "appendonly": "no",
            "daemonize": "no",
            "protected-mode": "yes",
            **self.extra,
        }
        args = [binary] + [part for name, value in options.items() for part in (f"--{name}", value)]
        with open(self.workdir / "redis.log", "ab") as log:  # the child keeps its own copy of the fd
            self.process = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT)
        self.paused = False
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"redis-server exited with {self.process.returncode}: see {self.workdir}")
            try:
                if self._raw_command(b"PING") == b"+PONG":
                    return
            except OSError:
                pass
            time.sleep(0.02)
        raise RuntimeError(f"redis-server did not answer PING within {timeout}s")

    def stop(self) -> None:
        if self.process is None:
            return
        if self.paused:
            self.resume()
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=5)
        self.process = None

    def restart(self) -> None:
        self.stop()
        self.start()

    def pause(self) -> None:
        assert self.process is not None and self.running
        os.kill(self.process.pid, signal.SIGSTOP)
        self.paused = True

    def resume(self) -> None:
        if self.process is not None and self.paused:
            os.kill(self.process.pid, signal.SIGCONT)
        self.paused = False

    def flushall(self) -> None:
        reply = self._raw_command(b"FLUSHALL")
        if reply != b"+OK":
            raise RuntimeError(f"FLUSHALL failed: {reply!r}")

    def _raw_command(self, command: bytes) -> bytes:
        """AUTH + one inline command over a raw socket (no client library needed)."""
        with socket.create_connection((self.host, self.port), timeout=2) as sock:
            sock.sendall(b"AUTH " + self.password.encode() + b"\r\n" + command + b"\r\n")
            data = b""
            while data.count(b"\r\n") < 2:
                chunk = sock.recv(4096)
                if not chunk:
                    break
                data += chunk
        lines = data.split(b"\r\n")
        if lines[0] != b"+OK":
            raise OSError(f"AUTH failed: {lines[0]!r}")
        return lines[1]


@pytest.fixture(scope="session")
def _redis_server_session(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    server = RedisServer(workdir=tmp_path_factory.mktemp("redis"))
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def redis_server(_redis_server_session: RedisServer) -> Iterator[RedisServer]:
    """A running, empty redis-server (shared by the session, flushed before each test)."""
    server = _redis_server_session
    server.resume()
    server.start()
    server.flushall()
    yield server
    server.resume()  # a test that paused it must not leave it frozen for the next one


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with chromium() as driver:
        yield driver
