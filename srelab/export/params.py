"""k8s-export/params.yaml: what compose cannot say about a GKE deployment, validated.

Compose stays the source of truth for images, ports, environment, limits and probes; this file adds
the cloud side only: the GCP project and region, which GCP zone each compose zone becomes, replica
bounds, requests, node pools, the domain and the registry. Terraform reads the same file with
yamldecode(), so the zone list is written once.
"""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Annotated, Any

import yaml
from pydantic import Field, ValidationError, field_validator, model_validator

from srelab.errors import LabError, StrictModel, field_problems, one_line
from srelab.stack.settings import ROOT

EXPORT_DIR = ROOT / "k8s-export"
DEFAULT_PARAMS = EXPORT_DIR / "params.yaml"

# Kubernetes minor versions whose schemas the installed kubernetes-validate ships and that GKE offers.
SUPPORTED_K8S = ("1.33", "1.34", "1.35")

DNS1123_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
CPU = re.compile(r"^([0-9]+m|[0-9]+(\.[0-9]+)?)$")
MEMORY = re.compile(r"^[0-9]+(Ki|Mi|Gi|Ti|k|M|G|T)?$")
STORAGE = re.compile(r"^[0-9]+(Mi|Gi|Ti)$")
CIDR = re.compile(r"^([0-9]{1,3}\.){3}[0-9]{1,3}/([0-9]|[12][0-9]|3[0-2])$")
HOSTNAME = re.compile(r"^([a-z0-9]([-a-z0-9]*[a-z0-9])?\.)+[a-z]{2,63}$")
GCP_REGION = re.compile(r"^[a-z]+-[a-z]+[0-9]+$")
GCP_PROJECT = re.compile(r"^[a-z][-a-z0-9]{4,28}[a-z0-9]$")

Name = Annotated[str, Field(pattern=DNS1123_LABEL.pattern, max_length=40)]


class Gcp(StrictModel):
    project: str = Field(pattern=GCP_PROJECT.pattern, description="GCP project id")
    region: str = Field(pattern=GCP_REGION.pattern)
    cluster_name: Name = "srelab"
    artifact_repository: Name = "srelab"
    release_channel: str = Field("REGULAR", pattern="^(RAPID|REGULAR|STABLE)$")

    @property
    def registry(self) -> str:
        return f"{self.region}-docker.pkg.dev/{self.project}/{self.artifact_repository}"


class Requests(StrictModel):
    cpu: str = Field(pattern=CPU.pattern)
    memory: str = Field(pattern=MEMORY.pattern)


class Resources(StrictModel):
    """Requests only: limits come from compose (deploy.resources.limits)."""

    web: Requests = Requests(cpu="250m", memory="128Mi")
    redis: Requests = Requests(cpu="100m", memory="128Mi")
    redis_exporter: Requests = Requests(cpu="20m", memory="32Mi")
    sentinel: Requests = Requests(cpu="20m", memory="32Mi")
    traefik: Requests = Requests(cpu="100m", memory="64Mi")
    blackbox: Requests = Requests(cpu="20m", memory="32Mi")
    alert_sink: Requests = Requests(cpu="10m", memory="32Mi")


class ScaleUp(StrictModel):
    pods: int = Field(4, ge=1)
    percent: int = Field(100, ge=1)
    period_seconds: int = Field(15, ge=1, le=1800)


class Autoscaling(StrictModel):
    min_replicas: int = Field(1, ge=1)
    max_replicas: int = Field(3, ge=1)
    cpu_utilization: int = Field(70, ge=10, le=100)
    scale_up: ScaleUp = ScaleUp()
    scale_down_stabilization_seconds: int = Field(300, ge=0, le=3600)

    @model_validator(mode="after")
    def _bounds(self) -> Autoscaling:
        if self.max_replicas < self.min_replicas:
            raise ValueError(
                f"max_replicas ({self.max_replicas}) is below min_replicas ({self.min_replicas})"
            )
        return self


class Liveness(StrictModel):
    """Docker only marks a container unhealthy (and compose runs no healthcheck on the web
    replicas at all); a Kubernetes liveness failure restarts it, so the livenessProbe is slower
    and more forgiving than Traefik's 1 s readiness check, which would restart a replica that is
    merely slow under load. `timeout_seconds` is the items pods' (Redis keeps its healthcheck's)."""

    period_seconds: int = Field(10, ge=1)
    failure_threshold: int = Field(3, ge=1)
    timeout_seconds: int = Field(2, ge=1)

    @model_validator(mode="after")
    def _timeout(self) -> Liveness:
        if self.timeout_seconds > self.period_seconds:
            raise ValueError(
                f"timeout_seconds ({self.timeout_seconds}) is above period_seconds ({self.period_seconds})"
            )
        return self


class Pool(StrictModel):
    machine_type: str = Field(pattern=r"^[a-z0-9]+-[a-z0-9-]+$")
    min_nodes: int = Field(ge=0)
    max_nodes: int = Field(ge=1)
    disk_size_gb: int = Field(50, ge=10)
    spot: bool = False

    @model_validator(mode="after")
    def _bounds(self) -> Pool:
        if self.max_nodes < self.min_nodes:
            raise ValueError(f"max_nodes ({self.max_nodes}) is below min_nodes ({self.min_nodes})")
        return self


class DataPool(Pool):
    zone: str = Field(
        description="compose zone key whose GCP zone holds the one Redis of LAB_REDIS_TOPOLOGY=single "
        "and its disk (in `ha` the pool spans every zone: one Redis node and Sentinel per zone)"
    )


class NodePools(StrictModel):
    backend: Pool = Field(description="one pool per zone, these bounds per zone")
    monitoring: Pool
    data: DataPool


class Network(StrictModel):
    subnet_cidr: str = Field("10.10.0.0/20", pattern=CIDR.pattern)
    pods_cidr: str = Field("10.20.0.0/14", pattern=CIDR.pattern)
    services_cidr: str = Field("10.24.0.0/20", pattern=CIDR.pattern)
    master_cidr: str = Field("172.16.0.32/28", pattern=CIDR.pattern)


class Redis(StrictModel):
    storage: str = Field("5Gi", pattern=STORAGE.pattern)
    storage_class: Name = "standard-rwo"


def initial_nodes_per_zone(total_min: int, zones: int) -> int:
    """Nodes per zone a multi-zone pool starts with (at least 1, so the pool is never empty)."""
    return max(1, math.ceil(total_min / zones))


class Params(StrictModel):
    kubernetes_version: str = Field(description="pinned schema version for validation")
    gcp: Gcp
    zones: dict[Name, str] = Field(min_length=1, description="compose zone -> GCP zone")
    domain: str = Field(pattern=HOSTNAME.pattern, max_length=200)
    tls_secret: Name | None = None
    secret_name: Name = "srelab-secrets"
    run_as_user: int = Field(10001, ge=1, description="uid of the web pods when compose sets no user")
    autoscaling: Autoscaling = Autoscaling()
    liveness: Liveness = Liveness()
    resources: Resources = Resources()
    redis: Redis = Redis()
    node_pools: NodePools
    network: Network = Network()

    @field_validator("kubernetes_version")
    @classmethod
    def _k8s(cls, value: str) -> str:
        if value not in SUPPORTED_K8S:
            raise ValueError(f"must be one of {', '.join(SUPPORTED_K8S)}, got {value!r}")
        return value

    @model_validator(mode="after")
    def _zones(self) -> Params:
        prefix = self.gcp.region + "-"
        for key, zone in self.zones.items():
            if not re.fullmatch(re.escape(prefix) + r"[a-z]", zone):
                raise ValueError(f"zones.{key}: {zone!r} is not a zone of region {self.gcp.region}")
        if len(set(self.zones.values())) != len(self.zones):
            raise ValueError("zones: two compose zones map to the same GCP zone")
        # GKE's initial_node_count is per zone: the monitoring pool starts with that many nodes
        # in every zone, which its total maximum must allow.
        mon = self.node_pools.monitoring
        per_zone = initial_nodes_per_zone(mon.min_nodes, len(self.zones))
        if per_zone * len(self.zones) > mon.max_nodes:
            raise ValueError(
                f"node_pools.monitoring: max_nodes ({mon.max_nodes}) is below the "
                f"{per_zone * len(self.zones)} nodes it starts with ({per_zone} in each of "
                f"{len(self.zones)} zones)"
            )
        if self.node_pools.data.zone not in self.zones:
            raise ValueError(
                f"node_pools.data.zone: {self.node_pools.data.zone!r} is not a key of zones "
                f"({', '.join(self.zones)})"
            )
        return self

    @property
    def items_host(self) -> str:
        return f"items.{self.domain}"

    @property
    def grafana_host(self) -> str:
        return f"grafana.{self.domain}"


def _describe(exc: ValidationError) -> str:
    return one_line([f"{p.dotted}: {p.message}" if p.loc else p.message for p in field_problems(exc)])


def parse_params(data: Any, source: str = "params") -> Params:
    """Validate a loaded params mapping; any problem becomes one LabError line naming the field."""
    if not isinstance(data, dict):
        raise LabError(f"{source}: expected a mapping at the top level")
    try:
        return Params.model_validate(data)
    except ValidationError as exc:
        raise LabError(f"{source}: {_describe(exc)}") from None


def load_params(path: Path = DEFAULT_PARAMS) -> Params:
    try:
        text = path.read_text()
    except OSError as exc:
        raise LabError(f"cannot read parameters file {_display(path)}: {exc.strerror}") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark else ""
        raise LabError(f"{_display(path)}:{where} is not valid YAML") from None
    return parse_params(data, _display(path))


def _display(path: Path) -> str:
    """The path as the user gave it when relative, else relative to the repository if inside it."""
    if not path.is_absolute():
        return str(path)
    try:
        return str(path.resolve().relative_to(ROOT))
    except ValueError:
        return str(path)
