"""The live stack, shared by every live test in one run.

It is brought up once per session under its own compose project and ports (so a lab the user
has running is left alone) and always torn down with its volumes. Without a Docker Engine the
live tests are skipped, unless LAB_REQUIRE_DOCKER=1 (CI), where they fail instead.
"""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
import requests

# Test ports and project: distinct from compose/lab.env's defaults. Set before settings load.
TEST_ENV = {
    "LAB_PROJECT": "srelabtest",
    "LAB_HTTP_PORT": "18080",
    "LAB_DASHBOARD_PORT": "18088",
    "LAB_PROMETHEUS_PORT": "19090",
    "LAB_GRAFANA_PORT": "13000",
    "LAB_LOKI_PORT": "13100",
    "LAB_KIBANA_PORT": "15601",
    "LAB_LOCUST_PORT": "18089",
}
LIVE_PROFILES = ("monitoring",)


def _require_docker() -> None:
    from python_on_whales import DockerClient
    from python_on_whales.exceptions import DockerException

    problem = None
    if shutil.which("docker") is None:
        problem = "docker CLI not installed"
    else:
        try:
            DockerClient().system.info()
        except DockerException as exc:
            problem = f"Docker Engine not reachable: {str(exc).strip().splitlines()[-1]}"
    if problem:
        if os.environ.get("LAB_REQUIRE_DOCKER") == "1":
            pytest.fail(f"LAB_REQUIRE_DOCKER=1 but {problem}", pytrace=False)
        pytest.skip(problem)


@dataclass
class Lab:
    settings: object
    stack: object
    proxy_url: str
    startup_s: float

    def get(self, path: str, **kw: object) -> requests.Response:
        return requests.get(self.proxy_url + path, timeout=5, **kw)  # type: ignore[arg-type]

    def post(self, path: str, **kw: object) -> requests.Response:
        return requests.post(self.proxy_url + path, timeout=5, **kw)  # type: ignore[arg-type]

    def container(self, service: str):
        (found,) = self.stack.containers([service])  # type: ignore[attr-defined]
        return found


@pytest.fixture(scope="session")
def lab() -> Iterator[Lab]:
    _require_docker()
    for key, value in TEST_ENV.items():
        os.environ.setdefault(key, value)
    from rich.console import Console

    from srelab.settings import get_settings
    from srelab.stack import Stack, plan_services

    settings = get_settings()
    console = Console(stderr=True)
    stack = Stack(settings, LIVE_PROFILES, console)
    started = time.monotonic()
    try:
        plan = plan_services(settings, LIVE_PROFILES)
        stack.build(plan.start)
        stack.up(plan.start, timeout_s=240)
        yield Lab(settings, stack, settings.proxy_url, time.monotonic() - started)
    finally:
        stack.down(volumes=True)


def wait_until(check, timeout_s: float, interval_s: float = 0.25, what: str = "condition"):
    """Poll `check()` until it returns a truthy value or the deadline passes (then fail)."""
    deadline = time.monotonic() + timeout_s
    last = None
    while time.monotonic() < deadline:
        try:
            last = check()
        except requests.RequestException as exc:
            last = exc
        else:
            if last:
                return last
        time.sleep(interval_s)
    pytest.fail(f"timed out after {timeout_s} s waiting for {what} (last: {last!r})", pytrace=False)
