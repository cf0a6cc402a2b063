"""Rendered objects: strict Kubernetes schemas, the CRD allow-list, and the design's invariants.

Each invariant is asserted on the real render (frozen and live compose model) and shown to catch
a broken manifest, so none of them can pass vacuously.
"""

from __future__ import annotations

import copy
import json
import re
import subprocess

import kubernetes_validate
import pytest
import yaml

from srelab.errors import LabError
from srelab.export import validate as v
from srelab.export.inputs import secret_values
from srelab.export.model import REQUEST_ID_DEFAULT, REQUEST_ID_ENV, ROLES
from srelab.export.render import render
from srelab.stack.settings import ROOT
from tests.export.helpers import FIXTURES, fixture_copy, fixture_inputs, with_services


def find(objects, kind, name):
    return next(o for o in objects if o["kind"] == kind and o["metadata"]["name"] == name)


def first_container(obj):
    return obj["spec"]["template"]["spec"]["containers"][0]


# --- schemas ------------------------------------------------------------------------------------
def test_every_object_passes_strict_schema_or_allow_list(objects, params):
    kinds = {o["kind"] for o in objects}
    assert {
        "Deployment",
        "StatefulSet",
        "Service",
        "HorizontalPodAutoscaler",
        "PodDisruptionBudget",
        "NetworkPolicy",
        "Namespace",
        "ConfigMap",
        "IngressRoute",
        "Middleware",
        "ServiceMonitor",
        "TraefikService",
        "PrometheusRule",
    } <= kinds
    problems = [p for o in objects for p in v.schema_problems(o, params.kubernetes_version)]
    assert problems == []


def test_kubernetes_validate_itself_agrees(fixture_render, params):
    """The library's own entry point (strict) on one object of each built-in kind: the cached
    validator used everywhere else resolves the very same schemas."""
    seen = {}
    for _, obj in fixture_render.objects:
        key = (obj["apiVersion"], obj["kind"])
        if key not in v.CUSTOM_KINDS:
            seen.setdefault(key, obj)
    assert len(seen) == 8  # Namespace, NetworkPolicy, Deployment, Service, HPA, PDB, ConfigMap, StatefulSet
    for obj in seen.values():
        kubernetes_validate.validate(obj, params.kubernetes_version, strict=True)
        broken = {**obj, "unexpectedField": 1}
        with pytest.raises(kubernetes_validate.ValidationError):
            kubernetes_validate.validate(broken, params.kubernetes_version, strict=True)
        assert v.schema_problems(broken, params.kubernetes_version)


def test_strict_schema_rejects_unknown_and_mistyped_fields(objects, params):
    deployment = find(objects, "Deployment", "items-read-a")
    first_container(deployment)["livenessProb"] = {"httpGet": {"path": "/livez", "port": "http"}}
    assert any("livenessProb" in p for p in v.schema_problems(deployment, params.kubernetes_version))
    hpa = find(objects, "HorizontalPodAutoscaler", "items-read-a")
    hpa["spec"]["maxReplicas"] = "three"
    assert v.schema_problems(hpa, params.kubernetes_version)


def test_unknown_kind_is_not_silently_accepted(params):
    gateway = {
        "apiVersion": "gateway.networking.k8s.io/v1",
        "kind": "HTTPRoute",
        "metadata": {"name": "items", "namespace": "backend"},
        "spec": {},
    }
    (problem,) = v.schema_problems(gateway, params.kubernetes_version)
    assert "allow-list" in problem


@pytest.mark.parametrize(
    ("kind", "name", "breakage", "expected"),
    [
        ("IngressRoute", "items", lambda o: o["spec"].pop("routes"), "routes"),
        ("IngressRoute", "items", lambda o: o["spec"]["routes"][0]["services"][0].update(port=80), "no port"),
        ("IngressRoute", "grafana", lambda o: o["spec"]["routes"][0]["services"][0].pop("port"), "port"),
        ("TraefikService", "items-read-failover", lambda o: o["spec"]["failover"].pop("errors"), "failover"),
        ("TraefikService", "items-read-failover", lambda o: o["spec"].update(weighted={}), "exactly one"),
        (
            "TraefikService",
            "items-write-failover",
            lambda o: o["spec"]["failover"]["fallback"].update(healthcheck={}),
            "unknown fields",
        ),
        ("Middleware", "retry-writes", lambda o: o["spec"].update(bogus={}), "exactly one"),
        ("Middleware", "retry-writes", lambda o: o["spec"]["retry"].update(attempts=0), "attempts"),
        # Fields and types of the v3.7 CRD's spec.retry (chart v41.3.0 traefik.io_middlewares.yaml).
        (
            "Middleware",
            "retry-writes",
            lambda o: o["spec"]["retry"].update(retryOn=["502"]),
            "unknown fields",
        ),
        ("Middleware", "retry-writes", lambda o: o["spec"]["retry"].update(status=[502]), "status"),
        (
            "Middleware",
            "retry-writes",
            lambda o: o["spec"]["retry"].update(initialInterval="soon"),
            "duration",
        ),
        (
            "Middleware",
            "retry-writes",
            lambda o: o["spec"]["retry"].update(retryNonIdempotentMethod="yes"),
            "boolean",
        ),
        ("Middleware", "retry-writes", lambda o: o["spec"]["retry"].update(maxRequestBodyBytes=-2), ">= -1"),
        ("Middleware", "request-id", lambda o: o["spec"]["plugin"].update(other={}), "exactly one plugin"),
        ("Middleware", "request-id", lambda o: o["spec"]["plugin"].update(requestid="on"), "mapping"),
        ("ServiceMonitor", "items", lambda o: o["spec"].update(endpoints=[]), "endpoints"),
        ("ServiceMonitor", "items", lambda o: o["metadata"].pop("namespace"), "namespace"),
    ],
)
def test_custom_resource_checks_catch_breakage(objects, params, kind, name, breakage, expected):
    obj = find(objects, kind, name)
    assert v.schema_problems(obj, params.kubernetes_version) == []
    breakage(obj)
    assert any(expected in p for p in v.schema_problems(obj, params.kubernetes_version))


def test_names_are_dns_1123(objects):
    assert v.check_names(objects) == []
    find(objects, "Service", "backend-read")["metadata"]["name"] = "Backend_Read"
    assert v.check_names(objects)


# --- zones and routing --------------------------------------------------------------------------
def test_each_zone_has_read_and_write_pinned_to_its_pool(objects, params):
    assert v.check_zones(objects, params.zones) == []
    for key, gcp_zone in params.zones.items():
        for role in ROLES:
            spec = find(objects, "Deployment", f"items-{role}-{key}")["spec"]["template"]["spec"]
            assert spec["nodeSelector"] == {"srelab.io/pool": f"backend-{key}"}
            term = spec["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]
            expr = term["nodeSelectorTerms"][0]["matchExpressions"][0]
            assert expr == {"key": "topology.kubernetes.io/zone", "operator": "In", "values": [gcp_zone]}
            env = {
                e["name"]: e
                for e in first_container(find(objects, "Deployment", f"items-{role}-{key}"))["env"]
            }
            assert env["ZONE"]["value"] == gcp_zone
            assert env["REPLICA"]["valueFrom"]["fieldRef"]["fieldPath"] == "metadata.name"
    objects[:] = [o for o in objects if o["metadata"]["name"] != "items-write-b"]
    assert v.check_zones(objects, params.zones) == ["zone b: expected one WRITE Deployment, found 0"]


def test_services_select_exactly_their_deployments(objects):
    assert v.check_services(objects) == []
    for role, spec in ROLES.items():
        svc = find(objects, "Service", spec["service"])
        assert svc["spec"]["clusterIP"] == "None"
        assert svc["spec"]["selector"]["app.kubernetes.io/component"] == role
    # A selector that also catches the WRITE pods must be reported.
    find(objects, "Service", "backend-read")["spec"]["selector"].pop("app.kubernetes.io/component")
    assert any("backend-read" in p and "expected exactly" in p for p in v.check_services(objects))


def test_service_port_must_exist_on_the_pods(objects):
    find(objects, "Service", "backend-write")["spec"]["ports"][0]["targetPort"] = "metrics"
    assert any("not exposed" in p for p in v.check_services(objects))


def test_get_goes_to_read_and_post_to_write_only(objects):
    assert v.check_routes(objects) == []
    route = find(objects, "IngressRoute", "items")
    matches = {
        tuple(re.findall(r"Method\(`([A-Z]+)`\)", r["match"])): v.route_backends(r, "backend", objects)
        for r in route["spec"]["routes"]
    }
    assert matches == {
        ("GET",): {"backend-read", "backend-read-direct"},
        ("POST",): {"backend-write", "backend-write-direct"},
    }
    route["spec"]["routes"][0]["services"][0]["name"] = "items-write-failover"
    assert v.check_routes(objects)


def test_failover_is_carried_over_from_compose(objects):
    """compose's items-failover (services/config/traefik/dynamic.yml): ready replicas first, every
    live one when none is ready. Traefik v3.7's TraefikService has failover (CRD of chart
    v41.3.0); healthCheck is refused on non-ExternalName Services (traefik v3.7.9
    pkg/provider/kubernetes/crd/kubernetes_http.go), so it switches on the 503 Traefik answers for a
    Service without ready endpoints. Traefik skips endpoints that are not serving (same file), so
    the fallback is reached through its ClusterIP (nativeLB) with publishNotReadyAddresses."""
    assert v.check_failover(objects) == []
    for role, spec in ROLES.items():
        ts = find(objects, "TraefikService", spec["failover"])["spec"]["failover"]
        assert ts["service"]["name"] == spec["service"] and ts["fallback"]["name"] == spec["fallback"]
        assert ts["errors"]["status"] == ["503"]
        fallback = find(objects, "Service", spec["fallback"])
        assert fallback["spec"]["publishNotReadyAddresses"] is True
        assert fallback["spec"]["selector"]["app.kubernetes.io/component"] == role
    find(objects, "Service", "backend-read-direct")["spec"]["publishNotReadyAddresses"] = False
    find(objects, "TraefikService", "items-write-failover")["spec"]["failover"]["fallback"].pop("nativeLB")
    problems = v.check_failover(objects)
    assert any("publishNotReadyAddresses" in p for p in problems)
    assert any("nativeLB" in p for p in problems)


def test_fallback_services_are_not_scraped_twice(objects):
    monitor = find(objects, "ServiceMonitor", "items")
    monitor["spec"]["selector"].pop("matchExpressions")
    assert any("also scrapes the fallback" in p for p in v.check_failover(objects))


def test_probe_and_metrics_paths_are_not_public(objects):
    assert v.check_internal_paths(objects) == []
    assert {"/livez", "/readyz", "/metrics"} <= v.internal_paths(objects)
    route = find(objects, "IngressRoute", "items")
    route["spec"]["routes"][1]["match"] = route["spec"]["routes"][1]["match"].replace(
        " && !Path(`/metrics`)", ""
    )
    assert any("exposes /metrics" in p for p in v.check_internal_paths(objects))


def test_a_route_without_method_to_a_backend_is_reported(objects):
    route = find(objects, "IngressRoute", "items")
    route["spec"]["routes"].append(
        {"kind": "Rule", "match": "PathPrefix(`/`)", "services": [{"name": "backend-read", "port": 8000}]}
    )
    assert any("one method" in p for p in v.check_routes(objects))


def test_middlewares_come_from_traefik_dynamic_config_in_router_order(objects):
    """compose's web router runs request-id@file, body-limit@file, retry-writes@file (dynamic.yml)."""
    dynamic = yaml.safe_load((FIXTURES / "files/services/config/traefik/dynamic.yml").read_text())
    defined = dynamic["http"]["middlewares"]
    assert find(objects, "Middleware", "request-id")["spec"] == defined["request-id"]
    assert find(objects, "Middleware", "retry-writes")["spec"] == defined["retry-writes"]
    assert find(objects, "Middleware", "body-limit")["spec"] == {"plugin": {"bodylimit": {"maxBytes": 16384}}}
    assert find(objects, "Middleware", "retry-writes")["spec"]["retry"]["retryNonIdempotentMethod"] is True
    route = find(objects, "IngressRoute", "items")
    for r in route["spec"]["routes"]:
        assert r["middlewares"] == [{"name": "request-id"}, {"name": "body-limit"}, {"name": "retry-writes"}]


def test_request_id_header_matches_the_items_service():
    """model.REQUEST_ID_DEFAULT mirrors the items service's default (its own source, in this repo)."""
    config = (ROOT / "services/web/items_service/config.py").read_text()
    assert re.search(rf'^PROXY_REQUEST_ID_HEADER = "{re.escape(REQUEST_ID_DEFAULT)}"$', config, re.M)
    assert f'env.get("{REQUEST_ID_ENV}"' in config


def write_pods(objects):
    return [o for o in objects if o["kind"] == "Deployment" and "-write-" in o["metadata"]["name"]]


@pytest.mark.parametrize(
    ("breakage", "expected"),
    [
        # The retry runs first: its attempts would each get a new id.
        (
            lambda objects: find(objects, "IngressRoute", "items")["spec"]["routes"][1][
                "middlewares"
            ].reverse(),
            "retries POSTs (Middleware retry-writes) without a request id stamped before it",
        ),
        (
            lambda objects: find(objects, "IngressRoute", "items")["spec"]["routes"][1]["middlewares"].pop(0),
            "a keyless POST can be stored twice",
        ),
        (
            lambda objects: find(objects, "Middleware", "request-id")["spec"]["plugin"]["requestid"].update(
                header="X-Other-Id"
            ),
            "(x-proxy-request-id)",
        ),
        # Items pods told to read no proxy id (or another header) take no implicit key.
        (
            lambda objects: [
                first_container(d)["env"].append({"name": REQUEST_ID_ENV, "value": ""})
                for d in write_pods(objects)
            ],
            "the items pods read none",
        ),
    ],
)
def test_post_retries_only_behind_the_request_id(objects, breakage, expected):
    assert v.check_post_retries(objects) == []
    breakage(objects)
    problems = v.check_post_retries(objects)
    assert len(problems) == 1 and expected in problems[0], problems


def test_without_the_request_id_post_retries_are_not_exported(params):
    """The fallback when nothing stamps the id before the retry (here: compose's router without
    request-id@file): the exported retry leaves POSTs alone and CONVERSION.md says so."""
    inputs = fixture_inputs()
    services = copy.deepcopy(inputs.services)
    for svc in services.values():
        labels = svc.get("labels") or {}
        if labels.get("srelab.role") == "web":
            labels["traefik.http.routers.items.middlewares"] = "retry-writes@file"
    rendered = render(with_services(inputs, services), params)
    objects = [o for _, o in rendered.objects]
    retry = find(objects, "Middleware", "retry-writes")["spec"]["retry"]
    assert "retryNonIdempotentMethod" not in retry and retry["attempts"] >= 1
    assert [o for o in objects if o["kind"] == "Middleware" and o["metadata"]["name"] == "request-id"] == []
    assert "keyless POSTs are not retried on the cluster" in rendered.files["CONVERSION.md"]
    assert v.problems(objects, params.kubernetes_version, params.zones) == []


def test_an_items_service_reading_another_header_drops_the_post_retry(params):
    inputs = fixture_inputs()
    services = copy.deepcopy(inputs.services)
    for svc in services.values():
        if (svc.get("labels") or {}).get("srelab.role") == "web":
            svc["environment"][REQUEST_ID_ENV] = "X-Another-Id"
    objects = [o for _, o in render(with_services(inputs, services), params).objects]
    assert "retryNonIdempotentMethod" not in find(objects, "Middleware", "retry-writes")["spec"]["retry"]
    assert v.check_post_retries(objects) == []


def test_a_plugin_compose_does_not_load_is_refused(params, tmp_path):
    inputs = fixture_copy(tmp_path)
    dynamic = tmp_path / "files/services/config/traefik/dynamic.yml"
    dynamic.write_text(dynamic.read_text().replace("requestid:", "otherplugin:"))
    with pytest.raises(
        LabError, match=r"middleware request-id uses plugin 'otherplugin', which compose's Traefik"
    ):
        render(inputs, params)


# --- scaling and disruption ---------------------------------------------------------------------
def test_hpas_target_deployments_without_replicas(objects, params):
    assert v.check_autoscaling(objects) == []
    hpas = [o for o in objects if o["kind"] == "HorizontalPodAutoscaler"]
    assert len(hpas) == 2 * len(params.zones)
    for hpa in hpas:
        assert hpa["apiVersion"] == "autoscaling/v2"
        assert (hpa["spec"]["minReplicas"], hpa["spec"]["maxReplicas"]) == (1, 3)
        assert hpa["spec"]["metrics"][0]["resource"]["name"] == "cpu"
    find(objects, "Deployment", "items-read-c")["spec"]["replicas"] = 2
    hpas[0]["spec"]["scaleTargetRef"]["name"] = "items-nope"
    problems = v.check_autoscaling(objects)
    assert any("spec.replicas" in p for p in problems)
    assert any("items-nope" in p for p in problems)


def test_each_deployment_has_one_pdb_with_max_unavailable(objects):
    assert v.check_disruption(objects) == []
    pdb = find(objects, "PodDisruptionBudget", "items-write-a")
    pdb["spec"]["minAvailable"] = pdb["spec"].pop("maxUnavailable")
    assert v.check_disruption(objects) == [
        "Deployment/backend/items-write-a: needs exactly one PodDisruptionBudget with maxUnavailable, has 1"
    ]


# --- containers ---------------------------------------------------------------------------------
def test_probes_resources_and_security_on_every_container(objects):
    assert v.check_containers(objects) == []
    c = first_container(find(objects, "Deployment", "items-read-b"))
    assert c["livenessProbe"]["httpGet"]["path"] == "/livez"
    assert c["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert c["resources"]["limits"] == {"cpu": "1", "memory": "192Mi"}


@pytest.mark.parametrize(
    ("breakage", "expected"),
    [
        (lambda c: c["livenessProbe"]["httpGet"].update(path="/readyz"), "must be an HTTP path other"),
        (lambda c: c.pop("startupProbe"), "startupProbe missing"),
        (lambda c: c["resources"].pop("limits"), "resources.limits"),
        (lambda c: c["securityContext"].update(allowPrivilegeEscalation=True), "allowPrivilegeEscalation"),
        (lambda c: c["securityContext"].update(readOnlyRootFilesystem=False), "readOnlyRootFilesystem"),
        (lambda c: c["securityContext"]["capabilities"].update(drop=["NET_RAW"]), "drop ALL"),
        (lambda c: c.update(volumeMounts=[]), "emptyDir for /tmp"),
        (lambda c: c.update(image=c["image"].rsplit(":", 1)[0] + ":latest"), "latest"),
        (lambda c: c.update(image=c["image"].rsplit(":", 1)[0]), "no tag"),
    ],
)
def test_container_checks_catch_breakage(objects, breakage, expected):
    breakage(first_container(find(objects, "Deployment", "items-write-c")))
    assert any(expected in p for p in v.check_containers(objects))


def test_redis_sidecar_is_checked_too(objects):
    redis = find(objects, "StatefulSet", "redis")
    assert [c["name"] for c in redis["spec"]["template"]["spec"]["containers"]] == ["redis", "exporter"]
    redis["spec"]["template"]["spec"]["containers"][1].pop("readinessProbe")
    assert any("exporter: readinessProbe missing" in p for p in v.check_containers(objects))


def test_images_are_pinned(objects, params):
    images = {c["image"] for o in objects if o["kind"] in v.WORKLOAD_KINDS for c in v.containers(o)}
    assert all(v.image_problems(i) == [] for i in images)
    assert f"{params.gcp.registry}/web:" in next(i for i in images if "/web:" in i)


# --- secrets ------------------------------------------------------------------------------------
def _secret_volume(pod: dict, name: str) -> dict:
    (volume,) = [v for v in pod["spec"]["template"]["spec"]["volumes"] if v["name"] == name]
    return volume["secret"]


def test_redis_passwords_are_secret_files_as_in_compose(objects, params):
    """compose's `secrets:` (srelab/stack/redis_acl.py): the items pods authenticate as `items` with a
    password file, Redis reads its aclfile, the exporter its own file; nothing in args or env."""
    for name in ("items-read-a", "items-write-c"):
        deployment = find(objects, "Deployment", name)
        container = first_container(deployment)
        env = {e["name"]: e.get("value") for e in container["env"]}
        assert env["REDIS_USERNAME"] == "items" and "REDIS_PASSWORD" not in env
        assert env["REDIS_PASSWORD_FILE"] == "/run/secrets/redis-items-password"
        assert {"name": "secrets", "mountPath": "/run/secrets", "readOnly": True} in container["volumeMounts"]
        secret = _secret_volume(deployment, "secrets")
        assert secret["secretName"] == params.secret_name
        # HA: also the Sentinels' password (REDIS_SENTINEL_PASSWORD_FILE).
        assert [i["key"] for i in secret["items"]] == ["redis-items-password", "sentinel-password"]
    redis_set = find(objects, "StatefulSet", "redis")
    redis = first_container(redis_set)
    assert "--requirepass" not in redis.get("args", [])
    assert not [e for e in redis.get("env", []) if "PASSWORD" in e["name"]]
    keys = [i["key"] for i in _secret_volume(redis_set, "secrets")["items"]]
    # HA: the replication password (masterauth) and the Sentinels' (asked for the primary).
    assert keys == [
        "redis-admin-password",
        "redis-health-password",
        "redis-replica-password",
        "redis-users.acl",
        "sentinel-password",
    ]
    (exporter,) = [c for c in redis_set["spec"]["template"]["spec"]["containers"] if c["name"] == "exporter"]
    assert [i["key"] for i in _secret_volume(redis_set, "exporter-secrets")["items"]] == [
        "redis-exporter-password.json"
    ]
    assert {e["name"]: e.get("value") for e in exporter["env"]}["REDIS_ADDR"] == "redis://localhost:6379"


def test_create_secrets_makes_the_same_aclfile_as_srelab(rendered, params, tmp_path):
    """create-secrets.sh builds the Secret's files from the compose/.env variables: run its file
    writers (kubectl left out) and compare with what srelab writes for compose."""
    from srelab.stack import redis_acl

    script = rendered.files["create-secrets.sh"]
    passwords = {variable: f"pw-{variable.lower()}" for variable, _ in redis_acl.USERS.values()}
    body = "\n".join(
        line for line in script.splitlines() if "kubectl" not in line and "--dry-run" not in line
    )
    body = body.replace("workdir=$(mktemp -d)", f"workdir={tmp_path}").replace(
        "trap 'rm -rf \"$workdir\"' EXIT", ""
    )
    required = {name: "x" for name in re.findall(r"\$\{([A-Z_]+):\?", body)}
    env = {"PATH": "/usr/bin:/bin", **required, **passwords}
    subprocess.run(["bash", "-c", body], env=env, check=True)
    acl = (tmp_path / "data" / "redis-users.acl").read_text()
    assert acl == redis_acl.acl_file(passwords)
    assert (tmp_path / "backend" / "redis-items-password").read_text() == "pw-redis_items_password\n"
    exporter = json.loads((tmp_path / "data" / "redis-exporter-password.json").read_text())
    assert exporter == {"redis://localhost:6379": "pw-redis_exporter_password"}


def test_no_secret_value_in_the_frozen_render(fixture_render):
    values = [value for value in fixture_inputs().secrets if len(value) >= 6]
    assert "fixture-secret-redis-password" in values
    for path, text in fixture_render.files.items():
        assert not any(value in text for value in values), path


def test_no_secret_value_in_the_live_render(live_render):
    values = [value for value in secret_values() if len(value) >= 6]
    assert values, "compose/.env has no secret values to look for"
    for path, text in live_render.files.items():
        assert not any(value in text for value in values), path


# --- network policies ---------------------------------------------------------------------------
def test_every_pod_is_selected_by_a_network_policy(objects):
    assert v.check_network_policies(objects) == []
    objects[:] = [
        o for o in objects if not (o["kind"] == "NetworkPolicy" and o["metadata"]["namespace"] == "data")
    ]
    problems = v.check_network_policies(objects)
    assert "namespace data: no default-deny ingress NetworkPolicy" in problems
    assert any("StatefulSet/data/redis" in p and "selected by no NetworkPolicy" in p for p in problems)


def test_only_the_listed_flows_are_allowed(objects):
    flows = set()
    for policy in (o for o in objects if o["kind"] == "NetworkPolicy"):
        for rule in policy["spec"].get("ingress") or []:
            for peer in rule["from"]:
                source = (
                    peer.get("ipBlock", {}).get("cidr")
                    or peer["namespaceSelector"]["matchLabels"]["kubernetes.io/metadata.name"]
                )
                flows.add((source, policy["metadata"]["namespace"], policy["metadata"]["name"]))
    assert flows == {
        ("0.0.0.0/0", "traefik", "allow-loadbalancer-to-traefik"),
        ("monitoring", "traefik", "allow-prometheus-to-traefik"),
        ("traefik", "backend", "allow-traefik-to-items"),
        ("monitoring", "backend", "allow-prometheus-to-items"),
        ("backend", "data", "allow-items-to-redis"),
        ("monitoring", "data", "allow-prometheus-to-redis-exporter"),
        ("monitoring", "monitoring", "allow-within-monitoring"),
        ("traefik", "monitoring", "allow-traefik-to-grafana"),
        ("monitoring", "traefik", "allow-blackbox-to-traefik"),
        ("monitoring", "monitoring", "allow-prometheus-to-blackbox"),
        ("monitoring", "monitoring", "allow-alertmanager-to-alert-sink"),
        # Redis HA (the default topology): tests/export/test_redis_ha.py checks each edge's pods/ports.
        ("backend", "data", "allow-items-to-sentinel"),
        ("data", "data", "allow-sentinel-to-redis"),
        ("data", "data", "allow-redis-to-redis"),
        ("data", "data", "allow-redis-to-sentinel"),
        ("data", "data", "allow-sentinel-to-sentinel"),
    }


def test_loki_admits_only_the_monitoring_namespace(objects):
    assert v.check_network_policies(objects) == []
    leak = {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": {"name": "allow-traefik-to-all", "namespace": "monitoring"},
        "spec": {
            "podSelector": {},
            "policyTypes": ["Ingress"],
            "ingress": [
                {"from": [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "traefik"}}}]}
            ],
        },
    }
    objects.append(leak)
    assert any("to Loki" in p for p in v.check_network_policies(objects))


def test_selector_matching():
    labels = {"app": "items", "tier": "backend"}
    assert v.selector_matches({}, labels)
    assert v.selector_matches({"matchLabels": {"app": "items"}}, labels)
    assert not v.selector_matches({"matchLabels": {"app": "redis"}}, labels)
    assert v.selector_matches(
        {"matchExpressions": [{"key": "tier", "operator": "In", "values": ["backend"]}]}, labels
    )
    assert not v.selector_matches({"matchExpressions": [{"key": "tier", "operator": "DoesNotExist"}]}, labels)


def test_problems_aggregates_everything(objects, params):
    assert v.problems(objects, params.kubernetes_version, params.zones) == []
    find(objects, "Service", "backend-read")["spec"].pop("clusterIP")
    assert v.problems(objects, params.kubernetes_version, params.zones)


# --- inputs -------------------------------------------------------------------------------------
def test_monitoring_profile_absent_falls_back_to_lab_env_pins(params):
    """Before monitoring.yaml defines its services, the export still renders, with the lab.env pins."""
    from srelab.export.inputs import Inputs
    from srelab.export.render import render

    inputs = fixture_inputs()
    core = {n: s for n, s in inputs.services.items() if "profiles" not in s}
    assert "redis-exporter" not in core and "grafana" not in core
    pins = {
        "prometheus": "prom/prometheus:v9.9.9",
        "grafana": "grafana/grafana:9.9.9",
        "loki": "grafana/loki:9.9.9",
        "redis-exporter": "oliver006/redis_exporter:v9.9.9",
    }
    rendered = render(
        Inputs(services=core, secrets=inputs.secrets, pins=pins, base_dir=inputs.base_dir), params
    )
    redis = find([o for _, o in rendered.objects], "StatefulSet", "redis")
    assert redis["spec"]["template"]["spec"]["containers"][1]["image"] == pins["redis-exporter"]
    assert "tag: 9.9.9" in rendered.files["helm/kube-prometheus-stack-values.yaml"]
    assert v.problems([o for _, o in rendered.objects], params.kubernetes_version, params.zones) == []


def test_local_image_builds_map_back_to_upstream_pins():
    from srelab.export.inputs import upstream_images
    from srelab.stack.settings import get_settings

    settings = get_settings()
    local = settings.local_image(settings.redis_image)
    services = {"redis": {"image": local}, "web-a": {"image": settings.web_image}}
    mapped = upstream_images(services, settings)
    assert mapped["redis"]["image"] == settings.redis_image
    assert mapped["web-a"]["image"] == settings.web_image
