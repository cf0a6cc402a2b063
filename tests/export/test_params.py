"""params.yaml validation: one readable line naming the field, exit code 2 from the CLI."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from srelab.errors import LabError
from srelab.export.params import DEFAULT_PARAMS, SUPPORTED_K8S, load_params, parse_params
from srelab.export.render import render
from tests.export.helpers import fixture_inputs, run_cli


def base() -> dict:
    return yaml.safe_load(DEFAULT_PARAMS.read_text())


def test_default_params_are_valid(params):
    assert params.kubernetes_version in SUPPORTED_K8S
    assert params.autoscaling.min_replicas == 1 and params.autoscaling.max_replicas == 3
    assert params.gcp.registry == f"{params.gcp.region}-docker.pkg.dev/{params.gcp.project}/srelab"
    assert all(zone.startswith(params.gcp.region + "-") for zone in params.zones.values())


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"autoscaling": {"min_replicas": 3, "max_replicas": 2}}, "autoscaling"),
        ({"autoscaling": {"min_replicas": 0}}, "autoscaling.min_replicas"),
        ({"zones": {"a": "us-east1-b", "b": "europe-west1-c", "c": "europe-west1-d"}}, "zones.a"),
        ({"zones": {"A_1": "europe-west1-b"}}, "zones.A_1"),
        ({"kubernetes_version": "1.20"}, "kubernetes_version"),
        ({"resources": {"web": {"cpu": "lots", "memory": "128Mi"}}}, "resources.web.cpu"),
        ({"domain": "not a domain"}, "domain"),
        ({"replicas": 3}, "replicas"),
        ({"liveness": {"period_seconds": 2, "timeout_seconds": 5}}, "liveness"),
        (
            {
                "node_pools": {
                    "backend": {"machine_type": "e2-standard-2", "min_nodes": 1, "max_nodes": 1},
                    "monitoring": {"machine_type": "e2-standard-4", "min_nodes": 1, "max_nodes": 3},
                    "data": {"machine_type": "e2-standard-2", "min_nodes": 1, "max_nodes": 1, "zone": "z"},
                }
            },
            "node_pools.data.zone",
        ),
    ],
)
def test_bad_parameter_names_the_field(change, field):
    data = base() | change
    with pytest.raises(LabError) as exc:
        parse_params(data, "params.yaml")
    message = str(exc.value)
    assert message.startswith("params.yaml: ")
    assert field in message
    assert "\n" not in message


def test_zones_must_match_compose(params):
    two = params.model_copy(update={"zones": {"a": "europe-west1-b", "b": "europe-west1-c"}})
    with pytest.raises(LabError, match=r"zones: compose has zones a, b, c .* parameters map a, b"):
        render(fixture_inputs(), two)


def test_requests_above_compose_limit_are_refused(params):
    data = base()
    data["resources"] = {"web": {"cpu": "2", "memory": "128Mi"}}
    with pytest.raises(LabError, match="requests cpu 2 above its compose limit 1"):
        render(fixture_inputs(), parse_params(data))


def test_cli_bad_params_one_line_exit_2(tmp_path: Path):
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump(base() | {"autoscaling": {"min_replicas": 5, "max_replicas": 2}}))
    result = run_cli("export", "k8s", "--params", "bad.yaml", "--out", "out", cwd=tmp_path)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0] == "error: bad.yaml: autoscaling: max_replicas (2) is below min_replicas (5)"
    assert "Traceback" not in result.stderr + result.stdout
    assert not (tmp_path / "out").exists()


def test_unreadable_params_file(tmp_path: Path):
    with pytest.raises(LabError, match=r"cannot read parameters file .*nope.yaml: No such file"):
        load_params(tmp_path / "nope.yaml")


def test_cli_malformed_yaml_one_line(tmp_path: Path):
    (tmp_path / "broken.yaml").write_text("zones: [a\n")
    result = run_cli("export", "k8s", "--params", "broken.yaml", cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr.strip() == "error: broken.yaml: line 2 is not valid YAML"
