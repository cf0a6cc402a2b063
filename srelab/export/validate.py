"""Checks on rendered manifests: Kubernetes schemas (strict) and the design's invariants.

Every function returns a list of problems (empty = fine), so the CLI can refuse to write a bad
export and the tests can show each check catching a broken manifest.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from functools import lru_cache
from typing import Any

import jsonschema
import kubernetes_validate
from kubernetes_validate import utils as kv_utils
from referencing import Registry, Resource

from srelab.export.model import CHART_POD_LABELS, NS_INGRESS, NS_MONITORING, ROLES

Obj = dict[str, Any]
DNS1123_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
DNS1123_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
WORKLOAD_KINDS = ("Deployment", "StatefulSet", "DaemonSet")
TRAEFIK_MIDDLEWARES = {
    "addPrefix",
    "basicAuth",
    "buffering",
    "chain",
    "circuitBreaker",
    "compress",
    "contentType",
    "digestAuth",
    "errors",
    "forwardAuth",
    "grpcWeb",
    "headers",
    "ipAllowList",
    "inFlightReq",
    "passTLSClientCert",
    "plugin",
    "rateLimit",
    "redirectRegex",
    "redirectScheme",
    "replacePath",
    "replacePathRegex",
    "retry",
    "stripPrefix",
    "stripPrefixRegex",
}
# Pods the Helm charts run, for the NetworkPolicy coverage check.
CHART_PODS = [
    (NS_INGRESS, CHART_POD_LABELS["traefik"]),
    (NS_MONITORING, CHART_POD_LABELS["prometheus"]),
    (NS_MONITORING, CHART_POD_LABELS["grafana"]),
    (NS_MONITORING, CHART_POD_LABELS["loki"]),
]


def _name(obj: Obj) -> str:
    meta = obj.get("metadata") or {}
    return f"{obj.get('kind')}/{meta.get('namespace', '-')}/{meta.get('name')}"


def of_kind(objects: Iterable[Obj], kind: str) -> list[Obj]:
    return [o for o in objects if o.get("kind") == kind]


def selector_matches(selector: Obj | None, labels: dict[str, str]) -> bool:
    """A LabelSelector (matchLabels + matchExpressions) against a label set; {} matches all."""
    selector = selector or {}
    for key, value in (selector.get("matchLabels") or {}).items():
        if labels.get(key) != value:
            return False
    for expr in selector.get("matchExpressions") or []:
        key, op, values = expr["key"], expr["operator"], expr.get("values") or []
        if op == "In" and labels.get(key) not in values:
            return False
        if op == "NotIn" and labels.get(key) in values:
            return False
        if op == "Exists" and key not in labels:
            return False
        if op == "DoesNotExist" and key in labels:
            return False
    return True


def pod_template(obj: Obj) -> Obj:
    return ((obj.get("spec") or {}).get("template")) or {}


def pod_labels(obj: Obj) -> dict[str, str]:
    return (pod_template(obj).get("metadata") or {}).get("labels") or {}


def containers(obj: Obj) -> list[Obj]:
    spec = pod_template(obj).get("spec") or {}
    return list(spec.get("containers") or []) + list(spec.get("initContainers") or [])


# --- schemas ----------------------------------------------------------------------------------
def _crd_ingressroute(obj: Obj) -> list[str]:
    out = []
    spec = obj.get("spec") or {}
    if set(spec) - {"entryPoints", "routes", "tls", "parentRefs"}:
        out.append(f"unknown spec fields {sorted(set(spec) - {'entryPoints', 'routes', 'tls'})}")
    if not isinstance(spec.get("entryPoints"), list) or not spec["entryPoints"]:
        out.append("spec.entryPoints must be a non-empty list")
    routes = spec.get("routes")
    if not isinstance(routes, list) or not routes:
        return [*out, "spec.routes must be a non-empty list"]
    for i, route in enumerate(routes):
        if route.get("kind") != "Rule" or not isinstance(route.get("match"), str):
            out.append(f"routes[{i}] needs kind: Rule and a string match")
        services = route.get("services")
        if not isinstance(services, list) or not services:
            out.append(f"routes[{i}].services must be a non-empty list")
            continue
        for svc in services:
            if not isinstance(svc.get("name"), str) or not isinstance(svc.get("port"), int | str):
                out.append(f"routes[{i}] service needs a name and a port")
        for mw in route.get("middlewares") or []:
            if not isinstance(mw, dict) or not isinstance(mw.get("name"), str):
                out.append(f"routes[{i}].middlewares entries need a name")
    return out


def _crd_middleware(obj: Obj) -> list[str]:
    spec = obj.get("spec") or {}
    kinds = set(spec)
    if len(kinds) != 1 or not kinds <= TRAEFIK_MIDDLEWARES:
        return [f"spec must hold exactly one known middleware, got {sorted(kinds)}"]
    retry = spec.get("retry")
    if retry is not None and (not isinstance(retry.get("attempts"), int) or retry["attempts"] < 1):
        return ["retry.attempts must be a positive integer"]
    return []


def _crd_servicemonitor(obj: Obj) -> list[str]:
    out = []
    spec = obj.get("spec") or {}
    if not isinstance((spec.get("selector") or {}).get("matchLabels"), dict):
        out.append("spec.selector.matchLabels must be a mapping")
    endpoints = spec.get("endpoints")
    if not isinstance(endpoints, list) or not endpoints:
        out.append("spec.endpoints must be a non-empty list")
    else:
        for i, ep in enumerate(endpoints):
            if not isinstance(ep.get("port"), str) and "targetPort" not in ep:
                out.append(f"endpoints[{i}] needs a named port")
    return out


# Custom resources the export may render: (apiVersion, kind) -> structural check.
CUSTOM_KINDS: dict[tuple[str, str], Callable[[Obj], list[str]]] = {
    ("traefik.io/v1alpha1", "IngressRoute"): _crd_ingressroute,
    ("traefik.io/v1alpha1", "Middleware"): _crd_middleware,
    ("monitoring.coreos.com/v1", "ServiceMonitor"): _crd_servicemonitor,
}


@lru_cache(maxsize=128)
def _validator(version: str, api_version: str, kind: str) -> jsonschema.Draft202012Validator:
    """kubernetes-validate's strict schema for (apiVersion, kind), resolved exactly as
    kubernetes_validate.validate() does, but loaded once: that function re-reads the 2 MB
    definitions file on every call."""
    wanted = kv_utils.major_minor(version)
    schema_version = [x for x in kv_utils.all_versions() if kv_utils.major_minor(x) <= wanted][-1]
    schema_dir = f"kubernetes-json-schema/v{schema_version}-local-strict"
    group = re.sub(r"^([^./]*)(?:\.[^/]*)?/", r"\1-", api_version)
    try:
        schema = kv_utils.schema_contents(f"{schema_dir}/{kind.lower()}-{group}.json", version)
    except FileNotFoundError:
        raise kubernetes_validate.SchemaNotFoundError(
            version=wanted, kind=kind, api_version=api_version
        ) from None
    definitions = kv_utils.schema_contents(f"{schema_dir}/_definitions.json", version)
    registry = Resource.from_contents(definitions) @ (Resource.from_contents(schema) @ Registry())
    return jsonschema.Draft202012Validator(schema, registry=registry)


def schema_problems(obj: Obj, version: str) -> list[str]:
    """Strict Kubernetes schema for built-in kinds; the allow-list's own checks for custom ones;
    any other kind is a problem (never a silent pass)."""
    key = (obj.get("apiVersion", ""), obj.get("kind", ""))
    meta = obj.get("metadata") or {}
    if key in CUSTOM_KINDS:
        found = [] if meta.get("name") and meta.get("namespace") else ["metadata.name/namespace missing"]
        found += CUSTOM_KINDS[key](obj)
        return [f"{_name(obj)}: {p}" for p in found]
    try:
        validator = _validator(version, *key)
    except kubernetes_validate.SchemaNotFoundError:
        return [
            f"{_name(obj)}: {key[0]} {key[1]} is neither a Kubernetes v{version} kind nor in the "
            "custom-resource allow-list"
        ]
    error = jsonschema.exceptions.best_match(validator.iter_errors(obj))
    if error is None:
        return []
    where = ".".join(str(p) for p in error.absolute_path)
    return [f"{_name(obj)}: {where}: {error.message}"]


# --- invariants -------------------------------------------------------------------------------
def check_names(objects: list[Obj]) -> list[str]:
    out = []
    for obj in objects:
        meta = obj.get("metadata") or {}
        name = meta.get("name", "")
        pattern = DNS1123_SUBDOMAIN if obj.get("kind") == "ConfigMap" else DNS1123_LABEL
        if not pattern.match(name) or len(name) > 63:
            out.append(f"{_name(obj)}: name {name!r} is not a DNS-1123 label")
        ns = meta.get("namespace")
        if obj.get("kind") != "Namespace" and (not ns or not DNS1123_LABEL.match(ns)):
            out.append(f"{_name(obj)}: namespace {ns!r} missing or invalid")
    return out


def check_zones(objects: list[Obj], zones: Iterable[str]) -> list[str]:
    out = []
    deployments = of_kind(objects, "Deployment")
    for zone in zones:
        for role in ROLES:
            found = [
                d
                for d in deployments
                if pod_labels(d).get("srelab.io/zone") == zone
                and pod_labels(d).get("app.kubernetes.io/component") == role
            ]
            if len(found) != 1:
                out.append(f"zone {zone}: expected one {role.upper()} Deployment, found {len(found)}")
                continue
            spec = pod_template(found[0]).get("spec") or {}
            terms = (
                ((spec.get("affinity") or {}).get("nodeAffinity") or {}).get(
                    "requiredDuringSchedulingIgnoredDuringExecution"
                )
                or {}
            ).get("nodeSelectorTerms")
            if not spec.get("nodeSelector") or not terms:
                out.append(f"{_name(found[0])}: not pinned to its zone's node pool")
    return out


def check_services(objects: list[Obj]) -> list[str]:
    """Each backend Service selects exactly the Deployments of its role, on a port they expose."""
    out = []
    deployments = of_kind(objects, "Deployment")
    for role, spec in ROLES.items():
        svc = next((s for s in of_kind(objects, "Service") if s["metadata"]["name"] == spec["service"]), None)
        if svc is None:
            out.append(f"Service {spec['service']} missing")
            continue
        if (svc.get("spec") or {}).get("clusterIP") != "None":
            out.append(f"{_name(svc)}: must be headless (clusterIP: None)")
        selector = {"matchLabels": svc["spec"].get("selector") or {}}
        selected = {
            d["metadata"]["name"]
            for d in deployments
            if d["metadata"].get("namespace") == svc["metadata"].get("namespace")
            and selector_matches(selector, pod_labels(d))
        }
        wanted = {
            d["metadata"]["name"]
            for d in deployments
            if pod_labels(d).get("app.kubernetes.io/component") == role
        }
        if not wanted or selected != wanted:
            out.append(f"{_name(svc)}: selects {sorted(selected)}, expected exactly {sorted(wanted)}")
        for port in svc["spec"].get("ports") or []:
            target = port.get("targetPort", port.get("port"))
            for d in deployments:
                if d["metadata"]["name"] not in wanted:
                    continue
                exposed = [p for c in containers(d) for p in c.get("ports") or []]
                if not any(p.get("name") == target or p.get("containerPort") == target for p in exposed):
                    out.append(f"{_name(svc)}: port {target!r} not exposed by {d['metadata']['name']}")
                elif not any(p.get("containerPort") == port["port"] for p in exposed):
                    out.append(f"{_name(svc)}: port {port['port']} is not the container port")
    return out


def check_routes(objects: list[Obj]) -> list[str]:
    """GET reaches READ only, POST reaches WRITE only, and nothing else reaches either."""
    out = []
    want = {spec["method"]: spec["service"] for spec in ROLES.values()}
    backends = set(want.values())
    seen: dict[str, set[str]] = {}
    for route_obj in of_kind(objects, "IngressRoute"):
        for route in (route_obj.get("spec") or {}).get("routes") or []:
            methods = set(re.findall(r"Method\(`([A-Z]+)`\)", route.get("match", "")))
            services = {s.get("name") for s in route.get("services") or []}
            if not services & backends:
                continue
            if len(methods) != 1 or len(services) != 1:
                out.append(
                    f"{_name(route_obj)}: route {route.get('match')!r} must match one method and "
                    f"send to one backend Service, sends to {sorted(services)}"
                )
                continue
            (method,) = methods
            (service,) = services
            seen.setdefault(method, set()).add(service)
            if want.get(method) != service:
                out.append(f"{_name(route_obj)}: {method} goes to {service}, expected {want.get(method)}")
    for method, service in want.items():
        if seen.get(method) != {service}:
            out.append(f"no route sends {method} to {service} alone (found {sorted(seen.get(method, []))})")
    return out


def check_autoscaling(objects: list[Obj]) -> list[str]:
    out = []
    deployments = {
        (d["metadata"]["namespace"], d["metadata"]["name"]): d for d in of_kind(objects, "Deployment")
    }
    targeted = set()
    for hpa in of_kind(objects, "HorizontalPodAutoscaler"):
        ref = hpa["spec"]["scaleTargetRef"]
        key = (hpa["metadata"]["namespace"], ref.get("name"))
        if ref.get("kind") != "Deployment" or key not in deployments:
            out.append(f"{_name(hpa)}: targets {ref.get('kind')} {ref.get('name')!r}, no such Deployment")
            continue
        targeted.add(key)
        if "replicas" in deployments[key]["spec"]:
            out.append(f"{_name(deployments[key])}: sets spec.replicas although an HPA scales it")
        behavior = hpa["spec"].get("behavior") or {}
        if (behavior.get("scaleUp") or {}).get("stabilizationWindowSeconds") != 0:
            out.append(f"{_name(hpa)}: scale-up must not wait (stabilizationWindowSeconds: 0)")
        if hpa["spec"]["minReplicas"] > hpa["spec"]["maxReplicas"]:
            out.append(f"{_name(hpa)}: minReplicas above maxReplicas")
    for key, d in deployments.items():
        if key not in targeted:
            out.append(f"{_name(d)}: no HorizontalPodAutoscaler")
    return out


def check_disruption(objects: list[Obj]) -> list[str]:
    out = []
    pdbs = of_kind(objects, "PodDisruptionBudget")
    for d in of_kind(objects, "Deployment"):
        mine = [
            p
            for p in pdbs
            if p["metadata"]["namespace"] == d["metadata"]["namespace"]
            and selector_matches(p["spec"].get("selector"), pod_labels(d))
        ]
        if len(mine) != 1 or "maxUnavailable" not in mine[0]["spec"]:
            out.append(
                f"{_name(d)}: needs exactly one PodDisruptionBudget with maxUnavailable, has {len(mine)}"
            )
    return out


def _http_path(probe: Obj | None) -> str | None:
    return ((probe or {}).get("httpGet") or {}).get("path")


def check_containers(objects: list[Obj]) -> list[str]:
    out = []
    for obj in objects:
        if obj.get("kind") not in WORKLOAD_KINDS:
            continue
        pod_spec = pod_template(obj).get("spec") or {}
        pod_sc = pod_spec.get("securityContext") or {}
        writable = {m["name"] for c in containers(obj) for m in c.get("volumeMounts") or []}
        for c in containers(obj):
            where = f"{_name(obj)} container {c.get('name')}"
            res = c.get("resources") or {}
            for part in ("requests", "limits"):
                if not {"cpu", "memory"} <= set(res.get(part) or {}):
                    out.append(f"{where}: resources.{part} needs cpu and memory")
            for probe in ("readinessProbe", "livenessProbe"):
                if probe not in c:
                    out.append(f"{where}: {probe} missing")
            if obj.get("kind") == "Deployment":
                if "startupProbe" not in c:
                    out.append(f"{where}: startupProbe missing")
                ready, live = _http_path(c.get("readinessProbe")), _http_path(c.get("livenessProbe"))
                if not ready or not live or ready == live:
                    out.append(
                        f"{where}: liveness ({live}) must be an HTTP path other than readiness ({ready})"
                    )
            sc = c.get("securityContext") or {}
            if sc.get("allowPrivilegeEscalation") is not False:
                out.append(f"{where}: allowPrivilegeEscalation must be false")
            if sc.get("readOnlyRootFilesystem") is not True:
                out.append(f"{where}: readOnlyRootFilesystem must be true")
            if not (sc.get("runAsNonRoot") or pod_sc.get("runAsNonRoot")):
                out.append(f"{where}: runAsNonRoot missing")
            if (sc.get("capabilities") or {}).get("drop") != ["ALL"]:
                out.append(f"{where}: capabilities must drop ALL")
            seccomp = (sc.get("seccompProfile") or pod_sc.get("seccompProfile") or {}).get("type")
            if seccomp != "RuntimeDefault":
                out.append(f"{where}: seccompProfile RuntimeDefault missing")
            if sc.get("readOnlyRootFilesystem") and "tmp" not in writable:
                out.append(f"{where}: read-only root needs an emptyDir for /tmp")
            out += [f"{where}: {p}" for p in image_problems(c.get("image", ""))]
    return out


def image_problems(image: str) -> list[str]:
    if "@sha256:" in image:
        return []
    last = image.rsplit("/", 1)[-1]
    if ":" not in last:
        return [f"image {image!r} has no tag"]
    if last.rsplit(":", 1)[1] == "latest":
        return [f"image {image!r} uses the latest tag"]
    return []


def _policies_selecting(policies: list[Obj], ns: str, labels: dict[str, str]) -> list[Obj]:
    return [
        p
        for p in policies
        if p["metadata"]["namespace"] == ns
        and "Ingress" in (p["spec"].get("policyTypes") or ["Ingress"])
        and selector_matches(p["spec"].get("podSelector"), labels)
    ]


def check_network_policies(objects: list[Obj]) -> list[str]:
    out = []
    policies = of_kind(objects, "NetworkPolicy")
    namespaces = [o["metadata"]["name"] for o in of_kind(objects, "Namespace")]
    for ns in namespaces:
        deny = [
            p
            for p in policies
            if p["metadata"]["namespace"] == ns
            and p["spec"].get("podSelector") == {}
            and p["spec"].get("policyTypes") == ["Ingress"]
            and not p["spec"].get("ingress")
        ]
        if not deny:
            out.append(f"namespace {ns}: no default-deny ingress NetworkPolicy")
    pods = [
        (o["metadata"]["namespace"], pod_labels(o), _name(o))
        for o in objects
        if o.get("kind") in WORKLOAD_KINDS
    ]
    pods += [(ns, labels, f"chart pod {labels}") for ns, labels in CHART_PODS]
    for ns, labels, what in pods:
        if not _policies_selecting(policies, ns, labels):
            out.append(f"{what} in {ns}: selected by no NetworkPolicy")
    loki = _policies_selecting(policies, NS_MONITORING, CHART_POD_LABELS["loki"])
    for policy in loki:
        for rule in policy["spec"].get("ingress") or []:
            peers = rule.get("from")
            if not peers:
                out.append(f"{_name(policy)}: admits every source to Loki")
            for peer in peers or []:
                ns_sel = peer.get("namespaceSelector")
                only_monitoring = ns_sel is None or ns_sel == {
                    "matchLabels": {"kubernetes.io/metadata.name": NS_MONITORING}
                }
                if "ipBlock" in peer or not only_monitoring:
                    out.append(f"{_name(policy)}: admits {peer} to Loki (only {NS_MONITORING} may)")
    return out


def problems(objects: list[Obj], version: str, zones: Iterable[str] | None = None) -> list[str]:
    found: list[str] = []
    for obj in objects:
        found += schema_problems(obj, version)
    if zones is None:
        zones = sorted({pod_labels(d).get("srelab.io/zone", "") for d in of_kind(objects, "Deployment")})
    for check in (
        check_names,
        check_services,
        check_routes,
        check_autoscaling,
        check_disruption,
        check_containers,
        check_network_policies,
    ):
        found += check(objects)
    found += check_zones(objects, zones)
    return found
