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

from srelab.export.model import (
    ALERT_SINK_SERVICE,
    ALERTMANAGER_POD_LABELS,
    BLACKBOX_APP,
    BLACKBOX_PORT,
    CHART_POD_LABELS,
    FALLBACK_LABEL,
    NS_BACKEND,
    NS_INGRESS,
    NS_MONITORING,
    REQUEST_ID_DEFAULT,
    REQUEST_ID_ENV,
    ROLES,
    TRAEFIK_PORTS,
    TRAEFIK_SERVICE_PORTS,
)
from srelab.export.model import (
    APP as ITEMS_APP,
)

Obj = dict[str, Any]
DNS1123_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
DNS1123_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
WORKLOAD_KINDS = ("Deployment", "StatefulSet", "DaemonSet")
# Middleware, as the CRD of the pinned Traefik chart defines it (traefik/traefik-helm-chart v41.3.0,
# traefik/crds/traefik.io_middlewares.yaml; Go types in traefik/traefik v3.7
# pkg/provider/kubernetes/crd/traefikio/v1alpha1/middleware.go MiddlewareSpec).
TRAEFIK_MIDDLEWARES = {
    "addPrefix",
    "basicAuth",
    "buffering",
    "chain",
    "circuitBreaker",
    "compress",
    "contentType",
    "digestAuth",
    "encodedCharacters",
    "errors",
    "forwardAuth",
    "grpcWeb",
    "headers",
    "ipAllowList",
    "ipWhiteList",  # deprecated for ipAllowList, still in the CRD
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
# spec.retry: its properties in that CRD (type Retry), with their types.
TRAEFIK_RETRY_FIELDS = {
    "attempts": "integer",
    "timeout": "duration",
    "initialInterval": "duration",
    "maxRequestBodyBytes": "integer",
    "status": "status",
    "disableRetryOnNetworkError": "boolean",
    "retryNonIdempotentMethod": "boolean",
}
# The CRD's patterns: durations as int or Go duration text, status as codes or ranges.
TRAEFIK_DURATION = re.compile(r"^([0-9]+(ns|us|µs|ms|s|m|h)?)+$")
TRAEFIK_STATUS = re.compile(r"^([1-5][0-9]{2}[,-]?)+$")
# TraefikService, as the CRD of the pinned Traefik chart defines it (traefik/traefik-helm-chart
# v41.3.0, traefik/crds/traefik.io_traefikservices.yaml; Go types in traefik/traefik v3.7
# pkg/provider/kubernetes/crd/traefikio/v1alpha1/service.go).
TRAEFIK_SERVICE_KINDS = {"failover", "highestRandomWeight", "mirroring", "weighted"}
TRAEFIK_FAILOVER_REQUIRED = {"service", "fallback", "errors"}
TRAEFIK_FAILOVER_ERRORS = {"status", "maxRequestBodyBytes"}
TRAEFIK_LB_SPEC = {
    "healthCheck",
    "kind",
    "middlewares",
    "name",
    "namespace",
    "nativeLB",
    "nodePortLB",
    "passHostHeader",
    "passiveHealthCheck",
    "port",
    "responseForwarding",
    "scheme",
    "serversTransport",
    "sticky",
    "strategy",
    "weight",
}
# PrometheusRule fields (prometheus-operator v0.93.0 pkg/apis/monitoring/v1/prometheusrule_types.go).
RULE_GROUP_FIELDS = {
    "name",
    "labels",
    "interval",
    "query_offset",
    "rules",
    "partial_response_strategy",
    "limit",
}
RULE_FIELDS = {"record", "alert", "expr", "for", "keep_firing_for", "labels", "annotations"}
PROM_DURATION = re.compile(
    r"^(0|(([0-9]+)y)?(([0-9]+)w)?(([0-9]+)d)?(([0-9]+)h)?(([0-9]+)m)?(([0-9]+)s)?(([0-9]+)ms)?)$"
)

# Probe, as the pinned operator defines it (prometheus-operator v0.93.0, the operator of
# kube-prometheus-stack 88.5.3: pkg/apis/monitoring/v1/probe_types.go ProbeSpec, ProberSpec,
# ProbeTargets, ProbeTargetStaticConfig; the inlined HTTPConfig (http_config.go), ProxyConfig and
# NativeHistogramConfig (types.go) add their fields to spec and spec.prober).
PROBE_SPEC_FIELDS = {
    "jobName", "prober", "module", "targets", "interval", "scrapeTimeout", "metricRelabelings",
    "authorization", "sampleLimit", "targetLimit", "scrapeProtocols", "fallbackScrapeProtocol",
    "labelLimit", "labelNameLengthLimit", "labelValueLengthLimit", "keepDroppedTargets",
    "scrapeClass", "params",
    # HTTPConfig (HTTPConfigWithoutTLS + tlsConfig)
    "basicAuth", "oauth2", "bearerTokenSecret", "followRedirects", "enableHttp2", "tlsConfig",
    # NativeHistogramConfig
    "scrapeNativeHistograms", "scrapeClassicHistograms", "nativeHistogramBucketLimit",
    "nativeHistogramMinBucketFactor", "convertClassicHistogramsToNHCB",
}  # fmt: skip
# ProberSpec: url (required, MinLength 1, address:port without a scheme), scheme (enum
# http/https/HTTP/HTTPS), path (default /probe), plus ProxyConfig.
PROBER_FIELDS = {"url", "scheme", "path", "proxyUrl", "noProxy", "proxyFromEnvironment", "proxyConnectHeader"}
PROBE_TARGET_FIELDS = {"staticConfig", "ingress"}
PROBE_STATIC_FIELDS = {"static", "labels", "relabelingConfigs"}
PROBER_SCHEMES = {"http", "https", "HTTP", "HTTPS"}
# AlertmanagerConfig v1alpha1 (prometheus-operator v0.93.0
# pkg/apis/monitoring/v1alpha1/alertmanager_config_types.go): AlertmanagerConfigSpec, Route,
# Matcher (matchType enum), Receiver (name MinLength 1), WebhookConfig (maxAlerts Minimum 0).
AMCONFIG_SPEC_FIELDS = {"route", "receivers", "inhibitRules", "muteTimeIntervals"}
AMCONFIG_ROUTE_FIELDS = {
    "receiver", "groupBy", "groupWait", "groupInterval", "repeatInterval", "matchers", "continue",
    "routes", "muteTimeIntervals", "activeTimeIntervals",
}  # fmt: skip
AMCONFIG_MATCHER_FIELDS = {"name", "value", "matchType", "regex"}
AMCONFIG_MATCH_TYPES = {"=", "!=", "=~", "!~"}
AMCONFIG_RECEIVER_FIELDS = {
    "name", "opsgenieConfigs", "pagerdutyConfigs", "discordConfigs", "slackConfigs", "webhookConfigs",
    "wechatConfigs", "emailConfigs", "victoropsConfigs", "pushoverConfigs", "snsConfigs",
    "telegramConfigs", "webexConfigs", "msteamsConfigs", "msteamsv2Configs", "rocketchatConfigs",
}  # fmt: skip
AMCONFIG_WEBHOOK_FIELDS = {
    "sendResolved",
    "url",
    "urlSecret",
    "httpConfig",
    "maxAlerts",
    "timeout",
    "payload",
}
# monitoringv1.NonEmptyDuration / Duration (types.go): the Prometheus duration pattern.

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
            if svc.get("kind") == "TraefikService":
                if not isinstance(svc.get("name"), str) or "port" in svc:
                    out.append(f"routes[{i}] TraefikService reference needs a name and no port")
            elif not isinstance(svc.get("name"), str) or not isinstance(svc.get("port"), int | str):
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
    if "retry" in spec:
        return _retry_problems(spec["retry"])
    if "plugin" in spec:
        # A map plugin name -> its configuration (CRD: object of preserved objects); Traefik builds
        # exactly one plugin per middleware (traefik v3.7 pkg/server/middleware/plugins.go).
        plugin = spec["plugin"]
        if not isinstance(plugin, dict) or len(plugin) != 1:
            return ["plugin must name exactly one plugin"]
        ((name, conf),) = plugin.items()
        if not name or not isinstance(conf, dict):
            return [f"plugin {name!r}: its configuration must be a mapping"]
    return []


def _retry_problems(retry: Any) -> list[str]:
    if not isinstance(retry, dict):
        return ["retry must be a mapping"]
    out = _unknown_fields(retry, TRAEFIK_RETRY_FIELDS, where="retry")
    attempts = retry.get("attempts")
    if not isinstance(attempts, int) or isinstance(attempts, bool) or attempts < 1:
        out.append("retry.attempts must be a positive integer")
    for key, kind in TRAEFIK_RETRY_FIELDS.items():
        if key not in retry or key == "attempts":
            continue
        value = retry[key]
        if kind == "boolean" and not isinstance(value, bool):
            out.append(f"retry.{key} must be a boolean")
        elif kind == "integer" and (isinstance(value, bool) or not isinstance(value, int) or value < -1):
            out.append(f"retry.{key} must be an integer >= -1")
        elif kind == "duration" and not (
            (isinstance(value, int) and not isinstance(value, bool))
            or (isinstance(value, str) and TRAEFIK_DURATION.match(value))
        ):
            out.append(f"retry.{key} must be seconds or a Go duration, got {value!r}")
        elif kind == "status" and not (
            isinstance(value, list) and all(isinstance(v, str) and TRAEFIK_STATUS.match(v) for v in value)
        ):
            out.append(f"retry.status must be a list of status code strings, got {value!r}")
    return out


def _unknown_fields(fields: Any, allowed: Any, kind: str = "", where: str = "") -> list[str]:
    """`[where: ]unknown [kind ]fields [...]` for the keys of `fields` a schema does not know."""
    unknown = set(fields) - set(allowed)
    if not unknown:
        return []
    return [f"{where}{': ' if where else ''}unknown {kind}{' ' if kind else ''}fields {sorted(unknown)}"]


def _lb_spec_problems(where: str, spec: Any) -> list[str]:
    if not isinstance(spec, dict) or not isinstance(spec.get("name"), str):
        return [f"{where} needs a name"]
    return _unknown_fields(spec, TRAEFIK_LB_SPEC, where=where)


def _crd_traefikservice(obj: Obj) -> list[str]:
    spec = obj.get("spec") or {}
    if len(spec) != 1 or not set(spec) <= TRAEFIK_SERVICE_KINDS:
        return [f"spec must hold exactly one of {sorted(TRAEFIK_SERVICE_KINDS)}, got {sorted(spec)}"]
    failover = spec.get("failover")
    if failover is None:
        return []
    out = []
    if set(failover) != TRAEFIK_FAILOVER_REQUIRED:
        out.append(f"failover needs exactly {sorted(TRAEFIK_FAILOVER_REQUIRED)}, got {sorted(failover)}")
    for part in ("service", "fallback"):
        out += _lb_spec_problems(f"failover.{part}", failover.get(part))
    errors = failover.get("errors")
    if not isinstance(errors, dict) or set(errors) - TRAEFIK_FAILOVER_ERRORS:
        out.append(f"failover.errors may hold only {sorted(TRAEFIK_FAILOVER_ERRORS)}")
    elif not all(re.fullmatch(r"[1-5][0-9]{2}(-[1-5][0-9]{2})?", str(s)) for s in errors.get("status") or []):
        out.append("failover.errors.status must be status codes or ranges (503, 500-599)")
    return out


def _crd_prometheusrule(obj: Obj) -> list[str]:
    groups = (obj.get("spec") or {}).get("groups")
    if not isinstance(groups, list) or not groups:
        return ["spec.groups must be a non-empty list"]
    out = []
    names = [g.get("name") for g in groups]
    if len(set(names)) != len(names) or not all(isinstance(n, str) and n for n in names):
        out.append(f"group names must be unique and non-empty: {names}")
    for g in groups:
        out += _unknown_fields(g, RULE_GROUP_FIELDS, where=f"group {g.get('name')}")
        rules = g.get("rules")
        if not isinstance(rules, list) or not rules:
            out.append(f"group {g.get('name')}: no rules")
            continue
        for rule in rules:
            what = rule.get("record") or rule.get("alert")
            out += _unknown_fields(rule, RULE_FIELDS, where=f"rule {what}")
            if ("record" in rule) == ("alert" in rule):
                out.append(f"rule {what}: needs exactly one of record and alert")
            if not isinstance(rule.get("expr"), str) or not rule["expr"].strip():
                out.append(f"rule {what}: expr must be a non-empty string")
            if "for" in rule and not PROM_DURATION.match(str(rule["for"])):
                out.append(f"rule {what}: for {rule['for']!r} is not a Prometheus duration")
            if "record" in rule and ({"for", "annotations"} & set(rule)):
                out.append(f"rule {what}: recording rules take no for/annotations")
    return out


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


def _crd_probe(obj: Obj) -> list[str]:
    spec = obj.get("spec") or {}
    out = _unknown_fields(spec, PROBE_SPEC_FIELDS, "spec")
    prober = spec.get("prober")
    if not isinstance(prober, dict):
        return [*out, "spec.prober is required"]
    out += _unknown_fields(prober, PROBER_FIELDS, "prober")
    url = prober.get("url")
    if not isinstance(url, str) or not url or "://" in url:
        out.append(f"prober.url must be address:port without a scheme, got {url!r}")
    if "scheme" in prober and prober["scheme"] not in PROBER_SCHEMES:
        out.append(f"prober.scheme {prober['scheme']!r} is not one of {sorted(PROBER_SCHEMES)}")
    for key in ("interval", "scrapeTimeout"):
        if key in spec and not PROM_DURATION.match(str(spec[key])):
            out.append(f"spec.{key} {spec[key]!r} is not a Prometheus duration")
    targets = spec.get("targets") or {}
    out += _unknown_fields(targets, PROBE_TARGET_FIELDS, "targets")
    static = targets.get("staticConfig")
    if static is None and targets.get("ingress") is None:
        # ProbeTargets.Validate: one of staticConfig and ingress is required.
        out.append("spec.targets needs staticConfig or ingress")
    elif static is not None:
        out += _unknown_fields(static, PROBE_STATIC_FIELDS, "staticConfig")
        if not isinstance(static.get("static"), list) or not all(
            isinstance(t, str) for t in static["static"]
        ):
            out.append("staticConfig.static must be a list of strings")
        labels = static.get("labels") or {}
        if not all(isinstance(k, str) and isinstance(v, str) for k, v in labels.items()):
            out.append("staticConfig.labels must map strings to strings")
    return out


def _crd_alertmanagerconfig(obj: Obj) -> list[str]:
    spec = obj.get("spec") or {}
    out = _unknown_fields(spec, AMCONFIG_SPEC_FIELDS, "spec")
    receivers = spec.get("receivers")
    if not isinstance(receivers, list):
        return [*out, "spec.receivers must be a list"]
    names = set()
    for r in receivers:
        out += _unknown_fields(r, AMCONFIG_RECEIVER_FIELDS, where=f"receiver {r.get('name')}")
        if not isinstance(r.get("name"), str) or not r["name"]:
            out.append("every receiver needs a non-empty name")
        names.add(r.get("name"))
        for hook in r.get("webhookConfigs") or []:
            out += _unknown_fields(hook, AMCONFIG_WEBHOOK_FIELDS, "webhook", f"receiver {r.get('name')}")
            if not hook.get("url") and not hook.get("urlSecret"):
                out.append(f"receiver {r.get('name')}: a webhook needs url or urlSecret")
            if not isinstance(hook.get("maxAlerts", 0), int) or hook.get("maxAlerts", 0) < 0:
                out.append(f"receiver {r.get('name')}: maxAlerts must be an integer >= 0")
    route = spec.get("route")
    if not isinstance(route, dict):
        return [*out, "spec.route is required"]
    out += _unknown_fields(route, AMCONFIG_ROUTE_FIELDS, "route")
    if route.get("receiver") not in names:
        out.append(f"route receiver {route.get('receiver')!r} is not one of the receivers")
    for key in ("groupWait", "groupInterval", "repeatInterval"):
        if key in route and (not route[key] or not PROM_DURATION.match(str(route[key]))):
            out.append(f"route.{key} {route[key]!r} is not a non-empty Prometheus duration")
    for m in route.get("matchers") or []:
        if set(m) - AMCONFIG_MATCHER_FIELDS or not m.get("name"):
            out.append(f"matcher {m}: needs a name and only {sorted(AMCONFIG_MATCHER_FIELDS)}")
        if m.get("matchType", "=") not in AMCONFIG_MATCH_TYPES:
            out.append(
                f"matcher {m.get('name')}: matchType {m.get('matchType')!r} "
                f"not in {sorted(AMCONFIG_MATCH_TYPES)}"
            )
        if m.get("matchType") in ("=~", "!~"):
            try:
                re.compile(str(m.get("value", "")))
            except re.error as exc:
                out.append(f"matcher {m.get('name')}: regex does not compile: {exc}")
    return out


# Custom resources the export may render: (apiVersion, kind) -> structural check.
CUSTOM_KINDS: dict[tuple[str, str], Callable[[Obj], list[str]]] = {
    ("traefik.io/v1alpha1", "IngressRoute"): _crd_ingressroute,
    ("traefik.io/v1alpha1", "Middleware"): _crd_middleware,
    ("traefik.io/v1alpha1", "TraefikService"): _crd_traefikservice,
    ("monitoring.coreos.com/v1", "ServiceMonitor"): _crd_servicemonitor,
    ("monitoring.coreos.com/v1", "PrometheusRule"): _crd_prometheusrule,
    ("monitoring.coreos.com/v1", "Probe"): _crd_probe,
    ("monitoring.coreos.com/v1alpha1", "AlertmanagerConfig"): _crd_alertmanagerconfig,
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


def route_backends(route: Obj, namespace: str, objects: list[Obj]) -> set[str]:
    """Kubernetes Services a route sends to, through TraefikServices when it names them."""
    tservices = {
        o["metadata"]["name"]: o
        for o in of_kind(objects, "TraefikService")
        if o["metadata"].get("namespace") == namespace
    }
    out: set[str] = set()

    def add(ref: Obj, depth: int = 0) -> None:
        if ref.get("kind") == "TraefikService":
            target = tservices.get(ref.get("name"))
            if target is None or depth > 5:
                out.add(f"<missing TraefikService {ref.get('name')}>")
                return
            spec = target.get("spec") or {}
            failover = spec.get("failover") or {}
            for part in ("service", "fallback"):
                if part in failover:
                    add(failover[part], depth + 1)
            for weighted in (spec.get("weighted") or {}).get("services") or []:
                add(weighted, depth + 1)
        else:
            out.add(str(ref.get("name")))

    for ref in route.get("services") or []:
        add(ref)
    return out


def check_routes(objects: list[Obj]) -> list[str]:
    """GET reaches READ only, POST reaches WRITE only, and nothing else reaches either."""
    out = []
    want = {spec["method"]: spec["service"] for spec in ROLES.values()}
    fallbacks = {spec["service"]: spec["fallback"] for spec in ROLES.values()}
    backends = set(want.values()) | set(fallbacks.values())
    seen: dict[str, set[str]] = {}
    for route_obj in of_kind(objects, "IngressRoute"):
        namespace = route_obj["metadata"].get("namespace", "")
        for route in (route_obj.get("spec") or {}).get("routes") or []:
            methods = set(re.findall(r"Method\(`([A-Z]+)`\)", route.get("match", "")))
            reached = route_backends(route, namespace, objects)
            if not reached & backends:
                continue
            # The role's Service, plus its fallback when a failover TraefikService sits between.
            services = {s for s in reached if s not in fallbacks.values()}
            extra = reached - services - {fallbacks.get(s) for s in services}
            if len(methods) != 1 or len(services) != 1 or extra:
                out.append(
                    f"{_name(route_obj)}: route {route.get('match')!r} must match one method and "
                    f"send to one backend Service, sends to {sorted(reached)}"
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


def _request_id_header(pods: list[Obj]) -> str | None:
    """The header the items pods take a keyless POST's implicit key from (None when any of them
    takes none): env PROXY_REQUEST_ID_HEADER, else the service's default."""
    headers = set()
    for d in pods:
        for c in containers(d):
            env = {e.get("name"): e for e in c.get("env") or []}
            entry = env.get(REQUEST_ID_ENV)
            headers.add(str(entry.get("value", "")).strip().lower() if entry else REQUEST_ID_DEFAULT.lower())
    return headers.pop() if len(headers) == 1 and "" not in headers else None


def check_post_retries(objects: list[Obj]) -> list[str]:
    """A route that retries POSTs (retryNonIdempotentMethod) first runs a plugin middleware that
    stamps the request id the items pods take as a keyless POST's implicit key: otherwise a POST
    retried after a replica died mid-request can be stored twice."""
    out = []
    middlewares = {
        (m["metadata"].get("namespace"), m["metadata"].get("name")): m.get("spec") or {}
        for m in of_kind(objects, "Middleware")
    }
    services = {
        (s["metadata"].get("namespace"), s["metadata"]["name"]): s for s in of_kind(objects, "Service")
    }
    deployments = of_kind(objects, "Deployment")
    for route_obj in of_kind(objects, "IngressRoute"):
        namespace = route_obj["metadata"].get("namespace", "")
        for route in (route_obj.get("spec") or {}).get("routes") or []:
            if "POST" not in re.findall(r"Method\(`([A-Z]+)`\)", route.get("match", "")):
                continue
            pods = []
            for name in route_backends(route, namespace, objects):
                selector = ((services.get((namespace, name)) or {}).get("spec") or {}).get("selector")
                pods += [
                    d
                    for d in deployments
                    if selector
                    and d["metadata"].get("namespace") == namespace
                    and selector_matches({"matchLabels": selector}, pod_labels(d))
                ]
            header = _request_id_header(pods)
            stamped = False
            for ref in route.get("middlewares") or []:
                spec = middlewares.get((ref.get("namespace", namespace), ref.get("name")), {})
                for conf in (spec.get("plugin") or {}).values():
                    if header and str((conf or {}).get("header", "")).lower() == header:
                        stamped = True
                if (spec.get("retry") or {}).get("retryNonIdempotentMethod") and not stamped:
                    out.append(
                        f"{_name(route_obj)}: route {route.get('match')!r} retries POSTs "
                        f"(Middleware {ref.get('name')}) without a request id stamped before it "
                        f"({header or 'the items pods read none'}): a keyless POST can be stored twice"
                    )
    return out


def items_deployments(objects: list[Obj]) -> list[Obj]:
    """The items READ/WRITE Deployments (not the monitoring pieces such as the blackbox exporter)."""
    return [
        d for d in of_kind(objects, "Deployment") if pod_labels(d).get("app.kubernetes.io/name") == ITEMS_APP
    ]


def check_autoscaling(objects: list[Obj]) -> list[str]:
    """Every items Deployment scales with an HPA (the exporters stay at one replica)."""
    out = []
    deployments = {(d["metadata"]["namespace"], d["metadata"]["name"]): d for d in items_deployments(objects)}
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


def check_stateful_disruption(objects: list[Obj]) -> list[str]:
    """Every StatefulSet of more than one pod (Redis HA nodes, Sentinels) has exactly one
    PodDisruptionBudget, and spreads its pods over zones (DoNotSchedule on the zone key)."""
    out = []
    pdbs = of_kind(objects, "PodDisruptionBudget")
    for sts in of_kind(objects, "StatefulSet"):
        if int(sts["spec"].get("replicas") or 1) < 2:
            continue
        mine = [
            p
            for p in pdbs
            if p["metadata"]["namespace"] == sts["metadata"]["namespace"]
            and selector_matches(p["spec"].get("selector"), pod_labels(sts))
        ]
        if len(mine) != 1:
            out.append(f"{_name(sts)}: needs exactly one PodDisruptionBudget, has {len(mine)}")
        spread = (pod_template(sts).get("spec") or {}).get("topologySpreadConstraints") or []
        if not any(
            c.get("topologyKey") == "topology.kubernetes.io/zone"
            and c.get("whenUnsatisfiable") == "DoNotSchedule"
            for c in spread
        ):
            out.append(f"{_name(sts)}: {sts['spec'].get('replicas')} pods not spread over zones")
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


def _admits(
    policies: list[Obj], ns: str, labels: dict[str, str], src_ns: str, src: dict[str, str], port: int
) -> bool:
    """Whether an Ingress policy selecting (ns, labels) admits pods `src` of namespace `src_ns` on `port`."""
    for policy in _policies_selecting(policies, ns, labels):
        for rule in policy["spec"].get("ingress") or []:
            ports = [p.get("port") for p in rule.get("ports") or []]
            if ports and port not in ports:
                continue
            for peer in rule.get("from") or []:
                ns_sel = peer.get("namespaceSelector")
                if ns_sel is None or "ipBlock" in peer:
                    continue
                if selector_matches(ns_sel, {"kubernetes.io/metadata.name": src_ns}) and selector_matches(
                    peer.get("podSelector"), src
                ):
                    return True
    return False


def check_detection_flows(objects: list[Obj]) -> list[str]:
    """The probes reach Traefik and Prometheus reaches the exporter; only Alertmanager reaches the
    webhook receiver (policies add up, so every policy selecting it must admit Alertmanager only)."""
    out = []
    policies = of_kind(objects, "NetworkPolicy")
    deployments = {d["metadata"]["name"]: d for d in of_kind(objects, "Deployment")}
    prometheus = CHART_POD_LABELS["prometheus"]
    exporter = deployments.get(BLACKBOX_APP)
    if exporter is not None:
        labels = pod_labels(exporter)
        if not _admits(policies, NS_MONITORING, labels, NS_MONITORING, prometheus, BLACKBOX_PORT):
            out.append(f"{_name(exporter)}: no NetworkPolicy lets Prometheus scrape it on {BLACKBOX_PORT}")
        for probe in of_kind(objects, "Probe"):
            for target in ((probe["spec"].get("targets") or {}).get("staticConfig") or {}).get(
                "static"
            ) or []:
                port = TRAEFIK_SERVICE_PORTS["websecure" if target.startswith("https:") else "web"]
                entry = TRAEFIK_PORTS["websecure" if port == 443 else "web"]
                if not _admits(
                    policies, NS_INGRESS, CHART_POD_LABELS["traefik"], NS_MONITORING, labels, entry
                ):
                    out.append(
                        f"{_name(probe)}: the exporter may not reach Traefik's port {entry} for {target}"
                    )
    sink = deployments.get(ALERT_SINK_SERVICE)
    if sink is not None:
        labels = pod_labels(sink)
        selecting = _policies_selecting(policies, sink["metadata"]["namespace"], labels)
        if not selecting:
            out.append(f"{_name(sink)}: selected by no NetworkPolicy")
        for policy in selecting:
            for rule in policy["spec"].get("ingress") or []:
                for peer in rule.get("from") or [None]:
                    pods = (peer or {}).get("podSelector")
                    ns_sel = (peer or {}).get("namespaceSelector")
                    only_am = (
                        peer is not None
                        and "ipBlock" not in peer
                        and ns_sel == {"matchLabels": {"kubernetes.io/metadata.name": NS_MONITORING}}
                        and (pods or {}).get("matchLabels") == ALERTMANAGER_POD_LABELS
                    )
                    if not only_am:
                        out.append(
                            f"{_name(policy)}: admits {peer} to {ALERT_SINK_SERVICE} (only Alertmanager may)"
                        )
    return out


def internal_paths(objects: list[Obj]) -> set[str]:
    """HTTP paths of the items pods' probes and of the ServiceMonitor endpoints scraping them."""
    paths = set()
    for d in items_deployments(objects):
        for c in containers(d):
            for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
                path = _http_path(c.get(probe))
                if path:
                    paths.add(path)
    for sm in of_kind(objects, "ServiceMonitor"):
        if sm["metadata"].get("namespace") != NS_BACKEND:
            continue
        for endpoint in (sm.get("spec") or {}).get("endpoints") or []:
            if endpoint.get("path"):
                paths.add(endpoint["path"])
    return paths


def check_internal_paths(objects: list[Obj]) -> list[str]:
    """No route from the load balancer to the items pods matches a probe or metrics path."""
    out = []
    backends = {spec[k] for spec in ROLES.values() for k in ("service", "fallback")}
    for route_obj in of_kind(objects, "IngressRoute"):
        namespace = route_obj["metadata"].get("namespace", "")
        for route in (route_obj.get("spec") or {}).get("routes") or []:
            if not route_backends(route, namespace, objects) & backends:
                continue
            excluded = set(re.findall(r"!\s*Path\(`([^`]+)`\)", route.get("match", "")))
            for path in sorted(internal_paths(objects) - excluded):
                out.append(f"{_name(route_obj)}: route {route.get('match')!r} exposes {path}")
    return out


def check_failover(objects: list[Obj]) -> list[str]:
    """Fallback Services list unready pods and are reached through their ClusterIP (Traefik's CRD
    provider skips endpoints that are not serving); the items ServiceMonitor leaves them out."""
    out = []
    services = {s["metadata"]["name"]: s for s in of_kind(objects, "Service")}
    for ts in of_kind(objects, "TraefikService"):
        failover = (ts.get("spec") or {}).get("failover")
        if not failover:
            continue
        main, fallback = failover.get("service") or {}, failover.get("fallback") or {}
        fb_svc, main_svc = services.get(fallback.get("name")), services.get(main.get("name"))
        if fb_svc is None or main_svc is None:
            out.append(
                f"{_name(ts)}: failover Services {main.get('name')}/{fallback.get('name')} not rendered"
            )
            continue
        spec = fb_svc.get("spec") or {}
        if spec.get("publishNotReadyAddresses") is not True:
            out.append(f"{_name(fb_svc)}: a fallback Service needs publishNotReadyAddresses: true")
        if spec.get("clusterIP") == "None" or fallback.get("nativeLB") is not True:
            out.append(
                f"{_name(ts)}: fallback {fallback.get('name')} must be a ClusterIP Service used with nativeLB"
            )
        if spec.get("selector") != (main_svc.get("spec") or {}).get("selector"):
            out.append(f"{_name(fb_svc)}: selects other pods than {main.get('name')}")
        labels = (fb_svc.get("metadata") or {}).get("labels") or {}
        for sm in of_kind(objects, "ServiceMonitor"):
            if sm["metadata"].get("namespace") == fb_svc["metadata"].get("namespace") and selector_matches(
                (sm.get("spec") or {}).get("selector"), labels
            ):
                out.append(f"{_name(sm)}: also scrapes the fallback Service {fb_svc['metadata']['name']}")
        if FALLBACK_LABEL not in labels:
            out.append(f"{_name(fb_svc)}: label {FALLBACK_LABEL} missing")
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
        check_internal_paths,
        check_failover,
        check_post_retries,
        check_autoscaling,
        check_disruption,
        check_stateful_disruption,
        check_containers,
        check_network_policies,
        check_detection_flows,
    ):
        found += check(objects)
    found += check_zones(objects, zones)
    return found
