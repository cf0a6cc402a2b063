"""The conversion summary: every compose service and every key it sets, and what became of it.

Nothing is dropped silently: a key this module does not know is listed as "review" with its
value, so a new compose feature shows up in CONVERSION.md (and the CLI table) until mapped.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from rich.table import Table

from srelab.export.model import (
    LIVENESS_PATH_LABEL,
    LIVENESS_START_LABEL,
    NS_BACKEND,
    NS_DATA,
    NS_INGRESS,
    NS_MONITORING,
    Context,
)

MAPPED, REPLACED, DROPPED, NOT_EXPORTED, REVIEW = "mapped", "replaced", "dropped", "not exported", "review"

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


@dataclass(frozen=True)
class Row:
    service: str
    key: str
    compose: str
    kubernetes: str
    status: str


def _short(value: Any, limit: int = 60) -> str:
    if isinstance(value, dict):
        text = ", ".join(f"{k}={v}" if not isinstance(v, dict | list) else k for k, v in value.items())
    elif isinstance(value, list):
        text = ", ".join(
            str(v.get("target") or v.get("source") or v) if isinstance(v, dict) else str(v) for v in value
        )
    else:
        text = str(value)
    text = text.replace("|", "\\|").replace("\n", " ")
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _kv(mapping: dict[str, Any]) -> str:
    return ", ".join(f"{k} {v}" for k, v in mapping.items())


def _limits(deploy: dict[str, Any]) -> str:
    limits = (deploy.get("resources") or {}).get("limits") or {}
    return _kv(limits) or "none"


def _redact(value: Any, secrets: dict[str, str]) -> Any:
    if isinstance(value, dict):
        return {k: _redact(v, secrets) for k, v in value.items()}
    if isinstance(value, list):
        return [_redact(v, secrets) for v in value]
    if isinstance(value, str) and value in secrets:
        return f"${{{secrets[value]}}}"
    return value


def _relative(value: Any, base: str) -> Any:
    """Absolute paths under the repository, shown relative (the summary must not vary by checkout)."""
    if not base:
        return value
    if isinstance(value, dict):
        return {k: _relative(v, base) for k, v in value.items()}
    if isinstance(value, list):
        return [_relative(v, base) for v in value]
    if isinstance(value, str) and value.startswith(base.rstrip("/") + "/"):
        return value[len(base.rstrip("/")) + 1 :]
    return value


def _web_rows(name: str, svc: dict[str, Any], ctx: Context) -> list[Row]:
    v = ctx.values
    web = v["web"]
    p = ctx.params
    notes = ctx.notes.get("web", {})
    rows = []
    for key, value in svc.items():
        if value in (None, [], {}, ""):
            continue
        shown = _short(value)
        if key == "image":
            rows.append(Row(name, key, shown, f"{web['image']} (pushed by k8s-image.yml)", MAPPED))
        elif key == "build":
            rows.append(
                Row(
                    name,
                    key,
                    shown,
                    "built and pushed to Artifact Registry on a tag (.github/workflows/k8s-image.yml)",
                    REPLACED,
                )
            )
        elif key == "environment":
            for var in sorted(value):
                what = notes.get(f"environment.{var}", "literal env value")
                shown_var = _short(value[var], 30)
                if "," in name and what.startswith(("pod name", "GCP zone")):
                    shown_var += " (per replica)"
                rows.append(Row(name, f"environment.{var}", shown_var, what, MAPPED))
        elif key == "labels":
            rows.append(
                Row(
                    name,
                    key,
                    "traefik.* router/service labels",
                    f"IngressRoute items (GET -> backend-read, POST -> backend-write, host "
                    f"{p.items_host}); healthcheck path/interval/timeout -> readinessProbe (the "
                    "startupProbe's cadence too)",
                    REPLACED,
                )
            )
            # The liveness contract: one row per label, with what the builder made of it.
            for label, note in (
                (LIVENESS_PATH_LABEL, "liveness.path"),
                (LIVENESS_START_LABEL, "liveness.start"),
            ):
                if label in value and note in notes:
                    rows.append(Row(name, f"labels.{label}", _short(value[label]), notes[note], MAPPED))
            if "router.service" in notes:
                rows.append(
                    Row(
                        name,
                        "labels.traefik...routers.items.service",
                        web["router_service"],
                        notes["router.service"],
                        REPLACED,
                    )
                )
            rows.append(
                Row(
                    name,
                    "labels.srelab.role/zone",
                    "srelab.role, srelab.zone",
                    "pod labels app.kubernetes.io/component, srelab.io/zone",
                    MAPPED,
                )
            )
        elif key == "healthcheck":
            # Without the liveness labels the healthcheck's path is the one used: say how.
            labels = svc.get("labels") or {}
            timing = [
                notes[note]
                for note, label in (
                    ("liveness.path", LIVENESS_PATH_LABEL),
                    ("liveness.start", LIVENESS_START_LABEL),
                )
                if note in notes and label not in labels
            ]
            what = "; ".join([notes.get("healthcheck", "startupProbe + livenessProbe"), *timing])
            rows.append(Row(name, key, shown, what, MAPPED))
        elif key == "deploy":
            rows.append(
                Row(
                    name,
                    "deploy.resources.limits",
                    _limits(value),
                    f"limits {_kv(web['resources']['limits'])}; requests "
                    f"{_kv(web['resources']['requests'])} from params",
                    MAPPED,
                )
            )
        elif key == "stop_grace_period":
            rows.append(
                Row(
                    name,
                    key,
                    shown,
                    f"terminationGracePeriodSeconds {web['grace']} (incl. {web['prestop']} s preStop sleep)",
                    MAPPED,
                )
            )
        elif key == "tmpfs":
            rows.append(Row(name, key, shown, f"emptyDir medium Memory at {web['tmp']['path']}", MAPPED))
        elif key == "read_only":
            rows.append(Row(name, key, shown, "readOnlyRootFilesystem: true", MAPPED))
        elif key == "cap_drop":
            rows.append(Row(name, key, shown, "capabilities.drop [ALL]", MAPPED))
        elif key == "security_opt":
            rows.append(
                Row(name, key, shown, "allowPrivilegeEscalation: false, seccomp RuntimeDefault", MAPPED)
            )
        elif key == "hostname":
            rows.append(Row(name, key, shown, "pod name (REPLICA comes from it)", DROPPED))
        elif key == "networks":
            rows.append(
                Row(
                    name,
                    key,
                    shown,
                    f"NetworkPolicies in {NS_BACKEND}; alias `web` -> ServiceMonitor items",
                    REPLACED,
                )
            )
        else:
            rows.extend(_common(name, key, value, ctx))
    return rows


def _common(name: str, key: str, value: Any, ctx: Context) -> list[Row]:
    shown = _short(value)
    if key == "restart":
        return [Row(name, key, shown, "restartPolicy Always (implicit in Deployments/StatefulSets)", DROPPED)]
    if key == "logging":
        return [Row(name, key, shown, "kubelet keeps container stdout; Alloy ships it to Loki", DROPPED)]
    if key == "depends_on":
        return [
            Row(name, key, shown, "no start order in Kubernetes: readiness gates traffic instead", DROPPED)
        ]
    if key == "ports":
        return [
            Row(name, key, shown, "no host ports: the Traefik LoadBalancer Service is the entry", DROPPED)
        ]
    if key == "secrets":
        owner = "web" if "," in name else name
        notes = ctx.notes.get(owner, {})
        rows = []
        for entry in value:
            secret = str(entry.get("source") if isinstance(entry, dict) else entry)
            what = notes.get(f"secrets.{secret}", "no Kubernetes mapping known: review")
            rows.append(
                Row(name, f"secrets.{secret}", "file", what, MAPPED if secret in str(what) else REVIEW)
            )
        return rows
    return [Row(name, key, shown, "no Kubernetes mapping known: review", REVIEW)]


def _redis_rows(name: str, svc: dict[str, Any], ctx: Context) -> list[Row]:
    r = ctx.values["redis"]
    notes = ctx.notes.get(name, {})
    rows = []
    for key, value in svc.items():
        if value in (None, [], {}, ""):
            continue
        shown = _short(value)
        if key == "image":
            what = f"StatefulSet redis ({NS_DATA})"
            if r["ha"]:
                what += f", {r['replicas']} pods: {notes.get('topology', '')}"
            rows.append(Row(name, key, shown, what, MAPPED))
        elif key == "command":
            rows.append(Row(name, key, shown, notes.get("command", "container args"), MAPPED))
        elif key == "entrypoint":
            rows.append(
                Row(
                    name,
                    key,
                    shown,
                    "container command (the start script from ConfigMap redis-config)",
                    MAPPED,
                )
            )
        elif key == "hostname":
            rows.append(Row(name, key, shown, "pod name redis-<n> (StatefulSet ordinal)", REPLACED))
        elif key == "labels":
            rows.append(
                Row(
                    name,
                    key,
                    shown,
                    "pod label app.kubernetes.io/name=redis; zones: topologySpreadConstraints "
                    "(one pod per zone)"
                    if r["ha"]
                    else "pod label app.kubernetes.io/name=redis",
                    REPLACED,
                )
            )
        elif key == "environment":
            for var in sorted(value):
                rows.append(
                    Row(
                        name,
                        f"environment.{var}",
                        _short(value[var], 30),
                        notes.get(f"environment.{var}", "literal env value"),
                        MAPPED,
                    )
                )
        elif key == "user":
            rows.append(Row(name, key, shown, f"runAsUser {r['uid']}, runAsGroup/fsGroup {r['gid']}", MAPPED))
        elif key == "volumes":
            for vol in value:
                if vol.get("type") == "bind":
                    rows.append(
                        Row(
                            name,
                            f"volumes:{vol['target']}",
                            "bind mount",
                            "ConfigMap redis-config (subPath), checksum rolls the pod",
                            MAPPED,
                        )
                    )
                else:
                    rows.append(
                        Row(
                            name,
                            f"volumes:{vol['target']}",
                            f"volume {vol.get('source')}",
                            f"volumeClaimTemplate data, {r['storage']} {r['storage_class']}",
                            MAPPED,
                        )
                    )
        elif key == "healthcheck":
            rows.append(
                Row(
                    name,
                    key,
                    shown,
                    "startupProbe + readinessProbe (same command); liveness tcpSocket",
                    MAPPED,
                )
            )
        elif key == "deploy":
            rows.append(
                Row(
                    name,
                    "deploy.resources.limits",
                    _limits(value),
                    f"limits {_kv(r['resources']['limits'])}; requests "
                    f"{_kv(r['resources']['requests'])} from params",
                    MAPPED,
                )
            )
        elif key in ("read_only", "cap_drop", "security_opt"):
            rows.append(Row(name, key, shown, "restricted securityContext", MAPPED))
        elif key == "tmpfs":
            rows.append(
                Row(name, key, shown, "emptyDir at /tmp (the start script's copy of redis.conf)", MAPPED)
            )
        elif key == "networks":
            what = f"NetworkPolicy allow-items-to-redis ({NS_DATA})"
            if r["ha"]:
                what = (
                    "fixed backend address -> the pod's DNS name <pod>.redis.data.svc.cluster.local "
                    "(headless Service redis, publishNotReadyAddresses); NetworkPolicies "
                    "allow-items-to-redis, allow-sentinel-to-redis, allow-redis-to-redis"
                )
            rows.append(Row(name, key, shown, what, REPLACED))
        else:
            rows.extend(_common(name, key, value, ctx))
    return rows


def _member_rows(name: str, svc: dict[str, Any], ctx: Context, role: str) -> list[Row]:
    """An HA node or Sentinel beyond the first: a pod of the same StatefulSet."""
    r = ctx.values["redis"]
    if role == "redis":
        pod = next((m["pod"] for m in r["members"] if m["compose"] == name), "redis-<n>")
        text = (
            f"pod {pod} of StatefulSet redis: same template as `redis` (rows above); its own hostname, "
            f"address and volume become the pod name, its DNS name and PVC data-{pod}"
        )
    else:
        text = (
            "a pod of StatefulSet sentinel: same template as the first Sentinel (rows above); its "
            "own name and address become the pod name and its DNS name"
        )
    keys = ", ".join(k for k, v in svc.items() if v not in (None, [], {}, ""))
    return [Row(name, "(service)", f"keys: {keys}", text, MAPPED)]


def _sentinel_rows(name: str, svc: dict[str, Any], ctx: Context) -> list[Row]:
    sentinel = ctx.values["redis"]["sentinel"]
    notes = ctx.notes.get("sentinel", {})
    rows = []
    for key, value in svc.items():
        if value in (None, [], {}, ""):
            continue
        shown = _short(value)
        if key == "image":
            rows.append(
                Row(
                    name, key, shown, f"StatefulSet sentinel ({NS_DATA}): {notes.get('topology', '')}", MAPPED
                )
            )
        elif key == "entrypoint":
            rows.append(
                Row(
                    name,
                    key,
                    shown,
                    "container command (the start script from ConfigMap sentinel-config)",
                    MAPPED,
                )
            )
        elif key == "environment":
            for var in sorted(value):
                rows.append(
                    Row(
                        name,
                        f"environment.{var}",
                        _short(value[var], 30),
                        notes.get(f"environment.{var}", "literal env value"),
                        MAPPED,
                    )
                )
        elif key == "volumes":
            for vol in value:
                what = "ConfigMap sentinel-config (subPath)"
                if str(vol.get("target", "")).endswith(".conf"):
                    what += "; " + "; ".join(v for k, v in sorted(notes.items()) if k.startswith("config."))
                rows.append(Row(name, f"volumes:{vol.get('target')}", "bind mount", what, MAPPED))
        elif key == "tmpfs":
            rows.append(
                Row(
                    name,
                    key,
                    shown,
                    f"emptyDir medium Memory at {sentinel['tmp']['path']}: Sentinel's rewritten config, "
                    "its state, is not kept (a restarted Sentinel learns it from its peers)",
                    MAPPED,
                )
            )
        elif key == "healthcheck":
            rows.append(
                Row(
                    name,
                    key,
                    shown,
                    "startupProbe + readinessProbe (same command); liveness tcpSocket",
                    MAPPED,
                )
            )
        elif key == "user":
            rows.append(
                Row(
                    name,
                    key,
                    shown,
                    f"runAsUser {sentinel['uid']}, runAsGroup/fsGroup {sentinel['gid']}",
                    MAPPED,
                )
            )
        elif key == "deploy":
            rows.append(
                Row(
                    name,
                    "deploy.resources.limits",
                    _limits(value),
                    f"limits {_kv(sentinel['resources']['limits'])}; requests "
                    f"{_kv(sentinel['resources']['requests'])} from params",
                    MAPPED,
                )
            )
        elif key in ("read_only", "cap_drop", "security_opt"):
            rows.append(Row(name, key, shown, "restricted securityContext", MAPPED))
        elif key == "secrets":
            for entry in value:
                secret = str(entry.get("source") if isinstance(entry, dict) else entry)
                what = notes.get(f"secrets.{secret}", "no Kubernetes mapping known: review")
                rows.append(
                    Row(name, f"secrets.{secret}", "file", what, MAPPED if secret in what else REVIEW)
                )
        elif key in ("hostname", "labels"):
            rows.append(
                Row(
                    name, key, shown, "pod name sentinel-<n>, label app.kubernetes.io/name=sentinel", REPLACED
                )
            )
        elif key == "networks":
            rows.append(
                Row(
                    name,
                    key,
                    shown,
                    "fixed backend address -> the pod's DNS name (headless Service sentinel-headless); "
                    "NetworkPolicies allow-items-to-sentinel, allow-redis-to-sentinel, "
                    "allow-sentinel-to-sentinel",
                    REPLACED,
                )
            )
        else:
            rows.extend(_common(name, key, value, ctx))
    return rows


def _traefik_rows(name: str, svc: dict[str, Any], ctx: Context) -> list[Row]:
    t = ctx.values["traefik"]
    notes = ctx.notes.get("traefik", {})
    rows = []
    for key, value in svc.items():
        if value in (None, [], {}, ""):
            continue
        shown = _short(value)
        if key == "image":
            rows.append(
                Row(name, key, shown, f"Helm chart traefik, image tag {t['tag']} ({NS_INGRESS})", MAPPED)
            )
        elif key == "command":
            rows.append(
                Row(
                    name,
                    key,
                    "static flags",
                    "Helm values: entrypoints web/websecure/metrics, "
                    "JSON logs, Prometheus metrics; docker provider -> kubernetesCRD"
                    + (
                        f"; {', '.join(t['transport_args'])} -> additionalArguments"
                        if t["transport_args"]
                        else ""
                    )
                    + (f"; {notes['command.localPlugins']}" if "command.localPlugins" in notes else ""),
                    REPLACED,
                )
            )
        elif key == "ports":
            rows.append(
                Row(
                    name,
                    key,
                    shown,
                    "web -> Service type LoadBalancer (L4) port 80/443; "
                    "dashboard port not exposed (kubectl port-forward)",
                    REPLACED,
                )
            )
        elif key == "volumes":
            for vol in value:
                target = vol.get("target", "")
                if target.endswith("docker.sock"):
                    rows.append(
                        Row(
                            name,
                            f"volumes:{target}",
                            "Docker socket",
                            "no Docker in GKE: the kubernetesCRD provider reads the API (RBAC)",
                            DROPPED,
                        )
                    )
                elif f"volumes:{target}" in notes:
                    rows.append(
                        Row(name, f"volumes:{target}", "local plugins", notes[f"volumes:{target}"], MAPPED)
                    )
                else:
                    middleware_notes = [
                        notes[f"middleware.{m['name']}"]
                        for m in t["middlewares"]
                        if f"middleware.{m['name']}" in notes
                    ]
                    rows.append(
                        Row(
                            name,
                            f"volumes:{target}",
                            "dynamic config",
                            f"Middleware {', '.join(m['name'] for m in t['middlewares']) or '-'} "
                            "(in the web router's order)"
                            + "".join(f"; {n}" for n in middleware_notes)
                            + f"; routers {', '.join(t['dynamic_routers']) or '-'} not exported",
                            REPLACED,
                        )
                    )
        elif key == "user":
            rows.append(
                Row(name, key, shown, "chart podSecurityContext runAsUser 65532 (no socket group)", REPLACED)
            )
        elif key == "healthcheck":
            rows.append(Row(name, key, shown, "chart readiness/liveness probes on /ping", REPLACED))
        elif key == "deploy":
            rows.append(
                Row(
                    name,
                    "deploy.resources.limits",
                    _limits(value),
                    f"Helm resources: limits {_kv(t['resources']['limits'])}; requests "
                    f"{_kv(t['resources']['requests'])} from params",
                    MAPPED,
                )
            )
        elif key in ("read_only", "cap_drop", "security_opt"):
            rows.append(Row(name, key, shown, "chart securityContext (restricted)", MAPPED))
        elif key == "networks":
            rows.append(Row(name, key, shown, f"NetworkPolicies in {NS_INGRESS}", REPLACED))
        elif key == "secrets":
            rows.append(
                Row(
                    name,
                    key,
                    shown,
                    "dashboard basic-auth users file: the chart's dashboard is not exposed "
                    "(kubectl port-forward)",
                    DROPPED,
                )
            )
        else:
            rows.extend(_common(name, key, value, ctx))
    return rows


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


def _stand_in_rows(name: str, svc: dict[str, Any], ctx: Context) -> list[Row]:
    text = STAND_INS[name][1]
    profiles = ", ".join(svc.get("profiles") or ["core"])
    rows = [Row(name, "(service)", f"profiles: {profiles}", text, REPLACED)]
    for key, value in svc.items():
        if value in (None, [], {}, "") or key == "profiles":
            continue
        shown = _short(value)
        if name == "redis-exporter" and key in SIDECAR_KEYS:
            rows.append(Row(name, key, shown, f"sidecar `exporter`: {SIDECAR_KEYS[key]}", MAPPED))
        elif key == "image":
            not_kept = ctx.notes.get(name, {}).get("image")
            if not_kept:
                rows.append(Row(name, key, shown, not_kept, REPLACED))
                continue
            kept = "image tag kept" if name in TAG_KEPT else "not used: the stand-in has its own pinned image"
            rows.append(Row(name, key, shown, kept, MAPPED if name in TAG_KEPT else REPLACED))
        elif key == "volumes":
            for vol in value:
                target = vol.get("target", "")
                if target.endswith("docker.sock"):
                    rows.append(
                        Row(
                            name,
                            f"volumes:{target}",
                            "Docker socket",
                            "no Docker in GKE: pods and logs come from the Kubernetes API/nodes",
                            DROPPED,
                        )
                    )
                elif name == "prometheus" and vol.get("type") == "bind":
                    jobs = ctx.values["label_maps"]["job"]
                    rows.append(
                        Row(
                            name,
                            f"volumes:{target}",
                            "bind",
                            ctx.notes.get(name, {}).get("rules", "no rule files")
                            + "; scrape jobs -> ServiceMonitors, job "
                            + ", ".join(f"{k} -> {'|'.join(v)}" for k, v in sorted(jobs.items())),
                            REPLACED,
                        )
                    )
                else:
                    rows.append(
                        Row(
                            name,
                            f"volumes:{target}",
                            vol.get("type", "volume"),
                            "chart values / PVC of the stand-in",
                            REPLACED,
                        )
                    )
        elif key in ("restart", "logging", "depends_on", "ports"):
            rows.extend(_common(name, key, value, ctx))
        else:
            rows.append(Row(name, key, shown, "chart values of the stand-in", REPLACED))
    return rows


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


def _detection_rows(name: str, svc: dict[str, Any], ctx: Context) -> list[Row]:
    status, text = DETECTION[name]
    notes = ctx.notes.get(name, {})
    rows = [Row(name, "(service)", f"profiles: {', '.join(svc.get('profiles') or ['core'])}", text, status)]
    for key, value in svc.items():
        if value in (None, [], {}, "") or key == "profiles":
            continue
        shown = _short(value)
        if name == "alertmanager" and key not in ("restart", "logging", "ports", "volumes"):
            rows.append(Row(name, key, shown, "chart values of the stand-in", REPLACED))
        elif name == "alertmanager" and key == "volumes":
            route = notes.get("route", "AlertmanagerConfig srelab")
            rows.append(Row(name, key, shown, f"alertmanager.yml -> {route}; storage: the chart's", REPLACED))
        elif key == "image" and name == "alert-sink":
            rows.append(Row(name, key, shown, notes.get("image", "the items image"), MAPPED))
        elif key == "build":
            rows.append(Row(name, key, shown, "the items image, built and pushed by CI", REPLACED))
        elif key == "volumes":
            what = "ConfigMap blackbox-exporter" if name == "blackbox" else "ConfigMap alert-sink"
            rows.append(Row(name, key, shown, f"{what}, mounted read-only at the same path", MAPPED))
        elif key in DETECTION_KEYS:
            rows.append(Row(name, key, shown, DETECTION_KEYS[key], MAPPED))
        else:
            rows.extend(_common(name, key, value, ctx))
    for key, note in sorted(notes.items()):
        if key not in ("image", "route"):
            rows.append(Row(name, key, "", note, MAPPED))
    return rows


def conversion_rows(
    services: dict[str, dict[str, Any]], ctx: Context, secrets: dict[str, str], base: str = ""
) -> list[Row]:
    """Rows for every compose service; the identical web replicas share one set of rows."""
    web_names = set(ctx.values["web"]["compose_services"])
    traefik_names = {
        n
        for n, s in services.items()
        if any(str(c).startswith("--providers.file.filename=") for c in s.get("command") or [])
    }
    redis = ctx.values["redis"]
    nodes = [m["compose"] for m in redis["members"]]
    sentinels = sorted(
        n for n, svc in services.items() if (svc.get("labels") or {}).get("srelab.role") == "sentinel"
    )
    rows: list[Row] = []
    webs = sorted(web_names)
    rows.extend(_web_rows(", ".join(webs), _relative(_redact(services[webs[0]], secrets), base), ctx))
    for name in sorted(services):
        svc = _relative(_redact(services[name], secrets), base)
        if name in web_names:
            continue
        elif name == "redis":
            rows.extend(_redis_rows(name, svc, ctx))
        elif name in nodes:
            rows.extend(_member_rows(name, svc, ctx, "redis"))
        elif redis["sentinel"] and sentinels and name == sentinels[0]:
            rows.extend(_sentinel_rows(name, svc, ctx))
        elif redis["sentinel"] and name in sentinels:
            rows.extend(_member_rows(name, svc, ctx, "sentinel"))
        elif name in traefik_names:
            rows.extend(_traefik_rows(name, svc, ctx))
        elif name in DETECTION:
            rows.extend(_detection_rows(name, svc, ctx))
        elif name in STAND_INS and STAND_INS[name][0] == REPLACED:
            rows.extend(_stand_in_rows(name, svc, ctx))
        else:
            status, text = STAND_INS.get(name, (REVIEW, "unknown service: not exported, review"))
            keys = ", ".join(k for k, v in svc.items() if v not in (None, [], {}, ""))
            rows.append(Row(name, "(service)", f"keys: {keys}", text, status))
    return rows


def markdown(rows: list[Row], ctx: Context, secret_keys: dict[str, list[str]], charts: list[dict]) -> str:
    p = ctx.params
    lines = [
        "# Compose -> GKE conversion",
        "",
        "Rendered by `srelab export k8s` from the compose model and `k8s-export/params.yaml`. Every "
        "compose key is listed: `mapped` (same meaning), `replaced` (another mechanism does the job), "
        "`dropped` (no Kubernetes meaning), `not exported` (profile left out), `review` (unknown).",
        "",
        f"- Kubernetes schema: v{p.kubernetes_version}; region {p.gcp.region}; zones "
        + ", ".join(f"{k} -> {z}" for k, z in p.zones.items()),
        f"- Hosts: items `{p.items_host}`, Grafana `{p.grafana_host}`"
        + (f" (TLS secret `{p.tls_secret}`)" if p.tls_secret else " (plain HTTP; set tls_secret for TLS)"),
        f"- Images: items `{ctx.values['web']['image']}`",
        "",
        "## Secrets to create (`create-secrets.sh`, from repository secrets in CI)",
        "",
        "| namespace | Secret | keys |",
        "|---|---|---|",
    ]
    for ns, keys in secret_keys.items():
        lines.append(f"| {ns} | {p.secret_name} | {', '.join(keys)} |")
    lines += [
        "",
        "## Helm charts (`helm/install.sh`)",
        "",
        "| chart | version | namespace |",
        "|---|---|---|",
    ]
    for c in charts:
        lines.append(f"| {c['chart']} | {c['version']} | {c['namespace']} |")
    lines += _redis_ha_notes(ctx)
    lines += _detection_notes(ctx)
    lines += [
        "",
        "## Compose features",
        "",
        "| service | compose key | compose | Kubernetes | status |",
        "|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(f"| {r.service} | {r.key} | {r.compose} | {r.kubernetes} | {r.status} |")
    return "\n".join(lines) + "\n"


def _redis_ha_notes(ctx: Context) -> list[str]:
    """What changed from compose's Redis HA topology, and why."""
    r = ctx.values["redis"]
    s = r["sentinel"]
    if not r["ha"] or not s:
        return []
    pods = ", ".join(m["pod"] for m in r["members"])
    return [
        "",
        "## Redis high availability (LAB_REDIS_TOPOLOGY=ha)",
        "",
        f"- Nodes: StatefulSet `redis` ({pods}; compose "
        f"{', '.join(m['compose'] for m in r['members'])}), Sentinels: StatefulSet `sentinel` "
        f"({s['replicas']} pods), both in `{NS_DATA}` on the data pool, one pod of each per zone "
        "(topologySpreadConstraints on topology.kubernetes.io/zone, DoNotSchedule, minDomains). Each "
        "node keeps its AOF on its own PVC (data-redis-<n>); a zonal disk keeps its pod in that zone.",
        "- Addresses: compose gives nodes and Sentinels fixed backend addresses because Docker's DNS on "
        "an internal network takes 20 s to fail for a stopped container. On the cluster every pod has "
        "a stable DNS name (headless Services `redis` and `sentinel-headless`, publishNotReadyAddresses: "
        "a pod is named as soon as it has an address); the compose addresses in the environment "
        f"become those names (e.g. `{r['members'][0]['dns']}`), and sentinel.conf turns on "
        "`sentinel resolve-hostnames yes` and `sentinel announce-hostnames yes` (Sentinel 6.2+), so "
        "nodes announce (replica-announce-ip) and Sentinels report names, not pod IPs that change on "
        "every restart.",
        "- Start logic: compose's own scripts (ConfigMaps redis-config and sentinel-config): a node asks "
        "the Sentinels for the primary, else pod 0 is primary; masteruser/masterauth from the Secret "
        "file; min-replicas-to-write 1, min-replicas-max-lag 3. All pods start at once "
        "(podManagementPolicy Parallel); a Sentinel started before pod 0 has a name exits "
        "(it cannot resolve the monitored host) and is restarted.",
        "- Sentinel state: compose's tmpfs -> an emptyDir (medium Memory). Sentinel rewrites its copy of "
        "the config there; it is not kept across restarts, a restarted Sentinel learns the current "
        "epoch and primary from its peers.",
        "- Probes: readiness = compose's healthcheck (primary, or replica with its link up); startup and "
        "liveness are TCP only, so a replica that cannot reach a primary is unready, never restarted.",
        "- Disruption: PodDisruptionBudget redis maxUnavailable 1, sentinel minAvailable "
        f"{s['min_available']}.",
        "- NetworkPolicies: items -> sentinel:26379 and redis:6379; sentinel <-> redis; sentinel <-> "
        "sentinel; redis <-> redis (replication); Prometheus -> each pod's exporter. The exporter is a "
        "sidecar of every node (REDIS_ADDR localhost): compose's one multi-target exporter becomes one "
        "exporter per pod, scraped by ServiceMonitor redis (`instance` = the pod name).",
        "- The items Deployments: REDIS_SENTINELS lists the three Sentinel pod names (compose lists the "
        "three addresses); REDIS_MASTER_NAME, REDIS_MIN_REPLICA_ACKS, REDIS_WAIT_TIMEOUT_MS and "
        "REDIS_SENTINEL_PASSWORD_FILE as in compose.",
    ]


def _detection_notes(ctx: Context) -> list[str]:
    """What the alert and SLO rules read on the cluster, and where that differs from compose."""
    if not ctx.values.get("alerting") and not ctx.values.get("blackbox"):
        return []
    entry = ctx.values["label_maps"].get("entrypoint", {}).get("web", ["web"])[0]
    lines = [
        "",
        "## Detection: rules on the cluster",
        "",
        "- `job` matchers: compose job -> the cluster's job ("
        + ", ".join(f"{k} -> {'|'.join(v)}" for k, v in sorted(ctx.values["label_maps"]["job"].items()))
        + "); the Probes set `job` with `spec.jobName: blackbox` and keep compose's `module` label.",
        '- `traefik_service_server_up{service="items@docker"}` -> `kube_deployment_status_replicas_ready` '
        "of the items Deployments: Traefik's CRD provider has no health checks, so on the cluster that "
        "series does not exist; the sum of ready pods is what the sum of up servers counts on compose "
        "(the pods' readinessProbe is Traefik's readiness check there). kube-state-metrics refreshes it "
        "from the API and is scraped at Prometheus' scrapeInterval (its ServiceMonitor sets none), so "
        "NoReplicaReady can fire up to one such interval later than on compose.",
        f'- `entrypoint="web"` -> `entrypoint="{entry}"`, the entrypoint the items routers listen on. '
        f"Differs: Grafana (`{ctx.params.grafana_host}`) is routed on the same entrypoint, so the SLO "
        "ratios (rules/slo.yml) count its requests too; Traefik's entrypoint metrics have no host label "
        "to leave them out.",
        "- Differs: thresholds written for compose's 3 web replicas (WebReplicasMissing: fewer than 3 "
        "scraped) count items pods there, at least one READ and one WRITE per zone (HPA-scaled), so "
        "they fire later; review them when the zones or HPA bounds change.",
        "- Alertmanager: AlertmanagerConfig `srelab` routes every alert of the PrometheusRule by name to "
        "compose's webhook receiver (`alert-sink`); the chart's own alerts keep the chart's routing. "
        "- Cadence: rule groups keep compose's intervals, and the items, Redis and Traefik ServiceMonitors "
        "and the Probes compose's scrape intervals, so the 10 s rate windows and `detection_delay_s` hold "
        "(kube-state-metrics: Prometheus' scrapeInterval, the chart's ServiceMonitor sets none).",
    ]
    return lines


def table(rows: list[Row], everything: bool = False) -> Table:
    """What did not carry over as is (replaced, dropped, not exported, review); `everything` adds
    the one-to-one mappings, which CONVERSION.md always lists."""
    colours = {MAPPED: "green", REPLACED: "cyan", DROPPED: "yellow", NOT_EXPORTED: "dim", REVIEW: "bold red"}
    shown = rows if everything else [r for r in rows if r.status != MAPPED]
    mapped = len(rows) - len(shown)
    out = Table(
        title="compose -> GKE conversion",
        caption=f"{mapped} more compose keys mapped one to one: see CONVERSION.md" if mapped else None,
    )
    out.add_column("service", overflow="fold", ratio=2)
    out.add_column("compose key", overflow="fold", ratio=3)
    out.add_column("Kubernetes", overflow="fold", ratio=6)
    out.add_column("status", no_wrap=True)
    for r in shown:
        out.add_row(
            r.service,
            r.key,
            r.kubernetes.replace("\\|", "|"),
            f"[{colours.get(r.status, 'white')}]{r.status}[/]",
        )
    return out
