"""The one settings model for srelab.

Values come, highest first, from the process environment, compose/.env (secrets, git-ignored)
and compose/lab.env (pinned images, published ports). `docker compose` reads the same two files
(srelab/stack/engine.py passes them as --env-file, with a third file of the values srelab
derives), so an image tag or a port is written down once.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

ROOT = Path(__file__).resolve().parents[2]
COMPOSE_DIR = ROOT / "compose"
LAB_ENV = COMPOSE_DIR / "lab.env"
SECRETS_ENV = COMPOSE_DIR / ".env"
SECRETS_TEMPLATE = COMPOSE_DIR / ".env.example"
# Files srelab generates for itself (git-ignored): the derived compose env files.
STATE_DIR = ROOT / ".srelab"

# Compose files, in merge order, and the profile each one's optional services belong to.
COMPOSE_FILES: tuple[Path, ...] = (
    COMPOSE_DIR / "compose.yaml",
    COMPOSE_DIR / "monitoring.yaml",
    COMPOSE_DIR / "elk.yaml",
    COMPOSE_DIR / "loadtest.yaml",
)
PROFILES: tuple[str, ...] = ("monitoring", "elk", "loadtest")
# LAB_REDIS_TOPOLOGY=ha adds this file on top of compose.yaml (Redis nodes b and c, Sentinels).
REDIS_HA_FILE = COMPOSE_DIR / "redis-ha.yaml"
REDIS_TOPOLOGIES: tuple[str, ...] = ("ha", "single")
# What `make up` starts by default: the core plus monitoring and logging, not the Locust UI.
DEFAULT_PROFILES: tuple[str, ...] = ("monitoring", "elk")

# Log shippers to Loki (LAB_LOG_SHIPPER picks one; both are compose services of "monitoring").
LOG_SHIPPERS: tuple[str, ...] = ("promtail", "alloy")

# A host name or an IPv4/IPv6 address, as LAB_HOSTS may list them.
HOST_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9.:-]{0,252}")

# Prefix of images built on this machine when LAB_IMAGES=local (srelab/stack/images.py).
LOCAL_REPO = "srelab-local"


@dataclass(frozen=True)
class LocalImage:
    """One image built locally: the lab.env variable naming its upstream tag, and its folder
    under images/local/."""

    variable: str
    folder: str
    # Files copied into the build context from this process's venv (offline builds).
    venv_files: tuple[str, ...] = ()


# The Debian base every local image is built on (the web and Locust images too).
BASE_IMAGE_VARIABLE = "PYTHON_IMAGE"
# Every image LAB_IMAGES=local builds here; compose gets srelab-local/<name>:<tag> for each.
LOCAL_IMAGES: tuple[LocalImage, ...] = (
    LocalImage("TRAEFIK_IMAGE", "traefik", venv_files=("traefik",)),
    LocalImage("REDIS_IMAGE", "redis"),
    LocalImage("PROMETHEUS_IMAGE", "prometheus"),
    LocalImage("REDIS_EXPORTER_IMAGE", "redis-exporter"),
    LocalImage("SOCKET_PROXY_IMAGE", "socket-proxy"),
    LocalImage("ALERTMANAGER_IMAGE", "alertmanager"),
    LocalImage("BLACKBOX_IMAGE", "blackbox"),
)


class Settings(BaseSettings):
    """Lab settings; field names map to the upper-case variables in compose/lab.env."""

    model_config = SettingsConfigDict(env_file=(LAB_ENV, SECRETS_ENV), extra="ignore", case_sensitive=False)

    lab_project: str = Field(description="compose project name")
    # auto: pull where a registry answers, else build here (srelab/stack/image_source.py, run by
    # `srelab up`); registry (alias upstream) or local forces one.
    lab_images: Literal["auto", "registry", "upstream", "local"] = "auto"
    lab_require_docker: bool = False
    lab_log_shipper: Literal["promtail", "alloy"] = "promtail"
    lab_bind: str
    lab_http_port: int
    lab_dashboard_port: int
    lab_prometheus_port: int
    lab_grafana_port: int
    lab_loki_port: int
    lab_kibana_port: int
    lab_locust_port: int
    # Host names Traefik routes (compose/lab.env LAB_HOSTS); see host_rule.
    lab_hosts: str = "localhost,127.0.0.1,traefik"
    lab_alertmanager_port: int
    # Redis: three nodes and Sentinels (ha) or one node (single); docs/redis-ha.md.
    lab_redis_topology: Literal["ha", "single"] = "ha"
    lab_redis_master_name: str = "items"
    lab_backend_net: str = Field(pattern=r"^(25[0-5]|2[0-4]\d|1?\d?\d)(\.(25[0-5]|2[0-4]\d|1?\d?\d)){2}$")
    lab_sentinel_down_after_ms: int = Field(ge=100)
    lab_sentinel_failover_timeout_ms: int = Field(ge=1000)
    lab_redis_min_replica_acks: int = Field(ge=0, le=2)
    lab_redis_wait_timeout_ms: int = Field(ge=10, le=900)

    traefik_image: str
    redis_image: str
    python_image: str
    prometheus_image: str
    redis_exporter_image: str
    socket_proxy_image: str
    alertmanager_image: str
    blackbox_image: str
    grafana_image: str
    loki_image: str
    promtail_image: str
    alloy_image: str
    elastic_version: str
    web_image: str
    locust_image: str

    lab_results_dir: Path = ROOT / "results"

    # From compose/.env: the chaos runner writes Grafana annotations with them.
    grafana_admin_user: str = "admin"
    grafana_admin_password: str | None = None
    # From compose/.env: basic auth of the Traefik dashboard (hashed by srelab/stack/secrets.py).
    traefik_dashboard_user: str = "admin"
    traefik_dashboard_password: str | None = None

    @field_validator("lab_hosts")
    @classmethod
    def _hosts_are_names(cls, value: str) -> str:
        names = [n.strip() for n in value.split(",")]
        # Names only: a backtick or parenthesis would change the Traefik rule built from them.
        if not all(n and HOST_NAME.fullmatch(n) for n in names):
            raise ValueError("LAB_HOSTS must be comma-separated host names or IP addresses")
        return ",".join(names)

    @property
    def hosts(self) -> tuple[str, ...]:
        """The Host header values the proxy answers (API and dashboard); others get 404."""
        return tuple(self.lab_hosts.split(","))

    @property
    def host_rule(self) -> str:
        """LAB_HOSTS as a Traefik rule: Host(`a`) || Host(`b`) (Host ignores the port)."""
        return " || ".join(f"Host(`{name}`)" for name in self.hosts)

    @property
    def compose_files(self) -> tuple[Path, ...]:
        """The compose files in merge order: the HA overlay right after the core in `ha`."""
        if self.lab_redis_topology == "ha":
            return (COMPOSE_FILES[0], REDIS_HA_FILE, *COMPOSE_FILES[1:])
        return COMPOSE_FILES

    @property
    def project(self) -> str:
        return self.lab_project

    @property
    def proxy_url(self) -> str:
        """Where clients, load and chaos send traffic: the proxy on loopback."""
        port = "" if self.lab_http_port == 80 else f":{self.lab_http_port}"
        return f"http://{self.lab_bind}{port}"

    def url(self, port: int, path: str = "/") -> str:
        return f"http://{self.lab_bind}:{port}{path}"

    def local_image(self, upstream: str) -> str:
        """srelab-local/<name>:<tag> for an upstream reference such as prom/prometheus:v2.42.0."""
        name, _, tag = upstream.rpartition(":")
        return f"{LOCAL_REPO}/{name.rsplit('/', 1)[-1]}:{tag}"

    def compose_environment(self) -> dict[str, str]:
        """Variables set for `docker compose` on top of its env files."""
        # LAB_REDIS_TOPOLOGY too: compose mounts Prometheus' targets of the topology srelab runs.
        env = {
            "LAB_PROJECT": self.lab_project,
            "LAB_HOST_RULE": self.host_rule,
            "LAB_REDIS_TOPOLOGY": self.lab_redis_topology,
        }
        if Path("/var/run/docker.sock").exists():
            env["DOCKER_GID"] = str(os.stat("/var/run/docker.sock").st_gid)
        if self.lab_images == "local":
            for var in (BASE_IMAGE_VARIABLE, *(image.variable for image in LOCAL_IMAGES)):
                env[var] = self.local_image(getattr(self, var.lower()))
        return env


def get_settings() -> Settings:
    return Settings()  # type: ignore[call-arg]  # values come from the env files
