"""`kubectl kustomize` builds the rendered folder offline; dashboards become labelled ConfigMaps."""

from __future__ import annotations

import json
from pathlib import Path

from srelab.export import validate as v
from srelab.export.inputs import DASHBOARDS_DIR
from srelab.export.render import render
from tests.export.helpers import fixture_inputs, kustomize


def test_kustomize_builds_and_output_validates(fixture_render, params, tmp_path: Path):
    built = kustomize(fixture_render, tmp_path / "k8s")
    rendered_names = {(o["kind"], o["metadata"]["name"]) for _, o in fixture_render.objects}
    built_names = {(o["kind"], o["metadata"]["name"]) for o in built}
    assert rendered_names <= built_names
    assert v.problems(built, params.kubernetes_version, params.zones) == []


def test_dashboards_become_configmaps_for_the_grafana_sidecar(fixture_render, tmp_path: Path):
    built = kustomize(fixture_render, tmp_path / "k8s")
    maps = {
        o["metadata"]["name"]: o
        for o in built
        if o["kind"] == "ConfigMap" and o["metadata"].get("labels", {}).get("grafana_dashboard") == "1"
    }
    assert sorted(maps) == ["dashboard-items", "dashboard-redis-overview"]
    for cm in maps.values():
        assert cm["metadata"]["namespace"] == "monitoring"
        (key,) = cm["data"]
        assert json.loads(cm["data"][key])["title"].endswith("(fixture)")
    sidecar = fixture_render.files["helm/kube-prometheus-stack-values.yaml"]
    assert "label: grafana_dashboard" in sidecar and "labelValue: '1'" in sidecar


def test_no_dashboards_still_builds(params, tmp_path: Path):
    empty = tmp_path / "none"
    empty.mkdir()
    rendered = render(fixture_inputs(empty), params)
    assert "configMapGenerator" not in rendered.files["kustomization.yaml"]
    built = kustomize(rendered, tmp_path / "k8s")
    assert not [
        o
        for o in built
        if o["kind"] == "ConfigMap" and "grafana_dashboard" in o["metadata"].get("labels", {})
    ]


def test_repository_dashboards_are_all_exported(params, tmp_path: Path):
    """Whatever grafana/dashboards holds right now (the monitoring work adds to it)."""
    present = sorted(DASHBOARDS_DIR.glob("*.json")) if DASHBOARDS_DIR.is_dir() else []
    rendered = render(fixture_inputs(DASHBOARDS_DIR), params)
    built = kustomize(rendered, tmp_path / "k8s")
    maps = [
        o
        for o in built
        if o["kind"] == "ConfigMap" and "grafana_dashboard" in o["metadata"].get("labels", {})
    ]
    assert len(maps) == len(present)
    titles = {json.loads(next(iter(cm["data"].values()))).get("title") for cm in maps}
    assert titles == {json.loads(p.read_text()).get("title") for p in present}
