"""The compose model as compose itself resolves it (anchors merged, variables substituted).

The compose files are the source of truth for services, replicas, zones, ports and resources;
the CLI, the chaos runner and the Kubernetes export read them through this module.
"""

from __future__ import annotations

from typing import Any

from python_on_whales.exceptions import DockerException

from srelab.errors import LabError
from srelab.stack.engine import compose_client
from srelab.stack.settings import PROFILES, Settings

# Labels every lab service carries: what it is (web, redis, sentinel...) and its zone.
ROLE_LABEL = "srelab.role"
ZONE_LABEL = "srelab.zone"


# `docker compose config` takes about a second; one answer per set of inputs is kept.
_CACHE: dict[tuple[object, ...], dict[str, Any]] = {}


def load_model(settings: Settings, profiles: tuple[str, ...] = PROFILES) -> dict[str, Any]:
    """`docker compose config` as a dict, for the given profiles (all by default)."""
    key = (
        settings.project,
        settings.compose_files,
        tuple(sorted(settings.compose_environment().items())),
        tuple(profiles),
    )
    if key not in _CACHE:
        client = compose_client(settings, profiles)
        try:
            model = client.compose.config(return_json=True)
        except DockerException as exc:
            raise LabError(f"compose files do not resolve: {(exc.stderr or str(exc)).strip()}") from None
        assert isinstance(model, dict)
        _CACHE[key] = model
    return _CACHE[key]


def clear_cache() -> None:
    _CACHE.clear()


def services(settings: Settings, profiles: tuple[str, ...] = PROFILES) -> dict[str, dict[str, Any]]:
    return load_model(settings, profiles)["services"]


def web_services(settings: Settings) -> tuple[str, ...]:
    """Names of the items-service replicas (label srelab.role=web), sorted."""
    return tuple(
        sorted(
            name for name, svc in services(settings, ()).items() if labels_of(svc).get(ROLE_LABEL) == "web"
        )
    )


def zone_of(service: str, settings: Settings) -> str | None:
    return labels_of(services(settings, ()).get(service, {})).get(ZONE_LABEL)


def labels_of(service: dict[str, Any]) -> dict[str, str]:
    """A compose service's labels (compose config always resolves them to a mapping)."""
    return service.get("labels") or {}
