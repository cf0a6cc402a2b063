"""A real items service (gunicorn + the Flask app) on a free loopback port, on a real Redis."""

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
GUNICORN = Path(sys.executable).parent / "gunicorn"


@dataclass
class ItemsServer:
    url: str
    replica: str
    redis: RedisServer


@pytest.fixture(scope="session")
def items_server(
    _redis_server_session: RedisServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ItemsServer]:
    """gunicorn with services/web/gunicorn.conf.py (1 worker, 4 threads) on 127.0.0.1:<free>."""
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
        "GUNICORN_LOG_LEVEL": "warning",
        "PROMETHEUS_MULTIPROC_DIR": str(workdir / "metrics"),
    }
    log = (workdir / "gunicorn.log").open("wb")
    proc = subprocess.Popen(
        [str(GUNICORN), "-c", "gunicorn.conf.py", "-b", f"127.0.0.1:{port}", "--worker-tmp-dir", str(workdir),
         "items_service.app:create_app()"],
        cwd=WEB_DIR, env=env, stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 20
        while True:
            if proc.poll() is not None:
                pytest.fail(f"gunicorn exited with {proc.returncode}: see {workdir / 'gunicorn.log'}")
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
