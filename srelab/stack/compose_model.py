"""The compose model as compose itself resolves it (anchors merged, variables substituted).

The compose files are the source of truth for services, replicas, zones, ports and resources;
the CLI, the chaos runner and the Kubernetes export read them through this module.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from python_on_whales.exceptions import DockerException

from srelab.errors import LabError
from srelab.stack.engine import compose_client
from srelab.stack.settings import PROFILES, get_settings

WEB_ROLE_LABEL = "srelab.role"
ZONE_LABEL = "srelab.zone"


@lru_cache(maxsize=8)
def _load(profiles: tuple[str, ...], _environment: tuple[tuple[str, str], ...]) -> dict[str, Any]:
    """Cached per profiles and per compose environment (local or upstream image names, topology)."""
    client = compose_client(get_settings(), profiles)
    try:
        model = client.compose.config(return_json=True)
    except DockerException as exc:
        raise LabError(f"compose files do not resolve: {(exc.stderr or str(exc)).strip()}") from None
    assert isinstance(model, dict)
    return model


def load_model(profiles: tuple[str, ...] = PROFILES) -> dict[str, Any]:
    """`docker compose config` as a dict, for the given profiles (all by default)."""
    settings = get_settings()
    key = {**settings.compose_environment(), "LAB_REDIS_TOPOLOGY": settings.lab_redis_topology}
    return _load(tuple(profiles), tuple(sorted(key.items())))


def services(profiles: tuple[str, ...] = PROFILES) -> dict[str, dict[str, Any]]:
    return load_model(profiles)["services"]


def web_services() -> tuple[str, ...]:
    """Names of the items-service replicas (label srelab.role=web), sorted."""
    return tuple(
        sorted(
            name
            for name, svc in services(()).items()
            if (svc.get("labels") or {}).get(WEB_ROLE_LABEL) == "web"
        )
    )


def zone_of(service: str) -> str | None:
    return (services(()).get(service, {}).get("labels") or {}).get(ZONE_LABEL)
