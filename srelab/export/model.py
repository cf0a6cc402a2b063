"""Compose model + parameters -> the values the Kubernetes templates lay out.

Everything a manifest says about the items service or Redis (image, port, environment, limits,
probes, grace period, user, read-only root, tmpfs, config files) is read here from the resolved
compose model; params only add zones, bounds, requests, registry and domain. The result is plain
data (dicts and lists) handed to the jinja2 templates in k8s-export/templates/.
"""

from __future__ import annotations

import copy
import functools
import math
import posixpath
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from srelab.durations import seconds
from srelab.errors import LabError
from srelab.export.compose import ComposeService, view
from srelab.export.inputs import Inputs
from srelab.export.notes import (
    CHART_VALUES,
    COMMON,
    DROPPED,
    LITERAL_ENV,
    MAPPED,
    NOT_EXPORTED,
    REPLACED,
    Notes,
    pairs,
)
from srelab.export.params import Params
from srelab.export.selectors import translate_rule_group
from srelab.stack import redis_acl
from srelab.stack.compose_model import ROLE_LABEL, ZONE_LABEL

# Namespaces: one per tier, plus the ingress controller's.
NS_BACKEND = "backend"
NS_DATA = "data"
NS_MONITORING = "monitoring"
NS_INGRESS = "traefik"
NAMESPACES = (NS_INGRESS, NS_BACKEND, NS_DATA, NS_MONITORING)

# Node labels set by Terraform (k8s-export/terraform/node_pools.tf); tests check both agree.
POOL_LABEL = "srelab.io/pool"
TIER_LABEL = "srelab.io/tier"
ZONE_TOPOLOGY = "topology.kubernetes.io/zone"

APP = "items"
PART_OF = {"app.kubernetes.io/part-of": "srelab"}
# READ serves GET, WRITE serves POST. Each role has its headless Service (ready pods only), a
# fallback Service that also lists unready pods (compose's items-direct) and a failover
# TraefikService routing to the fallback when the first answers 503 (compose's items-failover).
ROLES = {
    "read": {
        "method": "GET",
        "service": "backend-read",
        "fallback": "backend-read-direct",
        "failover": "items-read-failover",
    },
    "write": {
        "method": "POST",
        "service": "backend-write",
        "fallback": "backend-write-direct",
        "failover": "items-write-failover",
    },
}
# Label of the fallback Services: the items ServiceMonitor skips them (each pod is scraped once).
FALLBACK_LABEL = "srelab.io/fallback"
PRESTOP_SECONDS = 5
SCRAPE_INTERVAL = "15s"
REDIS_SERVICE = "redis"
EXPORTER_PORT = 9121
# Redis HA (compose/redis-ha.yaml, LAB_REDIS_TOPOLOGY=ha): compose services labelled srelab.role
# redis (the nodes) and sentinel. On the cluster: StatefulSet redis (governing headless Service
# redis) and StatefulSet sentinel (governing headless Service sentinel-headless, client Service
# sentinel); each pod has the stable DNS name <pod>.<governing service>.<namespace>.svc.cluster.local.
REDIS_ROLE = "redis"
SENTINEL_ROLE = "sentinel"
SENTINEL_APP = "sentinel"
SENTINEL_HEADLESS = "sentinel-headless"
SENTINEL_PORT = 26379
POD_NAME_ENV = "POD_NAME"
# Sentinel directives the export turns on: compose keeps them off (fixed addresses; Docker's DNS
# is slow to fail for a stopped container), the cluster names every pod (Redis docs, "Redis
# Sentinel", section "IP addresses and DNS names": Sentinel 6.2+; resolve-hostnames must precede
# a `sentinel monitor` that names a host).
SENTINEL_HOSTNAME_DIRECTIVES = ("resolve-hostnames", "announce-hostnames")

# Labels the Helm charts put on their pods (used by NetworkPolicies; Alloy turns
# app.kubernetes.io/name into the Loki label `service`).
CHART_POD_LABELS = {
    "traefik": {"app.kubernetes.io/name": "traefik"},
    "prometheus": {"app.kubernetes.io/name": "prometheus"},
    "grafana": {"app.kubernetes.io/name": "grafana"},
    "loki": {"app.kubernetes.io/name": "loki"},
    "alloy": {"app.kubernetes.io/name": "alloy"},
}
# The ServiceMonitors' jobLabel: Prometheus takes `job` from this label of the scraped Service
# (prometheus-operator ServiceMonitorSpec.jobLabel), so the items job is "items", not the names
# of its two Services. The Traefik chart's ServiceMonitor gets the same jobLabel (values).
JOB_LABEL = "app.kubernetes.io/name"
TRAEFIK_JOB = "traefik"  # the chart's metrics Service carries app.kubernetes.io/name: traefik
# kube-prometheus-stack's own ServiceMonitors scrape Services <release>-prometheus and
# <release>-alertmanager (no jobLabel; chart 88.5.3 templates/alertmanager/servicemonitor.yaml).
KPS_PROMETHEUS_JOB = "kube-prometheus-stack-prometheus"
KPS_ALERTMANAGER_JOB = "kube-prometheus-stack-alertmanager"
# The blackbox exporter: compose service, port, and the Probes' spec.jobName. prometheus-operator
# v0.93.0 pkg/prometheus/promcfg.go generateProbeConfig: jobName becomes the `job` label (else
# the job is probe/<namespace>/<name>); `module` is only a URL parameter, so each Probe's
# staticConfig carries compose's `module` target label itself.
BLACKBOX_SERVICE = "blackbox"
BLACKBOX_APP = "blackbox-exporter"
BLACKBOX_PORT = 9115
BLACKBOX_JOB = "blackbox"
# Alertmanager's pods (prometheus-operator v0.93.0 pkg/alertmanager/statefulset.go: label
# app.kubernetes.io/name=alertmanager) and compose's webhook receiver, run as in compose.
ALERTMANAGER_POD_LABELS = {"app.kubernetes.io/name": "alertmanager"}
ALERT_SINK_SERVICE = "alert-sink"
ALERTING_NAME = "srelab"
# Traefik's chart Service (release traefik in its namespace) and its ports (traefik-values.yaml
# ports.<entrypoint>.exposedPort): the in-cluster way to the same routers clients use.
TRAEFIK_CLUSTER_HOST = f"traefik.{NS_INGRESS}.svc.cluster.local"
TRAEFIK_SERVICE_PORTS = {"web": 80, "websecure": 443}
# traefik_service_server_up exists only for services with an active or passive health check
# (traefik v3.7.9 pkg/healthcheck/healthcheck.go is its only writer); the CRD provider allows
# healthCheck on ExternalName Services only, so the cluster has none. Its per-replica readiness is
# kube-state-metrics' kube_deployment_status_replicas_ready (ksm v2.20.0, kube-prometheus-stack
# 88.5.3's subchart 8.4.0, scraped with honorLabels: the Deployment's own namespace label).
READY_REPLICAS_METRIC = "kube_deployment_status_replicas_ready"
# Oldest Prometheus the operator of the pinned kube-prometheus-stack (88.5.3: operator v0.93.x)
# supports: pkg/operator/defaults.go PrometheusCompatibilityMatrix starts at v2.45.0.
OPERATOR_MIN_PROMETHEUS = (2, 45, 0)
METRICS_PATH = "/metrics"
GRAFANA_SERVICE = "grafana"
GRAFANA_PORT = 80
GRAFANA_CONTAINER_PORT = 3000
TRAEFIK_PORTS = {"web": 8000, "websecure": 8443, "metrics": 9100}
# Traefik loads local plugins from ./plugins-local/src/<moduleName> relative to its working
# directory (traefik v3.7 pkg/plugins/plugins.go localGoPath). The image sets no WORKDIR and the
# chart's pod no workingDir, so that is / in compose and on the cluster alike.
LOCAL_PLUGINS_DIR = "plugins-local"
TRAEFIK_CHART_WORKDIR = "/"
LOCAL_PLUGIN_FLAG = re.compile(r"--experimental\.localPlugins\.([A-Za-z0-9_-]+)\.moduleName=(\S+)", re.I)
# ConfigMap data keys (the chart's inlinePlugin ConfigMap holds one plugin directory, flat) and
# the size the API server accepts for one ConfigMap.
CONFIGMAP_KEY = re.compile(r"[-._a-zA-Z0-9]{1,253}")
CONFIGMAP_MAX_BYTES = 1024 * 1024
# The header in which the items service reads the proxy's per-request id, its implicit
# Idempotency-Key for a keyless POST (services/web/items_service/config.py PROXY_REQUEST_ID_HEADER;
# the environment variable of the same name overrides it, "" turns implicit keys off).
REQUEST_ID_ENV = "PROXY_REQUEST_ID_HEADER"
REQUEST_ID_DEFAULT = "X-Proxy-Request-Id"


# An HTTP path in a healthcheck command: a URL (urllib, wget, curl) or a raw "GET /path HTTP/1.x".
HTTP_PATH = re.compile(r"(?:https?://[^/\s'\"]+|\bGET )(/[^\s'\"\\]*)")
# The web replicas' liveness contract (compose/compose.yaml, x-web labels): no Docker healthcheck
# runs it; it becomes the startupProbe and livenessProbe. A healthcheck, when one exists, is read
# too; these labels win over it.
LIVENESS_PATH_LABEL = "srelab.liveness.path"
LIVENESS_START_LABEL = "srelab.liveness.start-period"
# The summary row for the role and zone labels (the pods' component and zone labels).
ROLE_ZONE_ROW = "labels.srelab.role/zone"
# Hardening keys every exported pod carries over (securityContext).
SECURITY_KEYS = ("read_only", "cap_drop", "security_opt")
# A compose/Go duration: "30s", "1m30s", "500ms".
DURATION = re.compile(r"(?:[0-9]+(?:\.[0-9]+)?(?:ns|us|ms|s|m|h))+")


# compose's router rule starts with the LAB_HOSTS part, `(Host(`a`) || Host(`b`)) && ...`: the
# lab's loopback names; the cluster's routes match params.items_host instead.
HOST_RULE_PREFIX = re.compile(r"^\(\s*Host\(`[^`]*`\)(?:\s*\|\|\s*Host\(`[^`]*`\))*\s*\)\s*&&\s*")


def strip_host_rule(rule: str) -> str:
    return HOST_RULE_PREFIX.sub("", rule, count=1)


def dns_label(text: str) -> str:
    """A DNS-1123 label from a compose name ("items_get" -> "items-get")."""
    return re.sub(r"[^a-z0-9-]+", "-", text.lower()).strip("-")[:63].rstrip("-")


def duration_seconds(value: str | int | float | None, default: float = 0) -> float:
    """Compose durations ("2s", "1m30s", "500ms") in seconds (srelab.durations)."""
    return default if value is None else seconds(value)


def whole_seconds(value: str | int | float | None, default: float = 1) -> int:
    return max(1, math.ceil(duration_seconds(value, default)))


def cpu_quantity(cpus: float | int | str) -> str:
    millis = round(float(cpus) * 1000)
    return str(millis // 1000) if millis % 1000 == 0 else f"{millis}m"


def memory_quantity(value: int | str) -> str:
    """Compose resolves memory to bytes ("201326592"); Kubernetes prefers Mi/Gi."""
    text = str(value).strip()
    match = re.fullmatch(r"([0-9]+)([kKmMgG])?[bB]?", text)
    if not match:
        raise LabError(f"cannot read memory size {value!r} from compose")
    number = (
        int(match.group(1))
        * {None: 1, "k": 2**10, "m": 2**20, "g": 2**30}[(match.group(2) or "").lower() or None]
    )
    for unit, size in (("Gi", 2**30), ("Mi", 2**20), ("Ki", 2**10)):
        if number % size == 0:
            return f"{number // size}{unit}"
    return str(number)


def quantity_value(quantity: str) -> float:
    """A CPU or memory quantity as a number (cores or bytes), to compare requests with limits."""
    units = {
        "m": 1e-3,
        "Ki": 2**10,
        "Mi": 2**20,
        "Gi": 2**30,
        "Ti": 2**40,
        "k": 1e3,
        "M": 1e6,
        "G": 1e9,
        "T": 1e12,
    }
    match = re.fullmatch(r"([0-9.]+)([a-zA-Z]*)", quantity)
    if not match:
        raise LabError(f"not a quantity: {quantity!r}")
    return float(match.group(1)) * units.get(match.group(2), 1)


def split_image(image: str, owner: str) -> tuple[str, str]:
    """("repo/name", "tag"); refuses untagged and `latest` images."""
    name, sep, tag = image.rpartition(":")
    if not sep or "/" in tag:
        raise LabError(f"{owner}: image {image!r} has no tag; pin one in compose/lab.env")
    if tag == "latest":
        raise LabError(f"{owner}: image {image!r} uses `latest`; pin a version in compose/lab.env")
    return name, tag


def tmpfs_size(entry: str) -> tuple[str, str | None]:
    path, _, options = entry.partition(":")
    size = None
    for option in options.split(","):
        key, _, value = option.partition("=")
        if key == "size" and value:
            size = memory_quantity(value)
    return path, size


def prometheus_supported(tag: str) -> bool:
    """Whether the operator of the pinned chart supports this Prometheus image tag (vX.Y.Z...)."""
    match = re.match(r"^v?([0-9]+)\.([0-9]+)\.([0-9]+)", tag)
    return bool(match) and tuple(int(g) for g in match.groups()) >= OPERATOR_MIN_PROMETHEUS


# Services of the monitoring, elk and loadtest profiles: what stands in for each on GKE.
STAND_INS = {
    "prometheus": (
        REPLACED,
        f"kube-prometheus-stack Prometheus ({NS_MONITORING}); scrape targets are "
        "ServiceMonitors, rules a PrometheusRule; image tag kept if the operator supports it",
    ),
    "grafana": (
        REPLACED,
        f"kube-prometheus-stack Grafana ({NS_MONITORING}); dashboards as ConfigMaps "
        "labelled grafana_dashboard=1, job/service selectors rewritten for the cluster's labels; "
        "IngressRoute on grafana.<domain>",
    ),
    "loki": (
        REPLACED,
        f"Loki Helm chart, single binary on a PVC ({NS_MONITORING}); only the monitoring "
        "namespace may reach it",
    ),
    "promtail": (REPLACED, "Grafana Alloy DaemonSet (Promtail is end-of-life) with the same labels"),
    "alloy": (REPLACED, "Grafana Alloy DaemonSet (the pinned alloy chart) with the same labels"),
    "redis-exporter": (
        REPLACED,
        f"sidecar container `exporter` in the Redis StatefulSet ({NS_DATA}), ServiceMonitor redis",
    ),
    "elasticsearch": (NOT_EXPORTED, "ELK profile: logs go to Loki (and GKE Cloud Logging) instead"),
    "es-setup": (NOT_EXPORTED, "ELK profile: logs go to Loki (and GKE Cloud Logging) instead"),
    "logstash": (NOT_EXPORTED, "ELK profile: logs go to Loki (and GKE Cloud Logging) instead"),
    "kibana": (NOT_EXPORTED, "ELK profile: Grafana Explore on Loki instead"),
    "kibana-setup": (NOT_EXPORTED, "ELK profile: Grafana Explore on Loki instead"),
    "filebeat": (NOT_EXPORTED, "ELK profile: Alloy ships the logs instead"),
    "locust": (NOT_EXPORTED, "load generator: run `srelab load` against the LoadBalancer address"),
    "socket-proxy": (
        NOT_EXPORTED,
        "Docker API proxy: no Docker in GKE, Traefik and Alloy read the Kubernetes API (RBAC)",
    ),
}

# Stand-ins whose image tag the export keeps (Helm values or the Redis sidecar).
TAG_KEPT = {"prometheus", "grafana", "loki", "redis-exporter"}


# redis-exporter becomes a container of the Redis pod: these keys carry over to it.
SIDECAR_KEYS = {
    "environment": "env; REDIS_ADDR -> localhost",
    "secrets": "its password file (keyed redis://localhost) from Secret volume exporter-secrets",
    "user": "container runAsUser/runAsGroup",
    "deploy": "resources.limits (requests from params)",
    "healthcheck": "readinessProbe on the same path, liveness tcpSocket",
    "read_only": "readOnlyRootFilesystem: true",
    "cap_drop": "capabilities.drop [ALL]",
    "security_opt": "allowPrivilegeEscalation: false",
    "networks": "shares the Redis pod; NetworkPolicy allow-prometheus-to-redis-exporter",
    "image": "container image, same tag",
}

# Detection (issue 10): compose services the export renders itself (monitoring/blackbox.yaml,
# monitoring/alerting.yaml) or hands to kube-prometheus-stack's Alertmanager.
DETECTION = {
    "blackbox": (
        MAPPED,
        f"Deployment + Service + ConfigMap blackbox-exporter ({NS_MONITORING}); one Probe per module "
        "(jobName blackbox) through the Traefik Service",
    ),
    "alert-sink": (
        MAPPED,
        f"Deployment + Service alert-sink ({NS_MONITORING}): the items image, the script from a "
        "ConfigMap; only Alertmanager may connect",
    ),
    "alertmanager": (
        REPLACED,
        f"kube-prometheus-stack Alertmanager ({NS_MONITORING}) selecting AlertmanagerConfig srelab "
        "(compose's root route and webhook receiver)",
    ),
}
DETECTION_KEYS = {
    "image": "image tag kept (lab.env pin)",
    "user": "pod runAsUser/runAsGroup, runAsNonRoot",
    "read_only": "readOnlyRootFilesystem, emptyDir /tmp",
    "cap_drop": "capabilities drop ALL",
    "security_opt": "allowPrivilegeEscalation false, seccomp RuntimeDefault",
    "deploy": "resources.limits (requests from params)",
    "healthcheck": "startupProbe/readinessProbe on the same path, livenessProbe on another",
    "command": "container args",
    "entrypoint": "container command",
    "networks": "NetworkPolicies",
}


@dataclass
class Context:
    """What the templates see (plus the conversion notes summary.py turns into CONVERSION.md)."""

    params: Params
    values: dict[str, Any]
    notes: Notes = field(default_factory=Notes)


class _Builder:
    def __init__(self, inputs: Inputs, params: Params) -> None:
        self.inputs = inputs
        self.params = params
        self.services = view(inputs.services)
        self.notes = Notes()
        # Compose service name -> DNS name of what replaces it in the cluster.
        self.dns = {REDIS_SERVICE: f"{REDIS_SERVICE}.{NS_DATA}.svc.cluster.local"}
        # HA: compose address (fixed IP, or service name) of every node and Sentinel -> pod DNS name.
        self.nodes = self._members(REDIS_ROLE)
        self.sentinels = self._members(SENTINEL_ROLE)
        self.ha = len(self.nodes) > 1 or bool(self.sentinels)
        self.addresses: dict[str, str] = {}
        if self.ha:
            self._check_ha()
            for members, sts, governing in (
                (self.nodes, REDIS_SERVICE, REDIS_SERVICE),
                (self.sentinels, SENTINEL_APP, SENTINEL_HEADLESS),
            ):
                for i, (name, svc) in enumerate(members):
                    dns = f"{sts}-{i}.{governing}.{NS_DATA}.svc.cluster.local"
                    for addr in svc.addresses:
                        self.addresses[addr] = dns
                    if name != REDIS_SERVICE:
                        self.addresses[name] = dns
        self.traefik_service: str | None = None
        self.prom = self.prometheus_config()
        self.metrics_path = self._web_metrics_path()

    # --- compose secrets (files under /run/secrets) --------------------------------------------
    def secret_files(self, owner: str, svc: ComposeService) -> list[str]:
        """The compose secrets `svc` mounts: keys of the Secret, mounted at /run/secrets as in
        compose; create-secrets.sh makes each from compose/.env's variables (srelab/stack/redis_acl.py)."""
        names = []
        for entry in svc.secrets:
            name = str(entry.get("source") if isinstance(entry, dict) else entry)
            target = entry.get("target", f"/run/secrets/{name}") if isinstance(entry, dict) else ""
            if target and target != f"/run/secrets/{name}":
                raise LabError(
                    f"{owner}: compose secret {name} at {target}: only /run/secrets/<name> is exported"
                )
            if name not in redis_acl.SHELL_FILES:
                raise LabError(f"{owner}: compose secret {name}: create-secrets.sh cannot make it")
            names.append(name)
            self.notes.add(
                owner, f"secrets.{name}", f"Secret {self.params.secret_name} key {name} at /run/secrets"
            )
        return sorted(names)

    # --- environment -----------------------------------------------------------------------
    def secret_ref(self, name: str) -> dict[str, Any]:
        return {"name": name, "valueFrom": {"secretKeyRef": {"name": self.params.secret_name, "key": name}}}

    def env_entry(self, owner: str, name: str, value: Any) -> dict[str, Any]:
        value = "" if value is None else str(value)
        if value in self.inputs.secrets:
            var = self.inputs.secrets[value]
            self.notes.add(owner, f"environment.{name}", f"secretKeyRef {self.params.secret_name}/{var}")
            return {**self.secret_ref(var), "name": name}
        if value in self.dns:
            self.notes.add(owner, f"environment.{name}", f"{value} -> {self.dns[value]}")
            return {"name": name, "value": self.dns[value]}
        translated = self.translate_addresses(value)
        if translated != value:
            self.notes.add(owner, f"environment.{name}", f"compose addresses -> pod DNS names: {translated}")
            return {"name": name, "value": translated}
        self.notes.add(owner, f"environment.{name}", LITERAL_ENV)
        return {"name": name, "value": value}

    # --- Redis HA: members and their addresses ------------------------------------------------
    def _members(self, role: str) -> list[tuple[str, ComposeService]]:
        """Compose services of one HA role, zone a first: their order is the pods' ordinals."""
        found = [(name, svc) for name, svc in self.services.items() if svc.role == role]
        return sorted(found, key=lambda m: (m[1].zone or "", m[0]))

    def _check_ha(self) -> None:
        names = [n for n, _ in self.nodes]
        if REDIS_SERVICE not in names:
            raise LabError(f"Redis HA: no node is the compose service `{REDIS_SERVICE}`")
        if not self.sentinels:
            raise LabError(
                f"Redis HA: {', '.join(names)} but no service labelled {ROLE_LABEL}={SENTINEL_ROLE}"
            )
        for role, members in ((REDIS_ROLE, self.nodes), (SENTINEL_ROLE, self.sentinels)):
            zones = [svc.zone for _, svc in members]
            if None in zones or len(set(zones)) != len(zones):
                raise LabError(
                    f"Redis HA: every {role} service needs its own {ZONE_LABEL} label "
                    f"({', '.join(n for n, _ in members)})"
                )
            first_name, first = members[0]
            for name, svc in members[1:]:
                for key in (
                    "image",
                    "entrypoint",
                    "command",
                    "user",
                    "healthcheck",
                    "deploy",
                    "secrets",
                    "tmpfs",
                ):
                    if first.get(key) != svc.get(key):
                        raise LabError(
                            f"Redis HA: {first_name} and {name} differ in `{key}`; one StatefulSet "
                            "needs them identical apart from name, zone, address and data volume"
                        )

    def translate_addresses(self, value: str) -> str:
        """Compose addresses of HA members inside a value (lists such as `a:26379,b:26379`)."""
        if not self.addresses:
            return value
        return re.sub(r"[A-Za-z0-9_.-]+", lambda m: self.addresses.get(m.group(0), m.group(0)), value)

    def member_env(
        self, owner: str, members: list[tuple[str, ComposeService]], self_dns: str
    ) -> list[dict[str, Any]]:
        """One env list for every pod of a StatefulSet from the compose members' environments:
        values the same for all after the address translation stay literal; a member's own name
        becomes $(POD_NAME), its own address $(POD_NAME).<governing service>... (self_dns)."""
        env: list[dict[str, Any]] = [
            {"name": POD_NAME_ENV, "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}}
        ]
        keys = sorted({k for _, svc in members for k in svc.environment})
        for key in keys:
            raw = [str(svc.environment.get(key, "")) for _, svc in members]
            if raw[0] in self.inputs.secrets:
                env.append(self.env_entry(owner, key, raw[0]))
                continue
            plain = {self.translate_addresses(v) for v in raw}
            if len(plain) == 1:
                value = plain.pop()
                translated = f"compose addresses -> pod DNS names: {value}"
                self.notes.add(owner, f"environment.{key}", translated if value != raw[0] else LITERAL_ENV)
                env.append({"name": key, "value": value})
                continue
            own = set()
            for (name, svc), value in zip(members, raw, strict=True):
                if value in (name, svc.hostname):
                    own.add(f"$({POD_NAME_ENV})")
                    continue
                mine = set(svc.addresses)
                value = re.sub(
                    r"[A-Za-z0-9_.-]+",
                    lambda m, mine=mine: self_dns if m.group(0) in mine else m.group(0),
                    value,
                )
                own.add(self.translate_addresses(value))
            if len(own) != 1:
                raise LabError(
                    f"{owner}: environment {key} differs between {', '.join(n for n, _ in members)} "
                    "in a way the export cannot express per pod (own name or address only)"
                )
            value = own.pop()
            self.notes.add(
                owner,
                f"environment.{key}",
                "the pod's name (downward API)" if value == f"$({POD_NAME_ENV})" else f"per pod: {value}",
            )
            env.append({"name": key, "value": value})
        return env

    # --- the items service -----------------------------------------------------------------
    def web_services(self) -> dict[str, ComposeService]:
        webs = {name: svc for name, svc in sorted(self.services.items()) if svc.role == "web"}
        if not webs:
            raise LabError(f"compose has no service labelled {ROLE_LABEL}=web: nothing to export")
        return webs

    def web(self) -> dict[str, Any]:
        webs = self.web_services()
        zones = self._web_zones(webs)
        first_name, first = next(iter(webs.items()))
        self._same_everywhere(webs)
        for name in webs:
            self.notes.describe(name, "web")  # one set of rows stands for every replica
        labels = first.labels
        port = self._traefik_label(labels, "loadbalancer.server.port", first_name)
        probes = self._web_probes(first_name, first)

        repo, tag = split_image(first["image"], first_name)
        image = f"{self.params.gcp.registry}/{repo.rsplit('/', 1)[-1]}:{tag}"
        resources = self._resources(first_name, first, self.params.resources.web, note_as="web")
        uid, gid = self._user(first, first_name, self.params.run_as_user)
        grace = whole_seconds(first.stop_grace_period, 10) + PRESTOP_SECONDS
        tmp_path, tmp_size = tmpfs_size((first.tmpfs or ["/tmp"])[0])
        self._note_web(image, grace, tmp_path)
        env = self._web_env(first_name, first, zones[first_name])

        rule = strip_host_rule(labels.get(self._router_key(labels, "rule"), "PathPrefix(`/`)"))
        router_service = labels.get(self._router_key(labels, "service"), "")
        middlewares = [
            m.strip() for m in labels.get(self._router_key(labels, "middlewares"), "").split(",") if m.strip()
        ]
        request_id = str(first.environment.get(REQUEST_ID_ENV, REQUEST_ID_DEFAULT) or "").strip() or None
        return {
            "compose_services": list(webs),
            # Header the items service takes a keyless POST's implicit key from (None: it takes none).
            "request_id_header": request_id,
            # Probe and scrape paths: not routed from the load balancer.
            "internal_paths": sorted(
                {probes["readiness"]["path"], probes["liveness"]["path"], self.metrics_path}
            ),
            "metrics_path": self.metrics_path,
            "image": image,
            "source_image": first["image"],
            "port": int(port),
            "resources": resources,
            "uid": uid,
            "gid": gid,
            "grace": grace,
            "prestop": PRESTOP_SECONDS,
            "tmp": {"path": tmp_path, "size": tmp_size},
            "read_only": bool(first.get("read_only")),
            "probes": probes,
            "deployments": self._web_deployments(env),
            "rule": rule,
            "router_service": router_service,
            "secret_files": self.secret_files("web", first),
            "middleware_refs": middlewares,
        }

    def _web_zones(self, webs: dict[str, ComposeService]) -> dict[str, str]:
        """Each replica's zone label; together they must be the zones the parameters map."""
        zones = {name: svc.zone for name, svc in webs.items()}
        missing = [name for name, zone in zones.items() if not zone]
        if missing:
            raise LabError(f"web services without a {ZONE_LABEL} label: {', '.join(missing)}")
        compose_zones = sorted(set(zones.values()))  # type: ignore[arg-type]
        if compose_zones != sorted(self.params.zones):
            raise LabError(
                f"zones: compose has zones {', '.join(compose_zones)} (label {ZONE_LABEL}) but the "
                f"parameters map {', '.join(sorted(self.params.zones)) or 'none'}"
            )
        return zones  # type: ignore[return-value]

    def _web_probes(self, name: str, svc: ComposeService) -> dict[str, dict[str, Any]]:
        """Readiness from Traefik's healthcheck labels, startup and liveness from the liveness
        contract; the startupProbe runs at Traefik's cadence, as it gates readiness."""
        labels = svc.labels
        ready_path = self._traefik_label(labels, "loadbalancer.healthcheck.path", name)
        ready_every = whole_seconds(
            self._traefik_label(labels, "loadbalancer.healthcheck.interval", name, "10s")
        )
        ready_timeout = whole_seconds(
            self._traefik_label(labels, "loadbalancer.healthcheck.timeout", name, "5s")
        )
        live_path, start, health = self._liveness(name, svc, ready_path)
        startup_failures = max(1, math.ceil(start / ready_every)) if start else 3
        live = self.params.liveness
        timing = {
            LIVENESS_PATH_LABEL: (
                f"startupProbe + livenessProbe GET {live_path}; livenessProbe every {live.period_seconds} s, "
                f"timeout {live.timeout_seconds} s, restart after {live.failure_threshold} failures (params "
                "liveness: a failed Kubernetes liveness probe restarts the container, so it is slower than "
                f"Traefik's {ready_every} s readiness check)"
            ),
            LIVENESS_START_LABEL: (
                f"startupProbe {startup_failures} x {ready_every} s (timeout {ready_timeout} s): period and "
                "timeout of Traefik's healthcheck labels, so a started pod turns ready as soon as compose's "
                f"proxy would take the replica; {start:g} s before liveness takes over"
            ),
        }
        for label, text in timing.items():
            if label in labels:
                self.notes.add("web", f"labels.{label}", text)
        # Without a liveness label the healthcheck gives what it would have said: the healthcheck row says it.
        absent = [text for label, text in timing.items() if label not in labels]
        self.notes.add("web", "healthcheck", "; ".join([health or "startupProbe + livenessProbe", *absent]))
        return {
            "startup": {
                "path": live_path,
                "period": ready_every,
                "timeout": ready_timeout,
                "failures": startup_failures,
            },
            "readiness": {"path": ready_path, "period": ready_every, "timeout": ready_timeout, "failures": 1},
            "liveness": {
                "path": live_path,
                "period": live.period_seconds,
                "timeout": live.timeout_seconds,
                "failures": live.failure_threshold,
            },
        }

    def _note_web(self, image: str, grace: int, tmp_path: str) -> None:
        """What the items Deployments make of the replicas' other keys (after the liveness label rows)."""
        add = functools.partial(self.notes.add, "web")
        add("image", f"{image} (pushed by k8s-image.yml)")
        add(
            "build",
            "built and pushed to Artifact Registry on a tag (.github/workflows/k8s-image.yml)",
            REPLACED,
        )
        add(
            "labels",
            "IngressRoute items (GET -> backend-read, POST -> backend-write, host "
            f"{self.params.items_host}); healthcheck path/interval/timeout -> readinessProbe "
            "(the startupProbe's cadence too)",
            REPLACED,
            compose="traefik.* router/service labels",
        )
        add(
            ROLE_ZONE_ROW,
            "pod labels app.kubernetes.io/component, srelab.io/zone",
            compose="srelab.role, srelab.zone",
        )
        add(
            "stop_grace_period",
            f"terminationGracePeriodSeconds {grace} (incl. {PRESTOP_SECONDS} s preStop sleep)",
        )
        add("tmpfs", f"emptyDir medium Memory at {tmp_path}")
        add("read_only", "readOnlyRootFilesystem: true")
        add("cap_drop", "capabilities.drop [ALL]")
        add("security_opt", "allowPrivilegeEscalation: false, seccomp RuntimeDefault")
        add("hostname", "pod name (REPLICA comes from it)", DROPPED)
        add("networks", f"NetworkPolicies in {NS_BACKEND}; alias `web` -> ServiceMonitor items", REPLACED)

    def _web_env(self, name: str, svc: ComposeService, zone: str) -> list[dict[str, Any]]:
        """The replicas' environment; REPLICA (= the compose service name) becomes the pod name,
        ZONE the Deployment's zone (`zone: True` until each Deployment fills it in)."""
        replica_vars, zone_vars = set(), set()
        for var, value in svc.environment.items():
            if value in (name, svc.hostname):
                replica_vars.add(var)
                self.notes.add(
                    "web",
                    f"environment.{var}",
                    "pod name (downward API fieldRef metadata.name)",
                    per_replica=True,
                )
            elif value == zone:
                zone_vars.add(var)
                self.notes.add(
                    "web", f"environment.{var}", "GCP zone of the Deployment (set per zone)", per_replica=True
                )
        env: list[dict[str, Any]] = []
        for var, value in sorted(svc.environment.items()):
            if var in replica_vars:
                env.append({"name": var, "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}})
            elif var in zone_vars:
                env.append({"name": var, "zone": True})
            else:
                env.append(self.env_entry("web", var, value))
        return env

    def _web_deployments(self, env: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """One Deployment per zone and role (READ serves GET, WRITE POST)."""
        deployments = []
        selector_keys = ("app.kubernetes.io/name", "app.kubernetes.io/component", "srelab.io/zone")
        for zone_key, gcp_zone in self.params.zones.items():
            for role, role_spec in ROLES.items():
                pod_labels = {
                    "app.kubernetes.io/name": APP,
                    "app.kubernetes.io/component": role,
                    "srelab.io/zone": zone_key,
                    **PART_OF,
                }
                deployments.append(
                    {
                        "name": f"{APP}-{role}-{zone_key}",
                        "role": role,
                        "method": role_spec["method"],
                        "service": role_spec["service"],
                        "zone": zone_key,
                        "gcp_zone": gcp_zone,
                        "pool": f"backend-{zone_key}",
                        "labels": pod_labels,
                        "selector": {k: pod_labels[k] for k in selector_keys},
                        "env": [{"name": e["name"], "value": gcp_zone} if e.get("zone") else e for e in env],
                    }
                )
        return deployments

    def _liveness(self, name: str, svc: ComposeService, ready_path: str) -> tuple[str, float, str | None]:
        """(liveness path, start period in s, what became of the healthcheck): the labels
        srelab.liveness.*, else what a compose healthcheck requests. Only path and start period
        carry over: a healthcheck's interval, timeout and retries are Docker's marking cadence,
        not a restart policy."""
        labels = svc.labels
        health = svc.healthcheck
        if health.get("disable"):
            health = {}
        match = HTTP_PATH.search(" ".join(str(p) for p in health.get("test") or []))
        live_path = labels.get(LIVENESS_PATH_LABEL) or (match.group(1) if match else None)
        if not live_path:
            raise LabError(
                f"{name}: no liveness path: set the label {LIVENESS_PATH_LABEL} (or a compose "
                "healthcheck that requests an HTTP path)"
            )
        if not live_path.startswith("/") or re.search(r"\s", live_path):
            raise LabError(f"{name}: label {LIVENESS_PATH_LABEL}={live_path!r} is not an HTTP path")
        if live_path == ready_path:
            raise LabError(f"{name}: liveness ({live_path}) must differ from readiness ({ready_path})")
        start_label = labels.get(LIVENESS_START_LABEL)
        if start_label is not None and not DURATION.fullmatch(str(start_label)):
            raise LabError(
                f"{name}: label {LIVENESS_START_LABEL}={start_label!r} is not a duration (30s, 1m30s)"
            )
        start = duration_seconds(start_label if start_label is not None else health.get("start_period"), 0)
        used = None
        if health:
            used = (
                f"{'path and start_period' if match else 'start_period'} -> startupProbe/livenessProbe "
                "unless the labels srelab.liveness.* say otherwise (they win); interval/timeout/retries "
                "are Docker's marking cadence, not used"
            )
        return live_path, start, used

    def _router_key(self, labels: dict[str, str], suffix: str) -> str:
        for key in labels:
            if key.startswith("traefik.http.routers.") and key.endswith("." + suffix):
                return key
        return ""

    def _traefik_label(self, labels: dict[str, str], suffix: str, owner: str, default: str | None = None):
        for key, value in labels.items():
            if key.startswith("traefik.http.services.") and key.endswith("." + suffix):
                return value
        if default is None:
            raise LabError(f"{owner}: compose label traefik.http.services.<name>.{suffix} is missing")
        return default

    def _same_everywhere(self, webs: dict[str, ComposeService]) -> None:
        """The per-zone Deployments share one template: the replicas may differ only by name/zone."""
        per_replica = {"hostname", "container_name"}
        names = list(webs)
        first = webs[names[0]]
        for name in names[1:]:
            other = webs[name]
            for key in sorted(set(first) | set(other)):
                if key in per_replica:
                    continue
                a, b = first.get(key), other.get(key)
                if key == "labels":
                    a = {k: v for k, v in (a or {}).items() if k != ZONE_LABEL}
                    b = {k: v for k, v in (b or {}).items() if k != ZONE_LABEL}
                if key == "environment":
                    a = self._masked_env(names[0], first)
                    b = self._masked_env(name, other)
                if a != b:
                    raise LabError(
                        f"web services {names[0]} and {name} differ in `{key}`; "
                        "the export needs them identical apart from name and zone"
                    )

    @staticmethod
    def _masked_env(name: str, svc: ComposeService) -> dict[str, Any]:
        zone = svc.zone
        out = {}
        for key, value in svc.environment.items():
            out[key] = (
                "<replica>" if value in (name, svc.hostname) else ("<zone>" if value == zone else value)
            )
        return out

    def _resources(
        self, owner: str, svc: ComposeService, requested: Any, note_as: str | None = None, what: str = ""
    ) -> dict[str, dict[str, str]]:
        """compose's limits and the parameters' requests (never above them); `note_as`: the owner
        whose summary row deploy.resources.limits says so (`what` before it: "Helm resources: ")."""
        limits = self._limits(svc, owner)
        requests = requested.model_dump()
        self._check_requests(owner, requests, limits)
        if note_as:
            self.notes.add(
                note_as,
                "deploy.resources.limits",
                f"{what}limits {pairs(limits)}; requests {pairs(requests)} from params",
                compose=pairs(svc.limits) or "none",
            )
        return {"requests": requests, "limits": limits}

    def _limits(self, svc: ComposeService, owner: str) -> dict[str, str]:
        limits = svc.limits
        if "cpus" not in limits or "memory" not in limits:
            raise LabError(f"{owner}: compose sets no deploy.resources.limits (cpus and memory)")
        return {"cpu": cpu_quantity(limits["cpus"]), "memory": memory_quantity(limits["memory"])}

    @staticmethod
    def _check_requests(owner: str, requests: dict[str, str], limits: dict[str, str]) -> None:
        for key in ("cpu", "memory"):
            if quantity_value(requests[key]) > quantity_value(limits[key]):
                raise LabError(
                    f"resources: {owner} requests {key} {requests[key]} above its compose limit {limits[key]}"
                )

    @staticmethod
    def _user(svc: ComposeService, owner: str, default: int) -> tuple[int, int]:
        user = svc.user
        if not user:
            return default, default
        uid, _, gid = user.partition(":")
        if not uid.isdigit() or (gid and not gid.isdigit()):
            raise LabError(f"{owner}: compose user {user!r} is not numeric (runAsNonRoot needs a uid)")
        if int(uid) == 0:
            raise LabError(f"{owner}: compose runs as root; the export only renders non-root pods")
        return int(uid), int(gid or uid)

    # --- Prometheus: scrape jobs and rules ---------------------------------------------------
    def prometheus_config(self) -> dict[str, Any]:
        """compose's prometheus.yml and its rule files (both from the service's bind mount);
        empty when the monitoring profile defines no Prometheus."""
        svc = self.services.get("prometheus")
        if not svc:
            return {"config": {}, "rule_files": [], "groups": []}
        flag, config = self._mounted_config(svc, "/etc/prometheus/prometheus.yml", "the rules")
        rule_files: list[str] = []
        groups: list[dict[str, Any]] = []
        for pattern in config.get("rule_files") or []:
            absolute = pattern if pattern.startswith("/") else str(Path(flag).parent / pattern)
            rule_source = svc.host_path(absolute)
            if rule_source is None:
                raise LabError(f"prometheus: rule files {pattern} are not in a bind mount")
            for found in self.inputs.glob_sources(rule_source):
                rule_files.append(found)
                groups += (yaml.safe_load(self.inputs.read_source(found)) or {}).get("groups") or []
        names = [g.get("name") for g in groups]
        duplicated = sorted({n for n in names if names.count(n) > 1})
        if duplicated:
            raise LabError(f"prometheus rules: group names {', '.join(duplicated)} appear twice")
        return {"config": config, "rule_files": rule_files, "groups": groups}

    def _mounted_config(self, svc: ComposeService, default: str, what: str) -> tuple[str, dict[str, Any]]:
        """The YAML file a service's --config.file names (else `default`), read from its bind mount."""
        flag = svc.flag("--config.file", default)
        source = svc.host_path(flag)
        if source is None:
            raise LabError(f"{svc.name}: {flag} is not a bind mount; the export reads {what} from it")
        return flag, yaml.safe_load(self.inputs.read_source(source)) or {}

    def _web_aliases(self) -> set[str]:
        """Every name compose's replicas are reached by (service names, network aliases)."""
        return set().union(*(svc.aliases for svc in self.web_services().values()))

    def _web_metrics_path(self) -> str:
        aliases = self._web_aliases()
        for job in self.prom["config"].get("scrape_configs") or []:
            if self._job_hosts(job) & aliases:
                return str(job.get("metrics_path") or METRICS_PATH)
        return METRICS_PATH

    @staticmethod
    def _job_hosts(job: dict[str, Any]) -> set[str]:
        hosts = {n for sd in job.get("dns_sd_configs") or [] for n in sd.get("names") or []}
        for static in job.get("static_configs") or []:
            # redis://redis-b:6379 (a redis_exporter multi-target) names host redis-b.
            hosts |= {
                re.sub(r"^[a-z]+://", "", str(target)).rsplit(":", 1)[0].split("/", 1)[0]
                for target in static.get("targets") or []
            }
        return hosts

    def label_maps(self, traefik_service: str | None) -> dict[str, dict[str, list[str]]]:
        """What compose's label values become on the cluster: Prometheus `job` (compose job name
        -> the job the ServiceMonitors produce) and Loki `service` (compose service name -> the
        pod label app.kubernetes.io/name that Alloy copies into `service`)."""
        webs = self.web_services()
        aliases = self._web_aliases()
        jobs: dict[str, list[str]] = {}
        for job in self.prom["config"].get("scrape_configs") or []:
            hosts = self._job_hosts(job)
            name = str(job.get("job_name"))
            if self._probe_exporter(job) == BLACKBOX_SERVICE:
                # Probes through the exporter: one Probe per module, all with jobName blackbox.
                jobs[name] = [BLACKBOX_JOB]
            elif hosts & {"alertmanager"}:
                jobs[name] = [KPS_ALERTMANAGER_JOB]
            elif hosts & aliases:
                jobs[name] = [APP]
            elif hosts & ({REDIS_SERVICE, "redis-exporter"} | {n for n, _ in self.nodes}) or (
                self._probe_exporter(job) == "redis-exporter"
            ):
                # Every node is scraped by its pod's exporter sidecar (ServiceMonitor redis).
                jobs[name] = [REDIS_SERVICE]
            elif traefik_service and traefik_service in hosts:
                jobs[name] = [TRAEFIK_JOB]
            elif hosts & {"localhost", "127.0.0.1", "prometheus"}:
                jobs[name] = [KPS_PROMETHEUS_JOB]
            else:
                raise LabError(
                    f"prometheus job {name!r} scrapes {sorted(hosts)}: no cluster job known for it"
                )
        services: dict[str, list[str]] = {name: [APP] for name in webs}
        services |= {REDIS_SERVICE: [REDIS_SERVICE], "redis-exporter": [REDIS_SERVICE], "promtail": ["alloy"]}
        services |= {name: [REDIS_SERVICE] for name, _ in self.nodes}
        services |= {name: [SENTINEL_APP] for name, _ in self.sentinels}
        for chart, labels in CHART_POD_LABELS.items():
            services.setdefault(chart, [labels["app.kubernetes.io/name"]])
        if traefik_service:
            services[traefik_service] = [CHART_POD_LABELS["traefik"]["app.kubernetes.io/name"]]
        services[BLACKBOX_SERVICE] = [BLACKBOX_APP]
        # Traefik's entrypoint label: the items routers listen on websecure when TLS is on.
        entrypoint = "websecure" if self.params.tls_secret else "web"
        return {"job": jobs, "service": services, "entrypoint": {"web": [entrypoint]}}

    def scrape(self, label_maps: dict[str, dict[str, list[str]]]) -> dict[str, dict[str, str]]:
        """Cluster job -> compose's scrape interval and timeout for it: the 10 s rate windows and
        the detection delays of the rules assume compose's cadence (2 s), not the chart's."""
        glob = self.prom["config"].get("global") or {}
        out: dict[str, dict[str, str]] = {}
        for job in self.prom["config"].get("scrape_configs") or []:
            for cluster_job in label_maps["job"].get(str(job.get("job_name")), []):
                out[cluster_job] = {
                    "interval": str(
                        job.get("scrape_interval") or glob.get("scrape_interval") or SCRAPE_INTERVAL
                    ),
                    "timeout": str(job.get("scrape_timeout") or glob.get("scrape_timeout") or "10s"),
                }
        return out

    @staticmethod
    def _probe_exporter(job: dict[str, Any]) -> str | None:
        """The host a job's relabelling sends every scrape to (`__address__` replaced by a fixed
        exporter address, as for blackbox probes), else None."""
        for relabel in job.get("relabel_configs") or []:
            if relabel.get("target_label") == "__address__" and not relabel.get("source_labels"):
                return str(relabel.get("replacement", "")).rsplit(":", 1)[0] or None
        return None

    def ready_replicas_rewrites(self, web: dict[str, Any]) -> dict[str, str]:
        """compose's health-checked Traefik service of the replicas (`items@docker`) -> the selector of the
        items Deployments' ready replicas, which is what summing its servers' traefik_service_server_up
        counts on compose (Traefik's readiness check = the pods' readinessProbe here)."""
        labels = next(iter(self.web_services().values())).labels
        found = {
            key.split(".")[3]
            for key in labels
            if key.startswith("traefik.http.services.") and ".loadbalancer.healthcheck." in key
        }
        if len(found) != 1:
            return {}
        service = f"{found.pop()}@docker"
        names = "|".join(d["name"] for d in web["deployments"])
        return {service: f'{READY_REPLICAS_METRIC}{{namespace="{NS_BACKEND}", deployment=~"{names}"}}'}

    # --- Alertmanager routing and the webhook receiver -------------------------------------
    def alerting(self, groups: list[dict[str, Any]], web: dict[str, Any]) -> dict[str, Any] | None:
        """compose's alertmanager.yml root route and webhook receivers as one AlertmanagerConfig
        whose route takes every alert of the exported rules (by name: the chart's own rules go
        to its default receiver as before), and compose's alert-sink as a Deployment."""
        svc = self.services.get("alertmanager")
        if svc is None:
            return None
        _, config = self._mounted_config(svc, "/etc/alertmanager/alertmanager.yml", "the routing")
        route = config.get("route") or {}
        receivers = self._receivers(config)
        if route.get("routes"):
            self.notes.add(
                "alertmanager",
                "route.routes",
                f"child routes not exported: every srelab alert goes to {route.get('receiver')}",
                trailing=True,
            )
        names = sorted({r["alert"] for g in groups for r in g.get("rules") or [] if "alert" in r})
        am_route: dict[str, Any] = {"receiver": route.get("receiver")}
        for ours, theirs in (
            ("groupBy", "group_by"),
            ("groupWait", "group_wait"),
            ("groupInterval", "group_interval"),
            ("repeatInterval", "repeat_interval"),
        ):
            if theirs in route:
                am_route[ours] = route[theirs]
        am_route["matchers"] = [{"name": "alertname", "matchType": "=~", "value": "|".join(names)}]
        self.notes.add(
            "alertmanager",
            "volumes",
            f"alertmanager.yml -> AlertmanagerConfig {ALERTING_NAME}: alertname=~ the "
            f"{len(names)} srelab alerts -> {route.get('receiver')}; storage: the chart's",
            REPLACED,
        )
        return {
            "name": ALERTING_NAME,
            "route": am_route,
            "receivers": receivers,
            "alerts": names,
            "sink": self.alert_sink(web),
        }

    def _receivers(self, config: dict[str, Any]) -> list[dict[str, Any]]:
        """compose's webhook receivers; a URL to a compose service names its Service instead."""
        receivers = []
        for receiver in config.get("receivers") or []:
            unsupported = sorted(k for k in receiver if k not in ("name", "webhook_configs"))
            if unsupported:
                raise LabError(
                    f"alertmanager receiver {receiver.get('name')}: only webhook_configs are exported, "
                    f"not {', '.join(unsupported)}"
                )
            hooks = []
            for hook in receiver.get("webhook_configs") or []:
                url = str(hook.get("url") or "")
                match = re.fullmatch(r"(https?://)([^/:]+)(.*)", url)
                if match and match.group(2) in self.services:
                    url = f"{match.group(1)}{match.group(2)}.{NS_MONITORING}.svc{match.group(3)}"
                hooks.append(
                    {
                        "url": url,
                        "sendResolved": bool(hook.get("send_resolved", True)),
                        **({"maxAlerts": int(hook["max_alerts"])} if "max_alerts" in hook else {}),
                    }
                )
            receivers.append({"name": receiver["name"], "webhookConfigs": hooks})
        return receivers

    def alert_sink(self, web: dict[str, Any]) -> dict[str, Any] | None:
        svc = self.services.get(ALERT_SINK_SERVICE)
        if svc is None:
            return None
        entry = svc.entrypoint
        script = next((e for e in entry if e.endswith(".py")), None)
        source = svc.host_path(script) if script else None
        if script is None or source is None:
            raise LabError("alert-sink: its entrypoint runs no bind-mounted .py script; the export reads it")
        port = int(entry[-1]) if entry and entry[-1].isdigit() else 9095
        resources = self._resources(ALERT_SINK_SERVICE, svc, self.params.resources.alert_sink)
        uid, gid = self._user(svc, ALERT_SINK_SERVICE, self.params.run_as_user)
        text = self.inputs.read_source(source)
        if web["source_image"] != svc.image:
            raise LabError(f"alert-sink runs {svc.image}, not the items image the export pushes")
        self.notes.add(
            ALERT_SINK_SERVICE, "image", f"the items image ({web['image']}), script from ConfigMap alert-sink"
        )
        return {
            "image": web["image"],
            "command": entry,
            "script": text,
            "script_name": posixpath.basename(script),
            "script_dir": posixpath.dirname(script),
            "checksum": _checksum(text),
            "port": port,
            "uid": uid,
            "gid": gid,
            "resources": resources,
            "labels": {"app.kubernetes.io/name": ALERT_SINK_SERVICE, **PART_OF},
        }

    # --- the blackbox exporter and its Probes ------------------------------------------------
    def blackbox(self) -> dict[str, Any] | None:
        """compose's blackbox service (image, user, limits, modules) as a Deployment, and each of
        its Prometheus job's targets as a Probe through the cluster's Traefik."""
        svc = self.services.get(BLACKBOX_SERVICE)
        jobs = [
            j
            for j in self.prom["config"].get("scrape_configs") or []
            if self._probe_exporter(j) == BLACKBOX_SERVICE
        ]
        if not jobs:
            return None
        if svc is None:
            raise LabError(
                f"prometheus job {jobs[0].get('job_name')!r} probes through {BLACKBOX_SERVICE}, "
                "which compose does not define"
            )
        split_image(svc["image"], BLACKBOX_SERVICE)
        flag, config = self._mounted_config(svc, "/etc/blackbox_exporter/config.yml", "the modules")
        modules = self._blackbox_modules(config)
        resources = self._resources(BLACKBOX_SERVICE, svc, self.params.resources.blackbox)
        uid, gid = self._user(svc, BLACKBOX_SERVICE, 65534)
        probes = self._probes(jobs, modules)
        self.notes.add(
            BLACKBOX_SERVICE,
            "probes",
            f"{len(probes)} Probes (jobName {BLACKBOX_JOB}) to "
            f"{TRAEFIK_CLUSTER_HOST}, the Traefik Service clients reach through the load balancer",
            trailing=True,
        )
        return {
            "image": svc["image"],
            "config": yaml.safe_dump(config, sort_keys=False),
            "config_checksum": _checksum(yaml.safe_dump(config, sort_keys=False)),
            "config_path": flag,
            "args": svc.command,
            "port": BLACKBOX_PORT,
            "uid": uid,
            "gid": gid,
            "resources": resources,
            "labels": {"app.kubernetes.io/name": BLACKBOX_APP, **PART_OF},
            "job": BLACKBOX_JOB,
            "probes": probes,
            "service": f"{BLACKBOX_APP}.{NS_MONITORING}.svc:{BLACKBOX_PORT}",
        }

    def _blackbox_modules(self, config: dict[str, Any]) -> dict[str, Any]:
        """blackbox.yml's modules, edited in place: the routers match Host(items.<domain>) on the
        cluster (compose: localhost), and with TLS the probe names that host too."""
        modules = config.get("modules") or {}
        for name, module in modules.items():
            http = (module or {}).get("http") or {}
            headers = http.get("headers") or {}
            if "Host" in headers:
                self.notes.add(
                    BLACKBOX_SERVICE,
                    f"modules.{name}.http.headers.Host",
                    f"{headers['Host']} -> {self.params.items_host}",
                    trailing=True,
                )
                headers["Host"] = self.params.items_host
            if self.params.tls_secret:
                http.setdefault("tls_config", {})["server_name"] = self.params.items_host
        return modules

    def _probes(self, jobs: list[dict[str, Any]], modules: dict[str, Any]) -> list[dict[str, Any]]:
        """One Probe per static target group of the blackbox jobs (compose: one per module)."""
        probes = []
        for job in jobs:
            for static in job.get("static_configs") or []:
                labels = dict(static.get("labels") or {})
                module = labels.get("module")
                if module not in modules:
                    raise LabError(
                        f"prometheus job {job.get('job_name')}: target module {module!r} is not "
                        "a module of blackbox.yml"
                    )
                probes.append(
                    {
                        "name": dns_label(f"{BLACKBOX_SERVICE}-{module}"),
                        "module": module,
                        "targets": [self._cluster_url(str(t)) for t in static.get("targets") or []],
                        "labels": labels,
                        "interval": job.get("scrape_interval"),
                        "timeout": job.get("scrape_timeout"),
                        "path": job.get("metrics_path") or "/probe",
                    }
                )
        return probes

    def _cluster_url(self, target: str) -> str:
        """A compose probe URL through Traefik's web entrypoint -> the same path through the
        cluster's Traefik Service (websecure when TLS is on)."""
        match = re.fullmatch(r"(https?)://([^/:]+)(?::([0-9]+))?(/.*)?", target)
        if not match or match.group(2) != self.traefik_service:
            raise LabError(f"blackbox target {target!r}: only URLs through compose's Traefik can be exported")
        port = match.group(3)
        if port and port != str(self._traefik_web_port()):
            raise LabError(f"blackbox target {target!r}: not Traefik's web entrypoint")
        entry = "websecure" if self.params.tls_secret else "web"
        scheme = "https" if self.params.tls_secret else "http"
        return f"{scheme}://{TRAEFIK_CLUSTER_HOST}:{TRAEFIK_SERVICE_PORTS[entry]}{match.group(4) or '/'}"

    def _traefik_web_port(self) -> int:
        svc = self.services.get(self.traefik_service or "") or ComposeService("")
        for arg in svc.command:
            m = re.fullmatch(r"--entry[pP]oints\.web\.address=[^:]*:([0-9]+)", arg)
            if m:
                return int(m.group(1))
        return 80

    # --- Redis -----------------------------------------------------------------------------
    def redis(self) -> dict[str, Any]:
        svc = self.services.get(REDIS_SERVICE)
        if svc is None:
            raise LabError(f"compose has no `{REDIS_SERVICE}` service")
        split_image(svc["image"], REDIS_SERVICE)
        resources = self._resources(REDIS_SERVICE, svc, self.params.resources.redis, note_as=REDIS_SERVICE)
        uid, gid = self._user(svc, REDIS_SERVICE, 999)
        args, env, auth_var = self._redis_args(svc)
        if self.ha:
            self._check_ha_zones()
            self_dns = f"$({POD_NAME_ENV}).{REDIS_SERVICE}.{NS_DATA}.svc.cluster.local"
            env += self.member_env(REDIS_SERVICE, self.nodes, self_dns)
        else:
            for key, value in sorted(svc.environment.items()):
                env.append(self.env_entry(REDIS_SERVICE, key, value))
        config_files, data_path = self._redis_volumes(svc)
        conf = "\n".join(c["text"] for c in config_files)
        if not re.search(r"^\s*appendonly\s+yes", conf, re.M):
            raise LabError("redis: redis.conf does not enable AOF (appendonly yes)")
        port = _conf_port(conf, 6379)
        probes = self.exec_probes(REDIS_SERVICE, svc)
        exporter = self.exporter(port, auth_var)
        out = {
            "ha": self.ha,
            "replicas": len(self.nodes) if self.ha else 1,
            "image": svc["image"],
            "command": svc.entrypoint,
            "args": args,
            "env": env,
            "port": port,
            "uid": uid,
            "gid": gid,
            "resources": resources,
            "config": config_files,
            "config_checksum": _checksum(conf),
            "data_path": data_path,
            "storage": self.params.redis.storage,
            "storage_class": self.params.redis.storage_class,
            "grace": whole_seconds(svc.stop_grace_period, 10),
            "probes": probes,
            "exporter": exporter,
            "secret_files": self.secret_files(REDIS_SERVICE, svc),
            "pool": "data",
            "gcp_zone": self.params.zones[self.params.node_pools.data.zone],
            "gcp_zones": (
                [self.params.zones[m.zone] for _, m in self.nodes]  # type: ignore[index]
                if self.ha
                else [self.params.zones[self.params.node_pools.data.zone]]
            ),
            "labels": {"app.kubernetes.io/name": REDIS_SERVICE, **PART_OF},
            "selector": {"app.kubernetes.io/name": REDIS_SERVICE},
            "members": self._redis_members() if self.ha else [],
            "sentinel": None,
        }
        self._note_redis(svc, out)
        if self.ha:
            out["sentinel"] = self.sentinel()
        return out

    def _redis_args(self, svc: ComposeService) -> tuple[list[str], list[dict[str, Any]], str | None]:
        """(args, env, the first secret's variable): a secret in compose's command becomes
        $(VAR), VAR a secretKeyRef (Kubernetes expands $(VAR) in args)."""
        env: list[dict[str, Any]] = []
        args = []
        auth_var = None
        for arg in svc.command:
            if arg in self.inputs.secrets:
                var = self.inputs.secrets[arg]
                auth_var = auth_var or var
                args.append(f"$({var})")
                if all(e["name"] != var for e in env):
                    env.append(self.secret_ref(var))
                self.notes.add(REDIS_SERVICE, "command", f"secret argument -> $({var}) from secretKeyRef")
            else:
                args.append(arg)
        self.notes.setdefault(REDIS_SERVICE, "command", "container args")
        return args, env, auth_var

    def _check_ha_zones(self) -> None:
        for role, members in ((REDIS_ROLE, self.nodes), (SENTINEL_ROLE, self.sentinels)):
            unknown = sorted(str(m.zone) for _, m in members if m.zone not in self.params.zones)
            if unknown:
                raise LabError(f"Redis HA: {role} zones {', '.join(unknown)} are not keys of params zones")

    def _redis_volumes(self, svc: ComposeService) -> tuple[list[dict[str, str]], str]:
        """(config files from the bind mounts, the data path of the named volume)."""
        config_files = []
        data_path = None
        for vol in svc.volumes:
            if vol.get("type") == "bind":
                key = vol["target"].rsplit("/", 1)[-1]
                config_files.append(
                    {"key": key, "path": vol["target"], "text": self.inputs.read_source(vol["source"])}
                )
            elif vol.get("type") == "volume":
                data_path = vol["target"]
        if data_path is None:
            raise LabError("redis: compose mounts no named volume for its data (AOF)")
        return config_files, data_path

    def _redis_members(self) -> list[dict[str, str]]:
        """Each HA node: its compose service, its pod and that pod's DNS name."""
        members = []
        for i, (name, m) in enumerate(self.nodes):
            pod = f"{REDIS_SERVICE}-{i}"
            dns = (
                self.addresses[m.addresses[0]]
                if m.addresses
                else f"{pod}.{REDIS_SERVICE}.{NS_DATA}.svc.cluster.local"
            )
            members.append({"compose": name, "pod": pod, "dns": dns})
        return members

    def _note_redis(self, svc: ComposeService, out: dict[str, Any]) -> None:
        add = functools.partial(self.notes.add, REDIS_SERVICE)
        image = f"StatefulSet {REDIS_SERVICE} ({NS_DATA})"
        labels = "pod label app.kubernetes.io/name=redis"
        networks = f"NetworkPolicy allow-items-to-redis ({NS_DATA})"
        if self.ha:
            image += (
                f", {out['replicas']} pods: StatefulSet {REDIS_SERVICE}, {len(self.nodes)} pods (compose "
                f"{', '.join(n for n, _ in self.nodes)}), one per zone (topologySpreadConstraints "
                f"on {ZONE_TOPOLOGY}), each on its PVC data-{REDIS_SERVICE}-<n>"
            )
            labels += "; zones: topologySpreadConstraints (one pod per zone)"
            networks = (
                "fixed backend address -> the pod's DNS name <pod>.redis.data.svc.cluster.local "
                "(headless Service redis, publishNotReadyAddresses); NetworkPolicies "
                "allow-items-to-redis, allow-sentinel-to-redis, allow-redis-to-redis"
            )
        add("image", image)
        add("entrypoint", "container command (the start script from ConfigMap redis-config)")
        add("hostname", "pod name redis-<n> (StatefulSet ordinal)", REPLACED)
        add("labels", labels, REPLACED)
        add("tmpfs", "emptyDir at /tmp (the start script's copy of redis.conf)")
        add("networks", networks, REPLACED)
        for vol in svc.volumes:
            if vol.get("type") == "bind":
                text, compose = "ConfigMap redis-config (subPath), checksum rolls the pod", "bind mount"
            else:
                text = f"volumeClaimTemplate data, {out['storage']} {out['storage_class']}"
                compose = f"volume {vol.get('source')}"
            add(f"volumes:{vol['target']}", text, compose=compose)
        self._note_pod(REDIS_SERVICE, out)
        for member in out["members"]:
            if member["compose"] == REDIS_SERVICE:
                continue  # the rows above
            pod = member["pod"]
            self.notes.service(
                member["compose"],
                f"pod {pod} of StatefulSet redis: same template as `redis` (rows above); its own hostname, "
                f"address and volume become the pod name, its DNS name and PVC data-{pod}",
                MAPPED,
            )

    def _note_pod(self, owner: str, spec: dict[str, Any]) -> None:
        """The keys Redis and Sentinel pods map alike (probes, user, restricted securityContext)."""
        add = functools.partial(self.notes.add, owner)
        add("healthcheck", "startupProbe + readinessProbe (same command); liveness tcpSocket")
        add("user", f"runAsUser {spec['uid']}, runAsGroup/fsGroup {spec['gid']}")
        for key in SECURITY_KEYS:
            add(key, "restricted securityContext")

    def exec_probes(self, owner: str, svc: ComposeService) -> dict[str, Any]:
        """A compose exec healthcheck as startup and readiness probe (liveness: tcpSocket).
        `$$` is compose's escape for `$`; `docker compose config` keeps it, and a probe's exec
        command is not expanded by Kubernetes, so it becomes `$` here."""
        health = svc.healthcheck
        test = [str(t).replace("$$", "$") for t in health.get("test") or []]
        if test and test[0] == "CMD-SHELL":
            probe_cmd = ["sh", "-c", " ".join(test[1:])]
        elif test and test[0] == "CMD":
            probe_cmd = test[1:]
        else:
            raise LabError(f"{owner}: compose healthcheck missing; it becomes the readiness probe")
        interval = whole_seconds(health.get("interval"), 30)
        start = duration_seconds(health.get("start_period"), 0)
        return {
            "command": probe_cmd,
            "period": interval,
            "timeout": whole_seconds(health.get("timeout"), 30),
            "failures": int(health.get("retries") or 3),
            "startup_failures": max(1, math.ceil(start / interval)) if start else 3,
            "liveness_period": self.params.liveness.period_seconds,
            "liveness_failures": self.params.liveness.failure_threshold,
        }

    def sentinel(self) -> dict[str, Any]:
        """The compose Sentinels as StatefulSet sentinel: the same start script and config (a
        ConfigMap; the script copies the config to an emptyDir, Sentinel rewrites it there), the
        pod DNS names instead of compose's fixed addresses, hostnames on."""
        name, svc = self.sentinels[0]
        split_image(svc["image"], name)
        resources = self._resources(name, svc, self.params.resources.sentinel, note_as=SENTINEL_APP)
        uid, gid = self._user(svc, name, 999)
        self_dns = f"$({POD_NAME_ENV}).{SENTINEL_HEADLESS}.{NS_DATA}.svc.cluster.local"
        env = self.member_env(SENTINEL_APP, self.sentinels, self_dns)
        config_files = []
        for vol in svc.volumes:
            if vol.get("type") != "bind":
                raise LabError(f"{name}: volume {vol.get('target')}: Sentinel keeps its state on tmpfs only")
            key = vol["target"].rsplit("/", 1)[-1]
            text = self.inputs.read_source(vol["source"])
            if key.endswith(".conf"):
                text = self._sentinel_hostnames(text)
            config_files.append({"key": key, "path": vol["target"], "text": text})
        conf = "\n".join(c["text"] for c in config_files)
        tmp_path, tmp_size = tmpfs_size((svc.tmpfs or ["/tmp"])[0])
        pods = [
            f"{SENTINEL_APP}-{i}.{SENTINEL_HEADLESS}.{NS_DATA}.svc.cluster.local"
            for i in range(len(self.sentinels))
        ]
        out = {
            "image": svc["image"],
            "replicas": len(self.sentinels),
            "command": svc.entrypoint,
            "args": svc.command,
            "env": env,
            "port": _conf_port(conf, SENTINEL_PORT),
            "uid": uid,
            "gid": gid,
            "resources": resources,
            "config": config_files,
            "config_checksum": _checksum(conf),
            "tmp": {"path": tmp_path, "size": tmp_size},
            "grace": whole_seconds(svc.stop_grace_period, 10),
            "probes": self.exec_probes(name, svc),
            "secret_files": self.secret_files(SENTINEL_APP, svc),
            "gcp_zones": [self.params.zones[m.zone] for _, m in self.sentinels],  # type: ignore[index]
            "labels": {"app.kubernetes.io/name": SENTINEL_APP, **PART_OF},
            "selector": {"app.kubernetes.io/name": SENTINEL_APP},
            "headless": SENTINEL_HEADLESS,
            "service": SENTINEL_APP,
            "pods": pods,
            "min_available": len(self.sentinels) // 2 + 1,
        }
        self._note_sentinel(svc, out)
        return out

    def _note_sentinel(self, svc: ComposeService, out: dict[str, Any]) -> None:
        """The first Sentinel's keys (in name order, as the summary lists them) stand for the
        StatefulSet; every other Sentinel is one more pod of it."""
        first, *others = sorted(n for n, _ in self.sentinels)
        self.notes.describe(first, SENTINEL_APP)
        for name in others:
            self.notes.service(
                name,
                "a pod of StatefulSet sentinel: same template as the first Sentinel (rows above); its "
                "own name and address become the pod name and its DNS name",
                MAPPED,
            )
        add = functools.partial(self.notes.add, SENTINEL_APP)
        add(
            "image",
            f"StatefulSet {SENTINEL_APP} ({NS_DATA}): StatefulSet {SENTINEL_APP}, {len(self.sentinels)} pods "
            f"(compose {', '.join(n for n, _ in self.sentinels)}), one per zone; headless Service "
            f"{SENTINEL_HEADLESS} names them ({out['pods'][0]}, ...), Service {SENTINEL_APP} is for clients",
        )
        add("entrypoint", "container command (the start script from ConfigMap sentinel-config)")
        hostnames = "; ".join(
            f"sentinel {d} yes: pods are named by stable DNS names (compose: fixed addresses)"
            for d in sorted(SENTINEL_HOSTNAME_DIRECTIVES)
        )
        for vol in svc.volumes:
            target = vol.get("target")
            what = "ConfigMap sentinel-config (subPath)"
            add(
                f"volumes:{target}",
                f"{what}; {hostnames}" if str(target or "").endswith(".conf") else what,
                compose="bind mount",
            )
        add(
            "tmpfs",
            f"emptyDir medium Memory at {out['tmp']['path']}: Sentinel's rewritten config, its state, is "
            "not kept (a restarted Sentinel learns it from its peers)",
        )
        self._note_pod(SENTINEL_APP, out)
        for key in ("hostname", "labels"):
            add(key, "pod name sentinel-<n>, label app.kubernetes.io/name=sentinel", REPLACED)
        add(
            "networks",
            "fixed backend address -> the pod's DNS name (headless Service sentinel-headless); "
            "NetworkPolicies allow-items-to-sentinel, allow-redis-to-sentinel, allow-sentinel-to-sentinel",
            REPLACED,
        )

    @staticmethod
    def _sentinel_hostnames(text: str) -> str:
        """compose's sentinel.conf with resolve-hostnames and announce-hostnames on (added at the
        top when absent, so they precede the `sentinel monitor` line the start script appends)."""
        out = text
        for directive in SENTINEL_HOSTNAME_DIRECTIVES:
            pattern = re.compile(rf"^(\s*sentinel\s+{directive}\s+)(\S+)", re.M | re.I)
            if pattern.search(out):
                out = pattern.sub(lambda m: m.group(1) + "yes", out)
            else:
                out = f"sentinel {directive} yes\n" + out
        return out

    def exporter(self, redis_port: int, auth_var: str | None) -> dict[str, Any]:
        """redis_exporter as a sidecar: compose's redis-exporter service when the monitoring profile
        defines it (env, user, limits, health path), else the lab.env pin with defaults."""
        svc = self.services.get("redis-exporter") or ComposeService("redis-exporter")
        image = svc.image or self.inputs.pins["redis-exporter"]
        split_image(image, "redis-exporter")
        env: list[dict[str, Any]] = []
        # One exporter per Redis pod (a sidecar): REDIS_ADDR is always its own pod's Redis, also
        # when compose's exporter scrapes several nodes (multi-target /scrape?target=).
        compose_env = {**svc.environment, "REDIS_ADDR": ""}
        for key, value in sorted(compose_env.items()):
            if key == "REDIS_ADDR":
                env.append({"name": key, "value": f"redis://localhost:{redis_port}"})
                self.notes.add("redis-exporter", f"environment.{key}", "Redis in the same pod: localhost")
            else:
                env.append(self.env_entry("redis-exporter", key, value))
        if auth_var and not any(e["name"] == "REDIS_PASSWORD" for e in env):
            env.append({**self.secret_ref(auth_var), "name": "REDIS_PASSWORD"})
        uid, gid = self._user(svc, "redis-exporter", 59000)
        limits = self._limits(svc, "redis-exporter") if svc else {"cpu": "500m", "memory": "64Mi"}
        requests = self.params.resources.redis_exporter.model_dump()
        self._check_requests("redis-exporter", requests, limits)
        match = HTTP_PATH.search(" ".join(str(t) for t in svc.healthcheck.get("test") or []))
        return {
            "image": image,
            "env": env,
            "port": EXPORTER_PORT,
            "uid": uid,
            "gid": gid,
            "health_path": match.group(1) if match else "/health",
            "secret_files": self.secret_files("redis-exporter", svc),
            "resources": {"requests": requests, "limits": limits},
        }

    # --- Traefik ---------------------------------------------------------------------------
    def traefik(self, web: dict[str, Any]) -> dict[str, Any]:
        flag = "--providers.file.filename"
        name, svc = next(
            ((n, s) for n, s in self.services.items() if any(c.startswith(f"{flag}=") for c in s.command)),
            ("", None),
        )
        if svc is None:
            raise LabError(f"compose has no Traefik service with a file provider ({flag})")
        _, tag = split_image(svc["image"], "traefik")
        self.traefik_service = name
        dynamic = self._traefik_dynamic(svc, svc.flag(flag, ""))
        defined = ((dynamic.get("http") or {}).get("middlewares")) or {}
        local_plugins = self._local_plugins(svc)
        middlewares, middleware_notes = self._middlewares(web, defined, local_plugins)
        services = (dynamic.get("http") or {}).get("services") or {}
        router_service = web["router_service"].partition("@")[0]
        failover = (services.get(router_service) or {}).get("failover")
        if failover:
            # Traefik's Kubernetes CRD provider allows healthCheck only on ExternalName Services,
            # so the failover switches on the main Service's 503 (errors.status) instead: with no
            # ready pod in the headless Service Traefik answers 503, and the fallback Service
            # (publishNotReadyAddresses, reached through its ClusterIP) lists every live pod.
            self.notes.add(
                "web",
                "labels.traefik...routers.items.service",
                f"{router_service} (failover {failover.get('service')} -> {failover.get('fallback')}) -> "
                "TraefikService items-<role>-failover per role: backend-<role>, on 503 "
                "backend-<role>-direct (unready pods too)",
                REPLACED,
                compose=web["router_service"],
                before=ROLE_ZONE_ROW,
            )
        transport_args = [c for c in svc.command if c.lower().startswith("--serverstransport.")]
        resources = self._resources(
            "traefik", svc, self.params.resources.traefik, note_as="traefik", what="Helm resources: "
        )
        out = {
            "tag": tag,
            "local_plugins": local_plugins,
            "failover": bool(failover),
            "failover_status": ["503"],
            "transport_args": transport_args,
            "middlewares": middlewares,
            "resources": resources,
            "dynamic_routers": sorted((dynamic.get("http") or {}).get("routers") or {}),
        }
        self._note_traefik(svc, out, middleware_notes)
        return out

    def _traefik_dynamic(self, svc: ComposeService, filename: str) -> dict[str, Any]:
        """Traefik's dynamic config (the file provider's file), read from the bind mount that holds it."""
        dynamic: dict[str, Any] = {}
        for vol in svc.volumes:
            target = vol.get("target", "")
            if vol.get("type") == "bind" and (filename == target or filename.startswith(target + "/")):
                relative = filename[len(target) :].lstrip("/")
                source = vol["source"] + ("/" + relative if relative else "")
                dynamic = yaml.safe_load(self.inputs.read_source(source)) or {}
        return dynamic

    def _note_traefik(
        self, svc: ComposeService, spec: dict[str, Any], middleware_notes: dict[str, str]
    ) -> None:
        add = functools.partial(self.notes.add, "traefik")
        self.notes.describe(svc.name, "traefik")
        add("image", f"Helm chart traefik, image tag {spec['tag']} ({NS_INGRESS})")
        plugins = "".join(
            f"; --experimental.localPlugins.{name}.moduleName={plugin['module']} rendered by the chart "
            f"(experimental.localPlugins.{name}.moduleName)"
            for name, plugin in spec["local_plugins"].items()
        )
        transport = spec["transport_args"]
        add(
            "command",
            "Helm values: entrypoints web/websecure/metrics, JSON logs, Prometheus metrics; docker provider "
            "-> kubernetesCRD"
            + (f"; {', '.join(transport)} -> additionalArguments" if transport else "")
            + plugins,
            REPLACED,
            compose="static flags",
        )
        add(
            "ports",
            "web -> Service type LoadBalancer (L4) port 80/443; "
            "dashboard port not exposed (kubectl port-forward)",
            REPLACED,
        )
        names = [m["name"] for m in spec["middlewares"]]
        dynamic = (
            f"Middleware {', '.join(names) or '-'} (in the web router's order)"
            + "".join(f"; {middleware_notes[n]}" for n in names if n in middleware_notes)
            + f"; routers {', '.join(spec['dynamic_routers']) or '-'} not exported"
        )
        for vol in svc.volumes:
            key = f"volumes:{vol.get('target', '')}"
            if key.endswith("docker.sock"):
                text = "no Docker in GKE: the kubernetesCRD provider reads the API (RBAC)"
                add(key, text, DROPPED, compose="Docker socket")
            elif self.notes.get("traefik", key) is None:  # else: the local plugins' mount
                add(key, dynamic, REPLACED, compose="dynamic config")
        add("user", "chart podSecurityContext runAsUser 65532 (no socket group)", REPLACED)
        add("healthcheck", "chart readiness/liveness probes on /ping", REPLACED)
        for key in SECURITY_KEYS:
            add(key, "chart securityContext (restricted)")
        add("networks", f"NetworkPolicies in {NS_INGRESS}", REPLACED)
        add(
            "secrets",
            "dashboard basic-auth users file: the chart's dashboard is not exposed (kubectl port-forward)",
            DROPPED,
        )

    def _middlewares(
        self, web: dict[str, Any], defined: dict[str, Any], local_plugins: dict[str, dict[str, Any]]
    ) -> tuple[list[dict[str, Any]], dict[str, str]]:
        """The web router's middlewares in chain order, as Middleware specs, and a note by name
        where one changes on the way.

        A retry of non-idempotent methods is exported only behind a middleware that stamps the
        request id the items service takes as a keyless POST's implicit key: without it a POST
        the proxy retries after a replica died mid-request can be stored twice."""
        header = web["request_id_header"]
        stamped_by = None
        out = []
        notes: dict[str, str] = {}
        for ref in web["middleware_refs"]:
            name, _, provider = ref.partition("@")
            if provider not in ("", "file"):
                raise LabError(f"web router middleware {ref!r}: only @file middlewares can be exported")
            if name not in defined:
                raise LabError(f"web router middleware {ref!r} is not defined in Traefik's dynamic config")
            spec = copy.deepcopy(defined[name])
            plugin = spec.get("plugin")
            if plugin is not None:
                # Traefik v3.7 takes exactly one plugin per middleware (pkg/server/middleware/plugins.go).
                if not isinstance(plugin, dict) or len(plugin) != 1:
                    raise LabError(f"middleware {name}: `plugin` must name exactly one plugin")
                ((plugin_name, conf),) = plugin.items()
                if plugin_name not in local_plugins:
                    raise LabError(
                        f"middleware {name} uses plugin {plugin_name!r}, which compose's Traefik does not "
                        f"load (no --experimental.localPlugins.{plugin_name}.moduleName)"
                    )
                stamps = str((conf or {}).get("header") or "")
                if header and stamps.lower() == header.lower():
                    stamped_by = name
                    notes[name] = (
                        f"Middleware {name} (plugin {plugin_name}) before the retry: every attempt of a "
                        f"request carries the {header} it stamped, the items service's key for keyless POSTs"
                    )
            retry = spec.get("retry")
            if isinstance(retry, dict) and retry.get("retryNonIdempotentMethod") and stamped_by is None:
                spec["retry"] = {k: v for k, v in retry.items() if k != "retryNonIdempotentMethod"}
                notes[name] = (
                    f"retryNonIdempotentMethod not exported: no middleware before {name} stamps "
                    f"{header or 'a request id the items service reads'}, so keyless POSTs are not "
                    "retried on the cluster (a retried one could be stored twice)"
                )
            out.append({"name": name, "spec": spec})
        return out, notes

    def _local_plugins(self, svc: ComposeService) -> dict[str, dict[str, Any]]:
        """compose's --experimental.localPlugins.<name>.moduleName flags, each with the source files
        Traefik loads for it, read from the bind mount that provides them to the container."""
        plugins: dict[str, dict[str, Any]] = {}
        workdir = svc.working_dir
        for text in svc.command:
            if not text.lower().startswith("--experimental."):
                continue
            match = LOCAL_PLUGIN_FLAG.fullmatch(text)
            if not match:
                raise LabError(
                    f"traefik: {text}: the export carries only --experimental.localPlugins.<name>.moduleName"
                )
            name, module = match.groups()
            inside = posixpath.join(workdir, LOCAL_PLUGINS_DIR, "src", module)
            mount = svc.bind_mount(inside)
            source = svc.host_path(inside)
            if mount is None or source is None:
                raise LabError(
                    f"traefik: local plugin {name}: {inside} is not in a bind mount; the export reads "
                    "the plugin's source from there"
                )
            files = self.inputs.read_tree(source)
            self._check_plugin_files(name, module, files)
            mount_path = posixpath.join(TRAEFIK_CHART_WORKDIR, LOCAL_PLUGINS_DIR, "src", module)
            plugins[name] = {
                "module": module,
                "mount_path": mount_path,
                "files": files,
                "checksum": _checksum("\0".join(f"{k}\0{v}" for k, v in sorted(files.items()))),
            }
            # Several plugins can share one bind mount (plugins-local): one note each, joined.
            self.notes.extend(
                "traefik",
                f"volumes:{mount['target']}",
                f"Helm values experimental.localPlugins.{name} (type inlinePlugin): the chart's ConfigMap "
                f"traefik-local-plugin-{name} with {', '.join(sorted(files))}, mounted read-only at "
                f"{mount_path}; pod annotation checksum/local-plugins restarts Traefik when they change",
                compose="local plugins",
            )
        return plugins

    @staticmethod
    def _check_plugin_files(name: str, module: str, files: dict[str, str]) -> None:
        """What Traefik checks when it loads a local plugin (pkg/plugins/plugins.go
        checkLocalPluginManifest), plus what one ConfigMap can hold."""
        where = f"traefik: local plugin {name} ({LOCAL_PLUGINS_DIR}/src/{module})"
        nested = sorted(f for f in files if "/" in f or not CONFIGMAP_KEY.fullmatch(f))
        if nested:
            raise LabError(
                f"{where}: {', '.join(nested)}: the plugin's ConfigMap holds one flat directory "
                "(no subdirectories such as vendor/)"
            )
        if sum(len(text.encode()) for text in files.values()) > CONFIGMAP_MAX_BYTES // 2:
            raise LabError(f"{where}: the source is too large for a ConfigMap (keep it under 512 KiB)")
        try:
            manifest = yaml.safe_load(files.get(".traefik.yml") or "") or {}
        except yaml.YAMLError:
            raise LabError(f"{where}: .traefik.yml is not valid YAML") from None
        if not isinstance(manifest, dict) or not manifest:
            raise LabError(f"{where}: no .traefik.yml manifest")
        problems = [k for k in ("displayName", "summary", "testData") if not manifest.get(k)]
        if manifest.get("type") != "middleware":
            problems.append("type middleware")
        if not str(manifest.get("import") or "").startswith(module):
            problems.append(f"import under {module}")
        if problems:
            raise LabError(f"{where}: .traefik.yml lacks {', '.join(problems)}")

    # --- NetworkPolicies -------------------------------------------------------------------
    def network_policies(
        self,
        web: dict[str, Any],
        redis: dict[str, Any],
        blackbox: dict[str, Any] | None,
        alerting: dict[str, Any] | None = None,
    ) -> list[dict[str, Any]]:
        items = {"app.kubernetes.io/name": APP}
        traefik = CHART_POD_LABELS["traefik"]
        prom = {"namespace": NS_MONITORING, "pods": CHART_POD_LABELS["prometheus"]}
        from_traefik = {"namespace": NS_INGRESS, "pods": traefik}
        entrypoints = [TRAEFIK_PORTS["web"], TRAEFIK_PORTS["websecure"]]
        policies = [_policy("default-deny-ingress", ns, {}, None, []) for ns in NAMESPACES]
        policies += [
            _policy(
                "allow-loadbalancer-to-traefik", NS_INGRESS, traefik, [{"cidr": "0.0.0.0/0"}], entrypoints
            ),
            _policy("allow-prometheus-to-traefik", NS_INGRESS, traefik, [prom], [TRAEFIK_PORTS["metrics"]]),
            _policy("allow-traefik-to-items", NS_BACKEND, items, [from_traefik], [web["port"]]),
            _policy("allow-prometheus-to-items", NS_BACKEND, items, [prom], [web["port"]]),
            _policy(
                "allow-items-to-redis",
                NS_DATA,
                redis["labels"] | {},
                [{"namespace": NS_BACKEND, "pods": items}],
                [redis["port"]],
            ),
            *self._ha_policies(redis, items),
            _policy("allow-prometheus-to-redis-exporter", NS_DATA, redis["labels"], [prom], [EXPORTER_PORT]),
            # Prometheus, Grafana, Loki, Alloy, the operator and kube-state-metrics talk among
            # themselves; nothing outside the namespace reaches Loki.
            _policy(
                "allow-within-monitoring", NS_MONITORING, {}, [{"namespace": NS_MONITORING, "pods": {}}], []
            ),
            _policy(
                "allow-traefik-to-grafana",
                NS_MONITORING,
                CHART_POD_LABELS["grafana"],
                [from_traefik],
                [GRAFANA_CONTAINER_PORT],
            ),
        ]
        if blackbox:
            exporter = {"app.kubernetes.io/name": BLACKBOX_APP}
            policies += [
                # The probes enter Traefik as clients do, on the entrypoints the routers use.
                _policy(
                    "allow-blackbox-to-traefik",
                    NS_INGRESS,
                    traefik,
                    [{"namespace": NS_MONITORING, "pods": exporter}],
                    entrypoints,
                ),
                # Also inside allow-within-monitoring; stated so the flow survives narrowing that.
                _policy("allow-prometheus-to-blackbox", NS_MONITORING, exporter, [prom], [blackbox["port"]]),
            ]
        sink = (alerting or {}).get("sink")
        if sink:
            # Only Alertmanager posts to the receiver: it is left out of allow-within-monitoring.
            within = next(p for p in policies if p["name"] == "allow-within-monitoring")
            within["exclude"] = {"app.kubernetes.io/name": [ALERT_SINK_SERVICE]}
            policies.append(
                _policy(
                    "allow-alertmanager-to-alert-sink",
                    NS_MONITORING,
                    {"app.kubernetes.io/name": ALERT_SINK_SERVICE},
                    [{"namespace": NS_MONITORING, "pods": ALERTMANAGER_POD_LABELS}],
                    [sink["port"]],
                )
            )
        for policy in policies:
            policy["pods"] = {k: policy["pods"][k] for k in sorted(policy["pods"])}
        return policies

    @staticmethod
    def _ha_policies(redis: dict[str, Any], items: dict[str, str]) -> list[dict[str, Any]]:
        """Redis HA flows: the items pods ask the Sentinels; Sentinels and nodes talk both ways
        (monitoring, failover; a starting node asks the Sentinels for the primary); Sentinels
        gossip; replicas sync from the primary. The exporter is a sidecar: localhost, no policy."""
        sentinel = redis.get("sentinel")
        if not sentinel:
            return []
        nodes, sentinels = redis["selector"], sentinel["selector"]

        def flow(
            name: str, pods: dict[str, str], src_ns: str, src: dict[str, str], port: int
        ) -> dict[str, Any]:
            return _policy(name, NS_DATA, pods, [{"namespace": src_ns, "pods": src}], [port])

        return [
            flow("allow-items-to-sentinel", sentinels, NS_BACKEND, items, sentinel["port"]),
            flow("allow-sentinel-to-redis", nodes, NS_DATA, sentinels, redis["port"]),
            flow("allow-redis-to-redis", nodes, NS_DATA, nodes, redis["port"]),
            flow("allow-redis-to-sentinel", sentinels, NS_DATA, nodes, sentinel["port"]),
            flow("allow-sentinel-to-sentinel", sentinels, NS_DATA, sentinels, sentinel["port"]),
        ]

    # --- services the charts replace or the export leaves out, and the detection services -----
    def note_stand_ins(self, label_maps: dict[str, dict[str, list[str]]]) -> None:
        """What stands in for each service of the monitoring, elk and loadtest profiles."""
        for name, (status, text) in STAND_INS.items():
            svc = self.services.get(name)
            if svc is None:
                continue
            if status != REPLACED:
                self.notes.service(name, text, status)
                continue
            self.notes.service(name, text, status, svc.profiles)
            for key in svc.set_keys:
                if key == "profiles" or key in COMMON:
                    continue
                if name == "redis-exporter" and key in SIDECAR_KEYS:
                    self.notes.add(name, key, f"sidecar `exporter`: {SIDECAR_KEYS[key]}")
                elif key == "image":
                    # helm_overrides says so when the chart cannot keep the tag.
                    kept = name in TAG_KEPT
                    text = "image tag kept" if kept else "not used: the stand-in has its own pinned image"
                    self.notes.setdefault(name, key, text, MAPPED if kept else REPLACED)
                elif key == "volumes":
                    self._note_stand_in_volumes(svc, label_maps)
                else:
                    self.notes.add(name, key, CHART_VALUES, REPLACED)

    def _note_stand_in_volumes(
        self, svc: ComposeService, label_maps: dict[str, dict[str, list[str]]]
    ) -> None:
        for vol in svc.volumes:
            key = f"volumes:{vol.get('target', '')}"
            if key.endswith("docker.sock"):
                text = "no Docker in GKE: pods and logs come from the Kubernetes API/nodes"
                self.notes.add(svc.name, key, text, DROPPED, compose="Docker socket")
            elif svc.name == "prometheus" and vol.get("type") == "bind":
                rules = f"PrometheusRule srelab-rules: {len(self.prom['groups'])} groups from "
                rules += f"{len(self.prom['rule_files'])} files"
                jobs = ", ".join(f"{k} -> {'|'.join(v)}" for k, v in sorted(label_maps["job"].items()))
                text = f"{rules}; scrape jobs -> ServiceMonitors, job {jobs}"
                self.notes.add(svc.name, key, text, REPLACED, compose="bind")
            else:
                self.notes.add(svc.name, key, "chart values / PVC of the stand-in", REPLACED)

    def note_detection(self) -> None:
        """The detection services (blackbox, alert-sink, alertmanager) key by key; blackbox and
        alerting add what only they know (Probes, routes, the sink's image)."""
        for name, (status, text) in DETECTION.items():
            svc = self.services.get(name)
            if svc is None:
                continue
            self.notes.service(name, text, status, svc.profiles)
            add = functools.partial(self.notes.setdefault, name)
            for key in svc.set_keys:
                if key == "profiles":
                    continue
                if name == "alertmanager":
                    if key == "volumes":
                        add(
                            key,
                            "alertmanager.yml -> AlertmanagerConfig srelab; storage: the chart's",
                            REPLACED,
                        )
                    elif key not in ("restart", "logging", "ports"):
                        add(key, CHART_VALUES, REPLACED)
                elif key == "image" and name == ALERT_SINK_SERVICE:
                    add(key, "the items image")
                elif key == "build":
                    add(key, "the items image, built and pushed by CI", REPLACED)
                elif key == "volumes":
                    what = (
                        "ConfigMap blackbox-exporter" if name == BLACKBOX_SERVICE else "ConfigMap alert-sink"
                    )
                    add(key, f"{what}, mounted read-only at the same path")
                elif key in DETECTION_KEYS:
                    add(key, DETECTION_KEYS[key])

    # --- Helm values overrides -------------------------------------------------------------
    def image_tag(self, service: str) -> str:
        svc = self.services.get(service)
        image = svc["image"] if svc else self.inputs.pins[service]
        return split_image(image, service)[1]

    def helm_overrides(self, traefik: dict[str, Any]) -> dict[str, dict[str, Any]]:
        p = self.params
        monitoring_pool = {POOL_LABEL: "monitoring"}
        spread = {
            "maxSkew": 1,
            "topologyKey": ZONE_TOPOLOGY,
            "whenUnsatisfiable": "DoNotSchedule",
            "labelSelector": {"matchLabels": CHART_POD_LABELS["traefik"]},
        }
        prom_tag = self.image_tag("prometheus")
        prom_spec: dict[str, Any] = {"nodeSelector": monitoring_pool}
        if prometheus_supported(prom_tag):
            prom_spec = {"image": {"tag": prom_tag}, "version": prom_tag, **prom_spec}
        else:
            self.notes.add(
                "prometheus",
                "image",
                f"not kept: {prom_tag} is older than the operator supports "
                f"(v{'.'.join(map(str, OPERATOR_MIN_PROMETHEUS))}+); the chart's default Prometheus runs",
                REPLACED,
            )
        grafana_root = ("https" if p.tls_secret else "http") + f"://{p.grafana_host}/"
        traefik_values: dict[str, Any] = {
            "image": {"tag": traefik["tag"]},
            "deployment": {"replicas": len(p.zones)},
            "resources": traefik["resources"],
            "nodeSelector": {TIER_LABEL: "backend"},
            "topologySpreadConstraints": [spread],
        }
        if traefik["transport_args"]:
            traefik_values["additionalArguments"] = traefik["transport_args"]
        if traefik["local_plugins"]:
            # inlinePlugin: the chart renders the ConfigMap, its volume and mount and the
            # --experimental.localPlugins flag in the same release as the Deployment.
            traefik_values["experimental"] = {
                "localPlugins": {
                    name: {
                        "moduleName": plugin["module"],
                        "mountPath": plugin["mount_path"],
                        "type": "inlinePlugin",
                        "source": plugin["files"],
                    }
                    for name, plugin in traefik["local_plugins"].items()
                }
            }
            # Traefik reads plugins at start only, and the chart rolls no pod on a changed ConfigMap.
            checksum = _checksum(" ".join(p["checksum"] for p in traefik["local_plugins"].values()))
            traefik_values["deployment"]["podAnnotations"] = {"checksum/local-plugins": checksum}
        return {
            "traefik": traefik_values,
            "kube-prometheus-stack": {
                "prometheus": {"prometheusSpec": prom_spec},
                "alertmanager": {"alertmanagerSpec": {"nodeSelector": monitoring_pool}},
                "prometheusOperator": {"nodeSelector": monitoring_pool},
                "kube-state-metrics": {"nodeSelector": monitoring_pool},
                "grafana": {
                    "image": {"tag": self.image_tag("grafana")},
                    "nodeSelector": monitoring_pool,
                    "admin": {"existingSecret": p.secret_name},
                    "grafana.ini": {"server": {"root_url": grafana_root}},
                },
            },
            "loki": {
                "loki": {"image": {"tag": self.image_tag("loki")}},
                "singleBinary": {"nodeSelector": monitoring_pool},
            },
            "alloy": {},
        }


def _policy(
    name: str, namespace: str, pods: dict[str, str], sources: list[dict[str, Any]] | None, ports: list[int]
) -> dict[str, Any]:
    """One NetworkPolicy as the template lays it out (`from` None: deny all ingress)."""
    return {"name": name, "namespace": namespace, "pods": pods, "from": sources, "ports": ports}


def _conf_port(conf: str, default: int) -> int:
    """The `port` directive of a redis.conf or sentinel.conf."""
    match = re.search(r"^\s*port\s+([0-9]+)", conf, re.M)
    return int(match.group(1)) if match else default


def _checksum(text: str) -> str:
    import hashlib

    return hashlib.sha256(text.encode()).hexdigest()[:16]


def build(inputs: Inputs, params: Params) -> Context:
    builder = _Builder(inputs, params)
    web = builder.web()
    redis = builder.redis()
    traefik = builder.traefik(web)
    label_maps = builder.label_maps(builder.traefik_service)
    blackbox = builder.blackbox()
    ready_rewrites = builder.ready_replicas_rewrites(web)
    groups = [translate_rule_group(g, label_maps, ready_rewrites) for g in builder.prom["groups"]]
    alerting = builder.alerting(groups, web)
    scrape = builder.scrape(label_maps)
    default_scrape = {"interval": SCRAPE_INTERVAL, "timeout": "10s"}
    helm_overrides = builder.helm_overrides(traefik)
    builder.note_stand_ins(label_maps)
    builder.note_detection()
    if TRAEFIK_JOB in scrape:
        monitor = {
            "interval": scrape[TRAEFIK_JOB]["interval"],
            "scrapeTimeout": scrape[TRAEFIK_JOB]["timeout"],
        }
        helm_overrides["traefik"].setdefault("metrics", {}).setdefault("prometheus", {})["serviceMonitor"] = (
            monitor
        )
    values = {
        "namespaces": {
            "backend": NS_BACKEND,
            "data": NS_DATA,
            "monitoring": NS_MONITORING,
            "ingress": NS_INGRESS,
        },
        "namespace_list": list(NAMESPACES),
        "web": web,
        "redis": redis,
        "traefik": traefik,
        "roles": ROLES,
        "pool_label": POOL_LABEL,
        "tier_label": TIER_LABEL,
        "zone_topology": ZONE_TOPOLOGY,
        "part_of": PART_OF,
        "scrape": {job: scrape.get(job, default_scrape) for job in (APP, REDIS_SERVICE)},
        "network_policies": builder.network_policies(web, redis, blackbox, alerting),
        "helm_overrides": helm_overrides,
        "grafana": {"service": GRAFANA_SERVICE, "port": GRAFANA_PORT},
        "dashboards": inputs.dashboards,
        "label_maps": label_maps,
        "rules": {
            "name": "srelab-rules",
            "files": builder.prom["rule_files"],
            "groups": groups,
        },
        "blackbox": blackbox,
        "alerting": alerting,
        "fallback_label": FALLBACK_LABEL,
        "job_label": JOB_LABEL,
    }
    return Context(params=params, values=values, notes=builder.notes)
