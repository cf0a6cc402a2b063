"""The live stack, shared by every live test in one run (a pytest plugin: tests/conftest.py).

It is brought up once per session under its own compose project and ports (so a lab the user
has running is left alone) and always torn down with its volumes. Without a Docker Engine the
live tests are skipped, unless LAB_REQUIRE_DOCKER=1 (CI), where they fail instead.
"""

from __future__ import annotations

import os
import shutil
import socket
import time
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
import requests

PORT_VARIABLES = (
    "LAB_HTTP_PORT",
    "LAB_DASHBOARD_PORT",
    "LAB_PROMETHEUS_PORT",
    "LAB_GRAFANA_PORT",
    "LAB_LOKI_PORT",
    "LAB_KIBANA_PORT",
    "LAB_LOCUST_PORT",
    "LAB_ALERTMANAGER_PORT",
)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def isolated_environment() -> dict[str, str]:
    """A project name and loopback ports of this run's own, so neither a running lab nor a
    parallel test run is disturbed."""
    # The HA topology pins Redis nodes and Sentinels to addresses in LAB_BACKEND_NET's /24: a
    # subnet of this run's own (two networks cannot share one).
    env = {"LAB_PROJECT": f"srelabtest{os.getpid()}", "LAB_BACKEND_NET": f"10.214.{os.getpid() % 250}"}
    env.update({name: str(_free_port()) for name in PORT_VARIABLES})
    return env


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
    os.environ.update(isolated_environment())
    from rich.console import Console

    from srelab.stack.image_source import resolve
    from srelab.stack.lifecycle import Stack, plan_services
    from srelab.stack.settings import get_settings

    # LAB_IMAGES unset (auto): probe the registry like `srelab up`, once for the session.
    settings, _ = resolve(get_settings())
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


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """The live tests (marker `live`, in every package's folder) run last, as one block that
    shares the stack: the browser tests of the live UIs first, the tutorial's last.
    In full runs the Locust UI's swarm got 404 for every request after the security tests (and
    after the tutorial, whose `srelab up` reshapes the shared stack), though it passes on a fresh
    stack; cause not found yet. Every live test after the tutorial failed in one CI run."""
    live = [i for i in items if i.get_closest_marker("live") is not None]
    if not live:
        return
    first = [i for i in live if i.nodeid.startswith(FIRST_LIVE)]
    last = [i for i in live if i.nodeid.startswith(LAST_LIVE)]
    middle = [i for i in live if i not in first and i not in last]
    others = [i for i in items if i.get_closest_marker("live") is None]
    items[:] = others + first + middle + last


FIRST_LIVE = "tests/load/test_web_ui_live.py"
LAST_LIVE = "tests/stack/test_tutorial_live.py"
