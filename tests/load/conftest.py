"""A real items service (its container entrypoint: granian + the Flask app) on a free loopback port,
on a real Redis."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests

from tests.conftest import RedisServer, free_port

ROOT = Path(__file__).resolve().parents[2]
WEB_DIR = ROOT / "services" / "web"


@dataclass
class ItemsServer:
    url: str
    replica: str
    redis: RedisServer


@pytest.fixture(scope="session")
def items_server(
    _redis_server_session: RedisServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ItemsServer]:
    """`python -m items_service.server` (1 worker, 4 threads) on 127.0.0.1:<free>."""
    if not (WEB_DIR / "items_service" / "app.py").exists():
        pytest.fail("services/web/items_service/app.py is missing", pytrace=False)
    redis = _redis_server_session
    redis.resume()
    redis.start()
    port = free_port()
    workdir = tmp_path_factory.mktemp("items")
    env = {
        **os.environ,
        "REDIS_HOST": redis.host,
        "REDIS_PORT": str(redis.port),
        "REDIS_PASSWORD": redis.password,
        "REPLICA": "load-test-a",
        "ZONE": "a",
        "WEB_WORKERS": "1",
        "WEB_THREADS": "4",
        "LOG_LEVEL": "WARNING",
        "PROMETHEUS_MULTIPROC_DIR": str(workdir / "metrics"),
        "DRAIN_MARKER": str(workdir / "draining"),
        "WEB_DRAIN_SECONDS": "0",
        "WEB_HOST": "127.0.0.1",
        "WEB_PORT": str(port),
    }
    log = (workdir / "server.log").open("wb")
    proc = subprocess.Popen(
        [sys.executable, "-m", "items_service.server"],
        cwd=WEB_DIR, env=env, stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 20
        while True:
            if proc.poll() is not None:
                pytest.fail(f"items service exited with {proc.returncode}: see {workdir / 'server.log'}")
            try:
                if requests.get(url + "/livez", timeout=1).status_code == 200:
                    break
            except requests.RequestException:
                pass
            if time.monotonic() > deadline:
                pytest.fail("items service did not answer /livez within 20 s", pytrace=False)
            time.sleep(0.1)
        yield ItemsServer(url=url, replica="load-test-a", redis=redis)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)
        log.close()
