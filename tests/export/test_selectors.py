"""Dashboards and rules select labels the cluster really produces; the rules pass promtool.

What the cluster produces is derived here from the rendered objects with upstream's rules, not
from the export's own translation table:
- Prometheus `job`: prometheus-operator v0.93.0 ServiceMonitorSpec.jobLabel
  (pkg/apis/monitoring/v1/servicemonitor_types.go): the value of the Service label named by
  jobLabel, else the Service's name.
- The Traefik chart's ServiceMonitor (traefik-helm-chart v41.3.0 templates/servicemonitor.yaml)
  selects Service `traefik-metrics` (templates/_service.tpl traefik.service-name) whose labels
  are traefik.metricsservicelabels (templates/_service-metrics.tpl); jobLabel defaults to the
  release name.
- kube-prometheus-stack 88.5.3 templates/prometheus/servicemonitor.yaml (no jobLabel) scrapes
  Service kube-prometheus-stack-prometheus (templates/prometheus/service.yaml, fullname helper).
- kube-prometheus-stack 88.5.3 templates/alertmanager/servicemonitor.yaml (no jobLabel) scrapes
  Service kube-prometheus-stack-alertmanager (templates/alertmanager/service.yaml).
- A Probe's job: prometheus-operator v0.93.0 pkg/prometheus/promcfg.go generateProbeConfig
  relabels `job` to spec.jobName when set; otherwise the job stays probe/<namespace>/<name>.
- Loki `service`: our Alloy config copies the pod label named in its relabel rule.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from srelab.export import validate as v
from srelab.export.model import CHART_POD_LABELS
from srelab.export.selectors import matchers, translate, translate_dashboard

TRAEFIK_METRICS_SERVICE = {
    "name": "traefik-metrics",
    "labels": {
        "app.kubernetes.io/name": "traefik",
        "app.kubernetes.io/instance": "traefik-traefik",
        "app.kubernetes.io/component": "metrics",
        "app.kubernetes.io/managed-by": "Helm",
    },
    "default_job_label": "traefik",  # .Release.Name
}
KPS_PROMETHEUS_SERVICE = "kube-prometheus-stack-prometheus"
KPS_ALERTMANAGER_SERVICE = "kube-prometheus-stack-alertmanager"
# Streams pushed to Loki from outside any pod (srelab chaos writes its fault annotations itself).
EXTERNAL_STREAMS = {"srelab-chaos"}


def job_of(service: dict[str, Any], job_label: str | None) -> str:
    labels = (service.get("metadata") or {}).get("labels") or {}
    return labels.get(job_label or "") or service["metadata"]["name"]


def produced_jobs(objects: list[dict[str, Any]], traefik_values: dict[str, Any]) -> set[str]:
    jobs = set()
    for sm in v.of_kind(objects, "ServiceMonitor"):
        spec = sm["spec"]
        names = (spec.get("namespaceSelector") or {}).get("matchNames") or [sm["metadata"]["namespace"]]
        for svc in v.of_kind(objects, "Service"):
            if svc["metadata"]["namespace"] in names and v.selector_matches(
                spec.get("selector"), svc["metadata"].get("labels") or {}
            ):
                jobs.add(job_of(svc, spec.get("jobLabel")))
    sm_values = traefik_values["metrics"]["prometheus"]["serviceMonitor"]
    label = sm_values.get("jobLabel") or TRAEFIK_METRICS_SERVICE["default_job_label"]
    jobs.add(TRAEFIK_METRICS_SERVICE["labels"].get(label) or TRAEFIK_METRICS_SERVICE["name"])
    jobs.add(KPS_PROMETHEUS_SERVICE)
    jobs.add(KPS_ALERTMANAGER_SERVICE)
    for probe in v.of_kind(objects, "Probe"):
        meta = probe["metadata"]
        jobs.add(probe["spec"].get("jobName") or f"probe/{meta['namespace']}/{meta['name']}")
    return jobs


def produced_services(objects: list[dict[str, Any]], alloy_values: dict[str, Any]) -> set[str]:
    config = alloy_values["alloy"]["configMap"]["content"]
    rule = re.search(
        r'source_labels\s*=\s*\["__meta_kubernetes_pod_label_([a-z0-9_]+)"\]\s*target_label\s*=\s*"service"',
        config,
    )
    assert rule, "the Alloy config sets no `service` label"
    wanted = rule.group(1)
    values = set()
    pods = [v.pod_labels(o) for o in objects if o.get("kind") in v.WORKLOAD_KINDS]
    pods += list(CHART_POD_LABELS.values())
    for labels in pods:
        for key, value in labels.items():
            # Prometheus service discovery sanitises label names: non [a-zA-Z0-9_] become _.
            if re.sub(r"[^a-zA-Z0-9_]", "_", key) == wanted:
                values.add(value)
    return values


def helm(rendered, name: str) -> dict[str, Any]:
    return yaml.safe_load(rendered.files[f"helm/{name}-values.yaml"])


def selector_exprs(rendered) -> list[tuple[str, str, str]]:
    """(where, datasource type, expression) of every dashboard query and rule."""
    found = []

    def walk(node: Any, ds: str | None, where: str) -> None:
        if isinstance(node, list):
            for item in node:
                walk(item, ds, where)
        elif isinstance(node, dict):
            if isinstance(node.get("datasource"), dict) and node["datasource"].get("type"):
                ds = node["datasource"]["type"]
            for key, value in node.items():
                if key in ("expr", "query") and isinstance(value, str) and ds:
                    found.append((where, ds, value))
                else:
                    walk(value, ds, where)

    for path, text in rendered.files.items():
        if path.startswith("monitoring/dashboards/"):
            walk(json.loads(text), None, path)
    for _, obj in rendered.objects:
        if obj["kind"] == "PrometheusRule":
            for group in obj["spec"]["groups"]:
                for rule in group["rules"]:
                    found.append(
                        (f"rule {rule.get('alert') or rule.get('record')}", "prometheus", rule["expr"])
                    )
    return found


def unmatched(rendered, objects) -> list[str]:
    jobs = produced_jobs(objects, helm(rendered, "traefik"))
    services = produced_services(objects, helm(rendered, "alloy"))
    out = []
    for where, ds, expr in selector_exprs(rendered):
        label, produced = {"prometheus": ("job", jobs), "loki": ("service", services | EXTERNAL_STREAMS)}.get(
            ds, (None, set())
        )
        for op, value in matchers(expr, label) if label else []:
            if "$" in value:
                continue
            hit = {p for p in produced if (re.fullmatch(value, p) if "~" in op else p == value)}
            if op.startswith("!"):
                hit = produced - hit
            if not hit:
                out.append(
                    f"{where}: {label}{op}{value!r} matches nothing on the cluster ({sorted(produced)})"
                )
    return out


def test_the_cluster_produces_compose_jobs_and_services(rendered, objects):
    jobs = produced_jobs(objects, helm(rendered, "traefik"))
    assert {"items", "redis", "traefik"} <= jobs
    assert "items" in produced_services(objects, helm(rendered, "alloy"))


def test_every_dashboard_and_rule_selector_matches_what_the_cluster_produces(rendered, objects):
    assert selector_exprs(rendered)
    assert unmatched(rendered, objects) == []


def test_repository_dashboards_select_real_labels(params):
    """grafana/dashboards as they are now (the fixture has two small ones)."""
    from srelab.export.inputs import DASHBOARDS_DIR
    from srelab.export.render import render
    from tests.export.helpers import fixture_inputs

    rendered = render(fixture_inputs(DASHBOARDS_DIR), params)
    assert any('job="web"' in p.read_text() or "web-" in p.read_text() for p in DASHBOARDS_DIR.glob("*.json"))
    assert unmatched(rendered, [o for _, o in rendered.objects]) == []


def test_compose_selectors_would_match_nothing(fixture_render):
    """The check catches compose's own selectors (what the export wrote before translating)."""
    objects = [o for _, o in fixture_render.objects]
    broken = dict(fixture_render.files)
    broken["monitoring/dashboards/x.json"] = json.dumps(
        {
            "panels": [
                {"datasource": {"type": "prometheus"}, "targets": [{"expr": 'count(up{job="web"} == 1)'}]},
                {"datasource": {"type": "loki"}, "targets": [{"expr": '{service=~"web-.+"} |= "error"'}]},
            ]
        }
    )
    found = unmatched(
        type(fixture_render)(broken, fixture_render.objects, [], fixture_render.context), objects
    )
    assert any("job='web'" in p for p in found) and any("service=~'web-.+'" in p for p in found)


@pytest.mark.parametrize(
    ("expr", "label", "expected"),
    [
        ('up{job="web"} == 0', "job", 'up{job="items"} == 0'),
        ('{service=~"web-.+", zone=~"$zone"}', "service", '{service="items", zone=~"$zone"}'),
        ('{service=~"web-a|redis"}', "service", '{service=~"items|redis"}'),
        ('{service="srelab-chaos"}', "service", '{service="srelab-chaos"}'),
        ('{service=~"$service"}', "service", '{service=~"$service"}'),
        ('sum by (job) (up{job!="web"})', "job", 'sum by (job) (up{job!="items"})'),
        ('rate(x{route!~"/(livez|readyz)"}[1m])', "job", 'rate(x{route!~"/(livez|readyz)"}[1m])'),
    ],
)
def test_translate(expr, label, expected):
    mapping = {
        "job": {"web": ["items"], "redis": ["redis"]},
        "service": {"web-a": ["items"], "web-b": ["items"], "redis": ["redis"]},
    }[label]
    assert translate(expr, label, mapping) == expected


def test_a_negative_matcher_that_cannot_be_expressed_is_refused():
    from srelab.errors import LabError

    with pytest.raises(LabError, match="cannot be expressed"):
        translate('{service!="web-a"}', "service", {"web-a": ["items"], "web-b": ["items"]})


def test_unchanged_dashboards_keep_their_text():
    text = '{"panels": [{"datasource": {"type": "prometheus"}, "targets": [{"expr": "up"}]}]}\n'
    assert translate_dashboard(text, {"job": {"web": ["items"]}, "service": {}}) == text


# --- the PrometheusRule -------------------------------------------------------------------------
def test_rules_come_from_the_compose_rule_files(fixture_render):
    (rule,) = [o for _, o in fixture_render.objects if o["kind"] == "PrometheusRule"]
    files = sorted(Path("tests/export/fixtures/files/services/config/prometheus/rules").glob("*.yml"))
    groups = [g for f in files for g in yaml.safe_load(f.read_text())["groups"]]
    assert [g["name"] for g in rule["spec"]["groups"]] == [g["name"] for g in groups]
    for got, want in zip(rule["spec"]["groups"], groups, strict=True):
        assert [r.get("alert") or r.get("record") for r in got["rules"]] == [
            r.get("alert") or r.get("record") for r in want["rules"]
        ]
    assert v.schema_problems(rule, "1.34") == []


@pytest.mark.parametrize(
    ("breakage", "expected"),
    [
        (lambda r: r["spec"]["groups"][0]["rules"][0].pop("expr"), "expr"),
        (
            lambda r: r["spec"]["groups"][0]["rules"][0].update(record="x:y"),
            "exactly one of record and alert",
        ),
        (
            lambda r: r["spec"]["groups"][0]["rules"][0].update({"for": "30 seconds"}),
            "not a Prometheus duration",
        ),
        (lambda r: r["spec"]["groups"].append(dict(r["spec"]["groups"][0])), "unique"),
        (lambda r: r["spec"]["groups"][0].update(evaluation_interval="1m"), "unknown fields"),
    ],
)
def test_prometheus_rule_checks_catch_breakage(objects, params, breakage, expected):
    rule = next(o for o in objects if o["kind"] == "PrometheusRule")
    assert v.schema_problems(rule, params.kubernetes_version) == []
    breakage(rule)
    assert any(expected in p for p in v.schema_problems(rule, params.kubernetes_version))


def test_promtool_accepts_the_rendered_rules(rendered, tmp_path):
    promtool = shutil.which("promtool")
    if promtool is None:
        pytest.fail("promtool not found: apt-get install prometheus (it ships promtool)", pytrace=False)
    (rule,) = [o for _, o in rendered.objects if o["kind"] == "PrometheusRule"]
    path = tmp_path / "rules.yml"
    path.write_text(yaml.safe_dump({"groups": rule["spec"]["groups"]}, sort_keys=False))
    result = subprocess.run(
        [promtool, "check", "rules", str(path)], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stdout + result.stderr
    broken = tmp_path / "broken.yml"
    broken.write_text(path.read_text().replace("up{", "up{{", 1))
    assert subprocess.run(
        [promtool, "check", "rules", str(broken)], capture_output=True, timeout=60
    ).returncode
