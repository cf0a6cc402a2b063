"""Rendered Helm values against the pinned charts' own rules (tests/export/chart_facts.py), the
CRD step of helm/install.sh, and the upstream behaviour the values rely on (each fact with its
source)."""

from __future__ import annotations

import copy
import posixpath
import re
import subprocess
from typing import Any

import pytest
import yaml

from srelab.export.model import OPERATOR_MIN_PROMETHEUS, prometheus_supported
from srelab.export.render import load_charts, render
from srelab.stack.settings import ROOT
from tests.export.chart_facts import (
    CHARTS,
    TRAEFIK_IMAGE_WORKDIR,
    TRAEFIK_LOCAL_GOPATH,
    TRAEFIK_LOCAL_PLUGIN_CONFIGMAP,
    TRAEFIK_LOCAL_PLUGIN_SOURCES,
    TRAEFIK_LOCAL_PLUGIN_TYPES,
    Chart,
)
from tests.export.helpers import VENV_BIN, fixture_copy, fixture_inputs

CHART_NAMES = sorted(CHARTS)


def values_of(rendered, chart: str) -> dict[str, Any]:
    (spec,) = [c for c in load_charts() if c["name"] == chart]
    return yaml.safe_load(rendered.files[f"helm/{spec['values']}"])


def undeclared_keys(values: dict[str, Any], chart: Chart) -> list[str]:
    """Keys of the rendered values that the pinned chart does not declare at their level, and
    levels no fact covers (so a new nested key cannot slip past unrecorded)."""
    problems: list[str] = []

    def walk(node: dict[str, Any], path: list[str], fact: str) -> None:
        """`fact` is the level's name in chart_facts: the path, with `*` for a free name."""
        if fact in chart.open or any(fact.startswith(o + ".") for o in chart.open):
            return
        where = ".".join(path) or "<top level>"
        if fact in chart.named:  # entrypoint or plugin names are free; each entry follows one level
            for name, entry in node.items():
                if isinstance(entry, dict):
                    walk(entry, [*path, name], f"{fact}.*")
                else:
                    problems.append(f"{where}.{name}: expected a mapping")
            return
        level = chart.levels.get(fact)
        if level is None:
            problems.append(f"{where}: no upstream fact recorded for this level")
            return
        for key in sorted(set(node) - level.allowed()):
            strict = "values.schema.json rejects it" if level.closed else "the chart ignores it"
            problems.append(f"{where}.{key}: not a key of the pinned chart ({strict})")
        for key, child in node.items():
            if isinstance(child, dict) and key in level.allowed():
                walk(child, [*path, key], f"{fact}.{key}" if fact else key)

    walk(values, [], "")
    return problems


def test_pins_are_the_versions_the_facts_were_read_at():
    charts = {c["name"]: c for c in load_charts()}
    assert sorted(charts) == CHART_NAMES
    for name, chart in charts.items():
        assert chart["version"] == CHARTS[name].version, f"{name}: re-read chart_facts.py for the new pin"
        # `source` names the tag the facts come from; the tag carries the version.
        assert CHARTS[name].version in chart["source"].split("@", 1)[1].split(":", 1)[0]
        assert all(
            CHARTS[name].version in s or "subchart" in s or "kube-state" in s for s in CHARTS[name].sources
        )


@pytest.mark.parametrize("chart", CHART_NAMES)
def test_every_rendered_values_key_is_declared_by_the_pinned_chart(rendered, chart):
    values = values_of(rendered, chart)
    assert values, chart
    assert undeclared_keys(values, CHARTS[chart]) == []


@pytest.mark.parametrize(
    ("chart", "stale", "expected"),
    [
        # Keys the Traefik chart renamed or removed in v36/v41 (the values of HEAD before this fix).
        ("traefik", {"logs": {"general": {"format": "json"}}}, "logs: not a key of the pinned chart"),
        ("traefik", {"globalArguments": ["--global.checknewversion=false"]}, "globalArguments"),
        ("traefik", {"service": {"type": "LoadBalancer"}}, "service.type"),
        ("traefik", {"accessLog": {"fields": {"headers": {"defaultmode": "drop"}}}}, "defaultmode"),
        ("traefik", {"metrics": {"prometheus": {"serviceMonitor": {"joblabel": "x"}}}}, "joblabel"),
        ("kube-prometheus-stack", {"kubeControlerManager": {"enabled": False}}, "kubeControlerManager"),
        ("loki", {"loki": {"compactor": {"retention_enable": True}}}, "retention_enable"),
        ("alloy", {"alloy": {"mount": {"varlog": True}}}, "alloy.mount"),
        ("traefik", {"providers": {"kubernetesCRD": {"newThing": {"a": 1}}}}, "newThing"),
        # Free-named levels: each entry is still checked.
        ("traefik", {"ports": {"web": {"exposedport": 80}}}, "ports.web.exposedport"),
        ("traefik", {"experimental": {"localPlugins": {"requestid": {"modulename": "x"}}}}, "modulename"),
        ("traefik", {"experimental": {"localplugins": {}}}, "experimental.localplugins"),
        ("traefik", {"accessLog": {"filters": {"statuscodes": "500"}}}, "values.schema.json rejects it"),
    ],
)
def test_undeclared_keys_are_caught(fixture_render, chart, stale, expected):
    from srelab.export.render import deep_merge

    values = deep_merge(values_of(fixture_render, chart), stale)
    assert any(expected in p for p in undeclared_keys(values, CHARTS[chart]))


def test_an_unrecorded_nested_level_fails_instead_of_passing():
    values = {"deployment": {"podLabels": {"a": "b"}, "lifecycle": {"preStop": {}}}}
    problems = undeclared_keys(values, CHARTS["traefik"])
    assert "deployment.lifecycle: no upstream fact recorded for this level" in problems


# --- behaviour the values depend on -------------------------------------------------------------
# kube-prometheus-stack 88.5.3 gates each of these ServiceMonitors and its default rules on
# `.Values.<component>.enabled`: templates/exporters/kube-controller-manager/servicemonitor.yaml,
# .../kube-scheduler/, .../kube-etcd/, .../kube-proxy/ and templates/prometheus/rules-1.14/
# kubernetes-system-controller-manager.yaml, kubernetes-system-scheduler.yaml, etcd.yaml,
# kubernetes-system-kube-proxy.yaml (prometheus-community/helm-charts @ kube-prometheus-stack-88.5.3).
# GKE runs the control plane (no access to controller-manager, scheduler, etcd) and Dataplane V2
# has no kube-proxy, so each would be down for ever.
GKE_UNSCRAPABLE = ["kubeControllerManager", "kubeScheduler", "kubeEtcd", "kubeProxy"]


def test_control_plane_and_kube_proxy_scrapes_are_off(rendered):
    values = values_of(rendered, "kube-prometheus-stack")
    for component in GKE_UNSCRAPABLE:
        assert values[component]["enabled"] is False, component
        assert "enabled" in CHARTS["kube-prometheus-stack"].levels[component].allowed()


def test_loki_deletes_what_is_older_than_the_retention(rendered):
    """Loki v3.5.7 pkg/compactor/compactor.go Validate: retention_enabled without
    delete_request_store refuses to start ("compactor.delete-request-store should be configured
    when retention is enabled"); docs/sources/operations/storage/retention.md: without
    retention_enabled the compactor only compacts, retention_period deletes nothing."""
    loki = values_of(rendered, "loki")["loki"]
    assert loki["limits_config"]["retention_period"]
    assert loki["compactor"]["retention_enabled"] is True
    assert loki["compactor"]["delete_request_store"] == loki["storage"]["type"] == "filesystem"


# prometheus-operator v0.93.0 pkg/operator/defaults.go: PrometheusCompatibilityMatrix starts at
# v2.45.0 (kube-prometheus-stack 88.5.3 ships operator v0.93.1, appVersion in Chart.yaml).
OPERATOR_OLDEST_PROMETHEUS = "v2.45.0"


def test_prometheus_image_is_one_the_operator_supports(rendered):
    assert "v" + ".".join(map(str, OPERATOR_MIN_PROMETHEUS)) == OPERATOR_OLDEST_PROMETHEUS
    spec = values_of(rendered, "kube-prometheus-stack")["prometheus"]["prometheusSpec"]
    if "version" in spec:
        assert prometheus_supported(spec["version"]) and spec["image"]["tag"] == spec["version"]
    else:
        assert "image" not in spec
        assert "older than the operator supports" in rendered.files["CONVERSION.md"]


def test_prometheus_tag_is_kept_when_supported_and_dropped_when_too_old(params):
    assert not prometheus_supported("v2.42.0") and not prometheus_supported("latest")
    assert prometheus_supported("v2.45.0") and prometheus_supported("v3.5.0")
    inputs = fixture_inputs()
    assert inputs.services["prometheus"]["image"].endswith(":v2.42.0")  # compose/lab.env's pin
    services = copy.deepcopy(inputs.services)
    services["prometheus"]["image"] = "prom/prometheus:v3.5.0"
    newer = render(type(inputs)(services, inputs.secrets, inputs.pins, inputs.base_dir), params)
    spec = values_of(newer, "kube-prometheus-stack")["prometheus"]["prometheusSpec"]
    assert spec["version"] == spec["image"]["tag"] == "v3.5.0"


def test_compose_dial_timeout_reaches_traefik(live_inputs, live_render, params):
    """The chart has no value for the default servers transport: compose's
    --serversTransport.* flags go through additionalArguments (a key of the v41.3.0 schema)."""
    traefik = next(s for s in live_inputs.services.values() if s.get("image", "").startswith("traefik:"))
    flags = [c for c in traefik["command"] if c.lower().startswith("--serverstransport.")]
    assert flags, "compose/compose.yaml sets no --serversTransport flag any more"
    assert values_of(live_render, "traefik")["additionalArguments"] == flags
    inputs = fixture_inputs()
    services = copy.deepcopy(inputs.services)
    command = [c for c in services["traefik"]["command"] if not c.lower().startswith("--serverstransport.")]
    services["traefik"]["command"] = [*command, "--serversTransport.forwardingTimeouts.dialTimeout=250ms"]
    again = render(type(inputs)(services, inputs.secrets, inputs.pins, inputs.base_dir), params)
    assert values_of(again, "traefik")["additionalArguments"] == [
        "--serversTransport.forwardingTimeouts.dialTimeout=250ms"
    ]
    assert "additionalArguments" in CHARTS["traefik"].levels[""].allowed()


# --- the request-id plugin (compose's local plugin) in the Traefik chart ------------------------
def compose_local_plugins(inputs) -> dict[str, str]:
    """name -> moduleName from compose's --experimental.localPlugins flags."""
    traefik = inputs.services["traefik"]
    flags = [
        re.fullmatch(r"--experimental\.localPlugins\.([^.]+)\.moduleName=(.+)", c) for c in traefik["command"]
    ]
    return {m.group(1): m.group(2) for m in flags if m}


@pytest.mark.parametrize("which", ["fixture", "live"])
def test_local_plugin_is_mounted_where_traefik_loads_it(request, which):
    rendered = request.getfixturevalue(f"{which}_render")
    inputs = fixture_inputs() if which == "fixture" else request.getfixturevalue("live_inputs")
    wanted = compose_local_plugins(inputs)
    assert wanted == {"requestid": "github.com/srelab/requestid", "bodylimit": "github.com/srelab/bodylimit"}
    values = values_of(rendered, "traefik")
    plugins = values["experimental"]["localPlugins"]
    assert sorted(plugins) == sorted(wanted)
    for name, plugin in plugins.items():
        assert plugin["moduleName"] == wanted[name]
        assert plugin["type"] == "inlinePlugin" and plugin["type"] in TRAEFIK_LOCAL_PLUGIN_TYPES
        # ./plugins-local/src/<moduleName> from Traefik's working directory, the image's /.
        gopath = posixpath.normpath(posixpath.join(TRAEFIK_IMAGE_WORKDIR, TRAEFIK_LOCAL_GOPATH))
        assert plugin["mountPath"] == posixpath.join(gopath, "src", plugin["moduleName"])
        # One ConfigMap per inline plugin: its keys must be ConfigMap data keys (no directories).
        assert ".traefik.yml" in plugin["source"]
        assert all(re.fullmatch(r"[-._a-zA-Z0-9]+", key) for key in plugin["source"])
        manifest = yaml.safe_load(plugin["source"][".traefik.yml"])
        assert manifest["type"] == "middleware" and manifest["import"].startswith(plugin["moduleName"])
    assert re.fullmatch(r"[0-9a-f]{16}", values["deployment"]["podAnnotations"]["checksum/local-plugins"])
    # CONVERSION.md names the ConfigMap the chart renders: release "traefik" contains the chart's
    # name, so its fullname is the release name (templates/_helpers.tpl traefik.fullname).
    (release,) = [c["release"] for c in load_charts() if c["name"] == "traefik"]
    assert all(CHARTS["traefik"].version in src for src in TRAEFIK_LOCAL_PLUGIN_SOURCES)
    for name in plugins:
        configmap = TRAEFIK_LOCAL_PLUGIN_CONFIGMAP.format(fullname=release, name=name.replace(".", "-"))
        assert f"ConfigMap {configmap} " in rendered.files["CONVERSION.md"]
    # Every Middleware plugin is one the static configuration loads (traefik pkg/plugins/builder.go).
    used = {
        name for _, o in rendered.objects if o["kind"] == "Middleware" for name in o["spec"].get("plugin", {})
    }
    assert used and used <= set(plugins)


def test_live_plugin_source_is_the_one_compose_mounts(live_render, live_inputs):
    """Read from services/config/traefik/plugins-local (compose's bind mount), never copied into
    k8s-export; the values file keeps the text byte for byte."""
    plugin = values_of(live_render, "traefik")["experimental"]["localPlugins"]["requestid"]
    source = ROOT / "services/config/traefik/plugins-local/src" / plugin["moduleName"]
    on_disk = {f.name: f.read_text() for f in source.iterdir() if f.is_file()}
    assert plugin["source"] == on_disk and {".traefik.yml", "go.mod", "requestid.go"} <= set(on_disk)
    assert not [f for f in (ROOT / "k8s-export").rglob("*") if f.name in on_disk]
    # Go source (tab-indented) stays a readable literal block, not one escaped string.
    assert "requestid.go: |" in live_render.files["helm/traefik-values.yaml"]


def test_a_changed_plugin_rolls_traefik_and_a_nested_one_is_refused(params, tmp_path):
    from srelab.errors import LabError

    inputs = fixture_copy(tmp_path)
    before = values_of(render(inputs, params), "traefik")["deployment"]["podAnnotations"]
    plugin_dir = tmp_path / "files/services/config/traefik/plugins-local/src/github.com/srelab/requestid"
    (plugin_dir / "requestid.go").write_text((plugin_dir / "requestid.go").read_text() + "// changed\n")
    after = values_of(render(inputs, params), "traefik")["deployment"]["podAnnotations"]
    assert before != after
    (plugin_dir / "vendor").mkdir()
    (plugin_dir / "vendor/modules.txt").write_text("")
    with pytest.raises(
        LabError, match=r"vendor/modules.txt: the plugin's ConfigMap holds one flat directory"
    ):
        render(inputs, params)


def test_a_plugin_manifest_traefik_would_refuse_is_refused(params, tmp_path):
    from srelab.errors import LabError

    inputs = fixture_copy(tmp_path)
    manifest = (
        tmp_path / "files/services/config/traefik/plugins-local/src/github.com/srelab/requestid/.traefik.yml"
    )
    manifest.write_text(
        manifest.read_text().replace("import: github.com/srelab/requestid", "import: example.com/x")
    )
    with pytest.raises(
        LabError, match=r"requestid .*\.traefik\.yml lacks import under github.com/srelab/requestid"
    ):
        render(inputs, params)


def test_access_log_keeps_the_request_id_and_compose_filters(live_inputs, live_render):
    """The static values mirror compose's --accessLog.* flags (the chart renders each key as the
    flag of the same name: templates/_podtemplate.tpl @ v41.3.0)."""
    flags = {
        c.split("=", 1)[0].lower(): c.split("=", 1)[1]
        for c in live_inputs.services["traefik"]["command"]
        if c.lower().startswith("--accesslog.")
    }
    log = values_of(live_render, "traefik")["accessLog"]
    assert flags["--accesslog.fields.headers.names.x-proxy-request-id"] == "keep"
    assert log["fields"]["headers"]["names"] == {"X-Proxy-Request-Id": "keep"}
    assert log["filters"]["statusCodes"] == flags["--accesslog.filters.statuscodes"]
    assert str(log["filters"]["retryAttempts"]).lower() == flags["--accesslog.filters.retryattempts"]
    assert log["filters"]["minDuration"] == flags["--accesslog.filters.minduration"]


# --- helm/install.sh ----------------------------------------------------------------------------
def test_install_applies_every_charts_crds_server_side_before_its_upgrade(fixture_render):
    """Helm installs crds/ on the first install only and never upgrades them (helm docs, "Custom
    Resource Definitions"); `helm show crds` prints the crds/ of the chart and of its subcharts
    (helm pkg/chart Chart.CRDObjects walks the dependencies), so kube-prometheus-stack's crds
    subchart is included."""
    script = fixture_render.files["helm/install.sh"]
    lines = [line.strip() for line in script.splitlines()]
    for chart in load_charts():
        show = next(i for i, line in enumerate(lines) if line.startswith(f"helm show crds {chart['ref']} "))
        assert f"--version {chart['version']}" in lines[show]
        apply = next(i for i, line in enumerate(lines) if i > show and line.startswith("kubectl apply"))
        upgrade = next(
            i
            for i, line in enumerate(lines)
            if line.startswith(f"helm upgrade --install {chart['release']} ")
        )
        assert show < apply < upgrade
        assert "--server-side" in lines[apply]
        assert "--skip-crds" in lines[upgrade] and f"--version {chart['version']}" in lines[upgrade]


def test_install_script_passes_shellcheck(fixture_render, tmp_path):
    path = tmp_path / "install.sh"
    path.write_text(fixture_render.files["helm/install.sh"])
    result = subprocess.run(
        [str(VENV_BIN / "shellcheck"), str(path)], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stdout
    assert re.search(r"^set -euo pipefail$", path.read_text(), re.M)
