"""Recreate the web replicas with one compose variable overridden, then put them back (the bench's
WAIT-off row). Through the compose client (python-on-whales), never a docker subprocess of ours.

Compose gives a variable of the process environment precedence over its --env-file
(compose/lab.env), so setting it in os.environ for the `up` call is the override; the replicas are
recreated without their dependencies (`--no-deps`: Redis and Traefik stay as they are), each
replica's environment is checked, and the bench waits until Traefik routes to all of them again.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import requests
from python_on_whales.exceptions import DockerException

from srelab.load.errors import LoadError

# compose/redis-ha.yaml: REDIS_MIN_REPLICA_ACKS: ${LAB_REDIS_MIN_REPLICA_ACKS:?}
WAIT_VARIABLE = "LAB_REDIS_MIN_REPLICA_ACKS"
WAIT_SERVICE_VARIABLE = "REDIS_MIN_REPLICA_ACKS"
SERVED_BY = "X-Served-By"


def replica_env(docker: Any, container: str) -> dict[str, str]:
    """The environment a container runs with (docker inspect)."""
    env = docker.container.inspect(container).config.env or []
    return dict(e.split("=", 1) for e in env if "=" in e)


def recreate_web(docker: Any, services: list[str], timeout_s: int = 120) -> None:
    try:
        docker.compose.up(
            services=services,
            detach=True,
            force_recreate=True,
            dependencies=False,
            wait=True,
            wait_timeout=timeout_s,
            quiet=True,
        )
    except DockerException as exc:
        raise LoadError(
            f"recreating {', '.join(services)} failed: {(exc.stderr or str(exc)).strip()[-300:]}"
        ) from None


def wait_in_rotation(proxy_url: str, services: list[str], timeout_s: float = 60.0) -> float:
    """Poll GET /items through the proxy until every replica has answered (X-Served-By); the
    seconds it took. Traefik adds a recreated container once it runs and its /readyz passes."""
    started = time.monotonic()
    seen: set[str] = set()
    with requests.Session() as session:
        while time.monotonic() - started < timeout_s:
            try:
                r = session.get(f"{proxy_url}/items", params={"limit": 1}, timeout=2)
                if r.status_code == 200 and r.headers.get(SERVED_BY):
                    seen.add(r.headers[SERVED_BY])
            except requests.RequestException:
                pass
            if set(services) <= seen:
                return round(time.monotonic() - started, 1)
            time.sleep(0.1)
    raise LoadError(f"replicas not back in rotation after {timeout_s:g} s: only {sorted(seen)} answered")


def _check_env(docker: Any, containers: dict[str, str], variable: str, value: str) -> None:
    for service, container in containers.items():
        got = replica_env(docker, container).get(variable)
        if got != value:
            raise LoadError(f"{service} runs with {variable}={got!r}, not {value!r}")


@contextmanager
def web_with_variable(
    docker: Any,
    services: list[str],
    variable: str,
    value: str,
    *,
    service_variable: str,
    proxy_url: str,
    containers: Any,
) -> Iterator[None]:
    """Inside: the replicas run with `variable`=`value` (seen by them as `service_variable`).
    After (also on an error or Ctrl-C): recreated with the value compose had before, checked.
    `containers()` returns service -> container name of the running replicas."""
    previous = os.environ.get(variable)
    os.environ[variable] = value
    try:
        recreate_web(docker, services)
        _check_env(docker, containers(), service_variable, value)
        wait_in_rotation(proxy_url, services)
        yield
    finally:
        if previous is None:
            os.environ.pop(variable, None)
        else:
            os.environ[variable] = previous
        recreate_web(docker, services)
        wait_in_rotation(proxy_url, services)
