"""Detection on the cluster (issue 10): the blackbox exporter and its Probes, the rules that read
them and Traefik, the AlertmanagerConfig and its webhook receiver.

Upstream facts behind the checks (read at the pinned versions):
- prometheus-operator v0.93.0 (kube-prometheus-stack 88.5.3): pkg/prometheus/promcfg.go
  generateProbeConfig sets `job` to a Probe's spec.jobName and passes spec.module as a URL
  parameter only; pkg/apis/monitoring/v1/probe_types.go and
  pkg/apis/monitoring/v1alpha1/alertmanager_config_types.go give the fields validate.py allows.
- traefik v3.7.9: pkg/healthcheck/healthcheck.go is the only writer of traefik_service_server_up
  (active and passive health checks); pkg/provider/kubernetes/crd/kubernetes_http.go names
  services <namespace>-<name>-<port>, and the CRD provider allows healthCheck on ExternalName
  Services only, so the cluster's items Services have no such series.
- kube-state-metrics v2.20.0 (subchart 8.4.0): kube_deployment_status_replicas_ready, the ready
  pods of a Deployment, scraped with honorLabels (its own namespace label).
- kube-prometheus-stack 88.5.3: tests/export/chart_facts.py KPS_ALERTMANAGER_FACTS.
"""

from __future__ import annotations

import copy
import re

import pytest
import yaml
from dotenv import dotenv_values

from srelab.errors import LabError
from srelab.export import validate as v
from srelab.export.render import render
from srelab.export.selectors import replace_server_up, translate_rule_group
from srelab.stack.settings import LAB_ENV
from tests.export.chart_facts import KPS_ALERTMANAGER_FACTS
from tests.export.helpers import FIXTURES, fixture_inputs


def find(objects, kind, name):
    return next(o for o in objects if o["kind"] == kind and o["metadata"]["name"] == name)


def rules(objects) -> dict[str, str]:
    rule = next(o for o in objects if o["kind"] == "PrometheusRule")
    return {r.get("alert") or r["record"]: r["expr"] for g in rule["spec"]["groups"] for r in g["rules"]}


def compose_blackbox(rendered) -> tuple[dict, list[dict]]:
    """compose's blackbox modules and its Prometheus blackbox job, as the export read them."""
    inputs = rendered.context.values
    assert inputs["blackbox"], "the export rendered no blackbox exporter"
    modules = yaml.safe_load(inputs["blackbox"]["config"])["modules"]
    return modules, inputs["blackbox"]["probes"]


# --- rules ----------------------------------------------------------------------------------------
def test_rules_never_read_traefik_server_up_on_the_cluster(objects):
    exprs = rules(objects)
    assert not [name for name, expr in exprs.items() if "traefik_service_server_up" in expr]


def test_no_replica_ready_counts_the_ready_items_pods(objects):
    expr = rules(objects)["NoReplicaReady"]
    match = re.search(
        r'kube_deployment_status_replicas_ready\{namespace="backend", deployment=~"([^"]+)"\}', expr
    )
    assert match, expr
    items = {d["metadata"]["name"] for d in v.items_deployments(objects)}
    assert set(match.group(1).split("|")) == items
    # Same shape as compose: the sum of ready replicas, 0 when there are none.
    assert expr.startswith("(sum(") and expr.rstrip().endswith("or vector(0)) == 0")


@pytest.mark.parametrize(
    "expr",
    [
        'sum(traefik_service_server_up{service="other@docker"})',
        'sum(traefik_service_server_up{service="items@docker", url="x"})',
        "sum(traefik_service_server_up)",
        'traefik_service_server_up{service=~"items@docker"}',
    ],
)
def test_server_up_rewrite_refuses_what_it_cannot_carry(expr):
    with pytest.raises(LabError, match="traefik_service_server_up"):
        replace_server_up(expr, {"items@docker": "ready"})


def test_server_up_rewrite_leaves_other_series_alone():
    expr = 'sum(traefik_service_server_up{service="items@docker"}) + traefik_service_requests_total'
    assert replace_server_up(expr, {"items@docker": "ready"}) == "sum(ready) + traefik_service_requests_total"


def test_probe_job_is_the_probes_job_name(objects):
    exprs = rules(objects)
    jobs = {p["spec"]["jobName"] for p in objects if p["kind"] == "Probe"}
    assert jobs == {"blackbox"}
    assert 'probe_success{job="blackbox"}' in exprs["ItemsProbeFailing"]
    assert 'up{job="blackbox"}' in exprs["ProbeExporterDown"]


def test_alertmanager_job_is_the_charts_service_name(fixture_render):
    assert fixture_render.context.values["label_maps"]["job"]["alertmanager"] == [
        "kube-prometheus-stack-alertmanager"
    ]


def test_slo_entrypoint_follows_the_routers_entrypoint(fixture_render, params):
    """The items routers listen on web, or on websecure with TLS: the SLO ratios read that one."""
    plain = rules([o for _, o in fixture_render.objects])["slo:items_errors:ratio_rate1m"]
    assert 'entrypoint="web"' in plain and "websecure" not in plain
    tls = render(fixture_inputs(), params.model_copy(update={"tls_secret": "items-tls"}))
    expr = rules([o for _, o in tls.objects])["slo:items_errors:ratio_rate1m"]
    assert 'entrypoint="websecure"' in expr and 'entrypoint="web"' not in expr
    route = find([o for _, o in tls.objects], "IngressRoute", "items")
    assert route["spec"]["entryPoints"] == ["websecure"]


def test_translate_rule_group_rewrites_job_entrypoint_and_server_up():
    group = {
        "name": "g",
        "rules": [
            {"alert": "A", "expr": 'probe_success{job="blackbox"} == 0'},
            {"alert": "B", "expr": 'rate(traefik_entrypoint_requests_total{entrypoint="web"}[1m])'},
            {
                "alert": "C",
                "expr": '(sum(traefik_service_server_up{service="items@docker"}) or vector(0)) == 0',
            },
        ],
    }
    maps = {"job": {"blackbox": ["blackbox"]}, "entrypoint": {"web": ["websecure"]}}
    out = translate_rule_group(group, maps, {"items@docker": "ready_pods"})
    assert [r["expr"] for r in out["rules"]] == [
        'probe_success{job="blackbox"} == 0',
        'rate(traefik_entrypoint_requests_total{entrypoint="websecure"}[1m])',
        "(sum(ready_pods) or vector(0)) == 0",
    ]


# --- blackbox exporter and Probes -------------------------------------------------------------------
def test_one_probe_per_compose_target_through_the_cluster_traefik(rendered, objects, params):
    modules, _ = compose_blackbox(rendered)
    probes = [o for o in objects if o["kind"] == "Probe"]
    assert {p["spec"]["module"] for p in probes} == set(modules)
    for probe in probes:
        spec = probe["spec"]
        static = spec["targets"]["staticConfig"]
        # compose's `module` label: the rules' summaries read $labels.module.
        assert static["labels"]["module"] == spec["module"]
        assert spec["prober"]["url"] == "blackbox-exporter.monitoring.svc:9115"
        assert "://" not in spec["prober"]["url"]
        for target in static["static"]:
            assert target.startswith("http://traefik.traefik.svc.cluster.local:80/"), target


def test_probe_targets_keep_composes_paths_and_modules(fixture_render):
    """Each compose blackbox target (prometheus.yml) is probed at the same path with its module."""
    config = yaml.safe_load((FIXTURES / "files/services/config/prometheus/prometheus.yml").read_text())
    job = next(j for j in config["scrape_configs"] if j["job_name"] == "blackbox")
    wanted = {
        (static["labels"]["module"], re.sub(r"^https?://[^/]+", "", target))
        for static in job["static_configs"]
        for target in static["targets"]
    }
    got = {
        (p["spec"]["module"], re.sub(r"^https?://[^/]+", "", target))
        for _, p in fixture_render.objects
        if p["kind"] == "Probe"
        for target in p["spec"]["targets"]["staticConfig"]["static"]
    }
    assert got == wanted and ("items_get", "/items?limit=1") in got


def test_exporter_runs_the_lab_env_image_with_the_cluster_host(objects, params):
    deployment = find(objects, "Deployment", "blackbox-exporter")
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    # The pin in compose/lab.env (not the settings: a test process that ran the stack with local
    # images has BLACKBOX_IMAGE pointing at the local build in its environment).
    assert container["image"] == dotenv_values(LAB_ENV)["BLACKBOX_IMAGE"]
    config = yaml.safe_load(find(objects, "ConfigMap", "blackbox-exporter")["data"]["config.yml"])
    hosts = {m["http"]["headers"].get("Host") for m in config["modules"].values()}
    assert hosts == {params.items_host}
    mount = next(m for m in container["volumeMounts"] if m["name"] == "config")
    flag = next(a for a in container["args"] if a.startswith("--config.file="))
    assert flag.split("=", 1)[1] == mount["mountPath"]


def test_tls_probes_use_websecure_and_the_items_name(params):
    tls = render(fixture_inputs(), params.model_copy(update={"tls_secret": "items-tls"}))
    objects = [o for _, o in tls.objects]
    for probe in (o for o in objects if o["kind"] == "Probe"):
        for target in probe["spec"]["targets"]["staticConfig"]["static"]:
            assert target.startswith("https://traefik.traefik.svc.cluster.local:443/")
    config = yaml.safe_load(find(objects, "ConfigMap", "blackbox-exporter")["data"]["config.yml"])
    assert {m["http"]["tls_config"]["server_name"] for m in config["modules"].values()} == {params.items_host}
    assert v.check_detection_flows(objects) == []


def test_kps_prometheus_selects_the_probes(rendered):
    values = yaml.safe_load(rendered.files["helm/kube-prometheus-stack-values.yaml"])
    # chart 88.5.3: true would select only Probes labelled release=kube-prometheus-stack.
    assert (
        values["prometheus"]["prometheusSpec"][KPS_ALERTMANAGER_FACTS["probe_selector_nil_uses_helm_values"]]
        is False
    )


# --- Alertmanager ---------------------------------------------------------------------------------
def test_alertmanager_config_routes_every_srelab_alert_to_the_webhook(objects):
    config = find(objects, "AlertmanagerConfig", "srelab")
    route = config["spec"]["route"]
    (matcher,) = route["matchers"]
    assert matcher["name"] == "alertname" and matcher["matchType"] == "=~"
    alerts = {name for name, _ in rules(objects).items() if not name.startswith(("slo:", "route:"))}
    assert set(matcher["value"].split("|")) == {a for a in alerts if ":" not in a}
    (receiver,) = config["spec"]["receivers"]
    assert route["receiver"] == receiver["name"] == "lab-webhook"
    (hook,) = receiver["webhookConfigs"]
    assert hook["url"] == "http://alert-sink.monitoring.svc:9095/alerts"
    assert hook["sendResolved"] is True
    # compose's short waits carry over (a lab fault lasts seconds).
    assert route["groupWait"] == "2s" and route["groupBy"] == ["alertname"]


def test_kps_alertmanager_selects_the_config(rendered, objects):
    values = yaml.safe_load(rendered.files["helm/kube-prometheus-stack-values.yaml"])
    spec = values["alertmanager"]["alertmanagerSpec"]
    config = find(objects, "AlertmanagerConfig", "srelab")
    selector = spec[KPS_ALERTMANAGER_FACTS["config_selector"]]
    assert v.selector_matches(selector, config["metadata"]["labels"])
    strategy = spec[KPS_ALERTMANAGER_FACTS["matcher_strategy"]]["type"]
    assert strategy in KPS_ALERTMANAGER_FACTS["matcher_strategy_types"]
    # OnNamespace would add namespace="monitoring" and miss the summed alerts, which have none.
    assert strategy != "OnNamespace"
    assert config["metadata"]["namespace"] == "monitoring"


def test_alert_sink_runs_composes_script_as_non_root(rendered, objects):
    deployment = find(objects, "Deployment", "alert-sink")
    pod = deployment["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    assert container["image"] == rendered.context.values["web"]["image"]
    assert container["command"] == ["python", "/srv/alert_sink.py", "9095"]
    assert pod["securityContext"]["runAsNonRoot"] and pod["securityContext"]["runAsUser"] == 10001
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    script = find(objects, "ConfigMap", "alert-sink")["data"]["alert_sink.py"]
    assert "def do_POST" in script
    assert rendered.context.values["alerting"]["sink"]["script"].strip() == script.strip()


# --- validation ------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("kind", "name", "breakage", "expected"),
    [
        ("Probe", "blackbox-items-get", lambda o: o["spec"].update(modules="x"), "unknown spec fields"),
        (
            "Probe",
            "blackbox-items-get",
            lambda o: o["spec"]["prober"].update(url="http://x:1"),
            "without a scheme",
        ),
        ("Probe", "blackbox-items-get", lambda o: o["spec"]["prober"].update(scheme="ftp"), "prober.scheme"),
        ("Probe", "blackbox-items-get", lambda o: o["spec"].pop("targets"), "staticConfig or ingress"),
        ("Probe", "blackbox-items-get", lambda o: o["spec"].update(interval="2 s"), "Prometheus duration"),
        (
            "Probe",
            "blackbox-items-get",
            lambda o: o["spec"]["targets"]["staticConfig"].update(targets=["x"]),
            "unknown staticConfig fields",
        ),
        (
            "AlertmanagerConfig",
            "srelab",
            lambda o: o["spec"]["route"]["matchers"][0].update(matchType="~"),
            "matchType",
        ),
        (
            "AlertmanagerConfig",
            "srelab",
            lambda o: o["spec"]["route"].update(receiver="nobody"),
            "not one of",
        ),
        (
            "AlertmanagerConfig",
            "srelab",
            lambda o: o["spec"]["route"].update(group_wait="2s"),
            "unknown route",
        ),
        (
            "AlertmanagerConfig",
            "srelab",
            lambda o: o["spec"]["receivers"][0]["webhookConfigs"][0].pop("url"),
            "url or urlSecret",
        ),
        (
            "AlertmanagerConfig",
            "srelab",
            lambda o: o["spec"]["receivers"][0]["webhookConfigs"][0].update(send_resolved=True),
            "unknown webhook fields",
        ),
    ],
)
def test_detection_crd_checks_catch_breakage(objects, params, kind, name, breakage, expected):
    obj = find(objects, kind, name)
    assert v.schema_problems(obj, params.kubernetes_version) == []
    broken = copy.deepcopy(obj)
    breakage(broken)
    assert any(expected in p for p in v.schema_problems(broken, params.kubernetes_version))


def test_detection_flows_hold_and_the_check_sees_a_missing_one(objects):
    assert v.check_detection_flows(objects) == []
    without = [o for o in objects if o["metadata"].get("name") != "allow-blackbox-to-traefik"]
    assert any("may not reach Traefik" in p for p in v.check_detection_flows(without))
    without = [o for o in objects if o["metadata"].get("name") != "allow-prometheus-to-blackbox"]
    # allow-within-monitoring still lets Prometheus in.
    assert v.check_detection_flows(without) == []


def test_only_alertmanager_reaches_the_alert_sink(objects):
    within = find(objects, "NetworkPolicy", "allow-within-monitoring")
    sink = find(objects, "Deployment", "alert-sink")
    assert not v.selector_matches(within["spec"]["podSelector"], v.pod_labels(sink))
    assert v.selector_matches(within["spec"]["podSelector"], {"app.kubernetes.io/name": "grafana"})
    widened = copy.deepcopy(objects)
    find(widened, "NetworkPolicy", "allow-within-monitoring")["spec"]["podSelector"] = {}
    assert any("only Alertmanager may" in p for p in v.check_detection_flows(widened))
