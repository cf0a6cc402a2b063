"""services/config/alloy/config.alloy (LAB_LOG_SHIPPER=alloy) against Alloy v1.18.1's own component
arguments (tests/observability/_alloy.py, with their sources) and against Promtail's pipeline, which it
must reproduce label for label; and the compose service against Promtail's and the image."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from tests.observability import _alloy as alloy
from tests.observability._obs import CONFIG, ROOT, compose_model, lab_env, load_yaml, request_log_fields

CONFIG_ALLOY = CONFIG / "alloy" / "config.alloy"
PROMTAIL = CONFIG / "promtail" / "promtail.yaml"
MONITORING = ROOT / "compose" / "monitoring.yaml"


def blocks(text: str | None = None) -> dict[str, alloy.Block]:
    """Top-level components by name (one of each here)."""
    parsed = alloy.parse(text if text is not None else CONFIG_ALLOY.read_text())
    names = [b.name for b in parsed]
    assert len(names) == len(set(names)), names
    return {b.name: b for b in parsed}


def problems(text: str) -> list[str]:
    """Every component, attribute and block the pinned Alloy would not accept, and every reference
    to a component or export that does not exist."""
    found: list[str] = []

    def check(block: alloy.Block, spec: alloy.Args, where: str) -> None:
        for name in block.attrs:
            if name not in spec.attrs:
                found.append(f"{where}: no attribute {name!r}")
        for name in spec.required - set(block.attrs):
            found.append(f"{where}: missing required {name!r}")
        for child in block.blocks:
            if child.name not in spec.blocks:
                found.append(f"{where}: no block {child.name!r}")
            else:
                check(child, spec.blocks[child.name], f"{where} > {child.name}")

    declared = {}
    for block in alloy.parse(text):
        if block.name not in alloy.COMPONENTS:
            found.append(f"unknown component {block.name!r}")
            continue
        if block.label is None:
            found.append(f"{block.name}: components need a label")
        declared[f"{block.name}.{block.label}"] = block.name
        check(block, alloy.COMPONENTS[block.name], f"{block.name} {block.label!r}")
    for value in _values(alloy.parse(text)):
        if isinstance(value, alloy.Ref):
            instance, _, export = value.path.rpartition(".")
            if instance not in declared:
                found.append(f"reference to undeclared {instance!r}")
            elif export not in alloy.EXPORTS[declared[instance]]:
                found.append(f"{declared[instance]} exports no {export!r}")
        if isinstance(value, alloy.Call) and value.name not in alloy.STDLIB_FUNCTIONS:
            found.append(f"unknown function {value.name}")
    return found


def _values(items: list[alloy.Block]) -> list[Any]:
    out: list[Any] = []

    def walk(value: Any) -> None:
        out.append(value)
        if isinstance(value, list):
            for v in value:
                walk(v)
        elif isinstance(value, dict):
            for v in value.values():
                walk(v)
        elif isinstance(value, alloy.Concat | alloy.Call):
            for v in value.parts if isinstance(value, alloy.Concat) else value.args:
                walk(v)

    def visit(block: alloy.Block) -> None:
        for v in block.attrs.values():
            walk(v)
        for child in block.blocks:
            visit(child)

    for block in items:
        visit(block)
    return out


def test_every_component_argument_and_reference_exists_in_the_pinned_alloy() -> None:
    assert problems(CONFIG_ALLOY.read_text()) == []
    assert set(blocks()) == {
        "discovery.docker",
        "discovery.relabel",
        "loki.source.docker",
        "loki.process",
        "loki.write",
    }


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (("refresh_interval =", "refresh_intervall ="), "no attribute 'refresh_intervall'"),
        (("stage.template", "stage.templates"), "no block 'stage.templates'"),
        (("loki.write.loki.receiver", "loki.write.loki.output"), "loki.write exports no 'output'"),
        (("sys.env(", "env("), "unknown function env"),
        (('url                 = "http', 'name = "x"\n    urlx = "http'), "missing required 'url'"),
    ],
)
def test_the_check_catches_what_alloy_would_refuse(change: tuple[str, str], expected: str) -> None:
    text = CONFIG_ALLOY.read_text()
    assert change[0] in text
    assert any(expected in p for p in problems(text.replace(change[0], change[1], 1)))


def test_pipeline_runs_docker_discovery_to_loki() -> None:
    b = blocks()
    discovered = alloy.Ref("discovery.docker.containers.targets")
    assert b["discovery.relabel"].attrs["targets"] == discovered
    source = b["loki.source.docker"].attrs
    # The unrelabelled targets: loki.source.docker skips one without __meta_docker_container_id.
    assert source["targets"] == discovered and alloy.SOURCE_DOCKER_NEEDS_LABEL.startswith("__meta_docker")
    assert source["relabel_rules"] == alloy.Ref("discovery.relabel.containers.rules")
    assert source["forward_to"] == [alloy.Ref("loki.process.containers.receiver")]
    assert b["loki.process"].attrs["forward_to"] == [alloy.Ref("loki.write.loki.receiver")]


def _promtail_job() -> dict[str, Any]:
    (job,) = load_yaml(PROMTAIL)["scrape_configs"]
    return job


def test_discovery_matches_promtails() -> None:
    (sd,) = _promtail_job()["docker_sd_configs"]
    b = blocks()
    for component in ("discovery.docker", "loki.source.docker"):
        assert b[component].attrs["host"] == sd["host"], f"{component}: Docker access differs from Promtail's"
    assert b["discovery.docker"].attrs["refresh_interval"] == sd["refresh_interval"]
    (flt,) = b["discovery.docker"].blocks
    (promtail_filter,) = sd["filters"]
    assert flt.attrs["name"] == promtail_filter["name"] == "label"
    # Promtail's ${LAB_PROJECT} (-config.expand-env) is Alloy's sys.env("LAB_PROJECT").
    (value,) = flt.attrs["values"]
    assert isinstance(value, alloy.Concat)
    prefix, call = value.parts
    assert [f"{prefix}${{{call.args[0]}}}"] == promtail_filter["values"]
    assert call == alloy.Call("sys.env", ("LAB_PROJECT",))


def test_relabelling_matches_promtails() -> None:
    rules = [c.attrs for c in blocks()["discovery.relabel"].blocks if c.name == "rule"]
    assert rules == _promtail_job()["relabel_configs"]


def test_stages_and_labels_match_promtails() -> None:
    stages = {c.name.removeprefix("stage."): c.attrs for c in blocks()["loki.process"].blocks}
    promtail = {name: body for stage in _promtail_job()["pipeline_stages"] for name, body in stage.items()}
    assert list(stages) == list(promtail) == ["json", "template", "labels"]
    assert stages["json"] == promtail["json"]
    assert set(stages["json"]["expressions"].values()) <= request_log_fields()
    assert stages["template"] == promtail["template"]
    used = set(re.findall(r"\{\{\s*(?:if\s+)?([A-Z][A-Za-z0-9]*)\s", stages["template"]["template"]))
    assert used and used <= alloy.TEMPLATE_FUNCTIONS
    # An empty value in Alloy, a null one in Promtail: both the extracted key of the same name.
    assert {k: v or k for k, v in stages["labels"]["values"].items()} == {
        k: v or k for k, v in promtail["labels"].items()
    }
    # The stream labels: the relabelled ones plus the stage's, the contract's four.
    relabelled = {c.attrs["target_label"] for c in blocks()["discovery.relabel"].blocks}
    assert relabelled | set(stages["labels"]["values"]) == {"service", "replica", "zone", "level"}


def test_writes_to_loki_like_promtail() -> None:
    (client,) = load_yaml(PROMTAIL)["clients"]
    (endpoint,) = blocks()["loki.write"].blocks
    backoff = client["backoff_config"]
    assert endpoint.attrs == {
        "url": client["url"],
        "min_backoff_period": backoff["min_period"],
        "max_backoff_period": backoff["max_period"],
        "max_backoff_retries": backoff["max_retries"],
    }


def _raw_service(name: str) -> dict[str, Any]:
    return load_yaml(MONITORING)["services"][name]


def test_compose_service_reaches_docker_exactly_as_promtail_does() -> None:
    """Read against promtail's current definition: socket mounts, networks, dependencies and the
    socket group (if any) are the same, so a change to Promtail's Docker access fails here."""
    services = compose_model(("monitoring",))["services"]
    shipper, promtail = services["alloy"], services["promtail"]

    def sockets(svc: dict[str, Any]) -> list[tuple[str, str, bool]]:
        return sorted(
            (v["source"], v["target"], bool(v.get("read_only")))
            for v in svc.get("volumes") or []
            if "docker.sock" in str(v.get("source"))
        )

    assert sockets(shipper) == sockets(promtail)
    assert set(shipper["networks"]) == set(promtail["networks"])
    assert set(shipper.get("depends_on") or {}) == set(promtail.get("depends_on") or {})
    raw_alloy, raw_promtail = _raw_service("alloy"), _raw_service("promtail")
    assert ("DOCKER_GID" in raw_alloy["user"]) == ("DOCKER_GID" in raw_promtail["user"])
    assert shipper["environment"]["LAB_PROJECT"] == promtail["environment"]["LAB_PROJECT"]
    assert shipper["profiles"] == promtail["profiles"] == ["monitoring"]


def test_compose_service_fits_the_image() -> None:
    svc = compose_model(("monitoring",))["services"]["alloy"]
    assert _raw_service("alloy")["image"] == "${ALLOY_IMAGE:?}"
    assert int(svc["user"].split(":")[0]) == alloy.IMAGE_USER_UID
    command = svc["command"]
    assert command[:2] == ["run", "/etc/alloy/config.alloy"]
    assert {flag.split("=")[0] for flag in command[2:]} <= alloy.RUN_FLAGS
    assert f"--storage.path={alloy.IMAGE_STORAGE_PATH}" in command
    mounts = {v["target"]: v for v in svc["volumes"]}
    assert Path(mounts["/etc/alloy/config.alloy"]["source"]) == CONFIG_ALLOY
    assert mounts["/etc/alloy/config.alloy"]["read_only"] is True
    assert mounts[alloy.IMAGE_STORAGE_PATH]["type"] == "volume"
    test = svc["healthcheck"]["test"]
    assert test[:3] == ["CMD", "bash", "-c"]
    programs = {word for part in re.split(r"&&|\|", test[3]) for word in part.split()[:1]}
    assert programs - {"exec"} <= alloy.IMAGE_HAS | {"printf"}  # printf, exec: bash builtins
    port = alloy.DEFAULT_HTTP_ADDR.rsplit(":", 1)[1]
    assert f"/dev/tcp/127.0.0.1/{port}" in test[3] and f"GET {alloy.READY_PATH} " in test[3]


def test_image_is_the_app_version_of_the_pinned_chart() -> None:
    charts = load_yaml(ROOT / "k8s-export" / "helm" / "charts.yaml")["charts"]
    (chart,) = [c for c in charts if c["name"] == "alloy"]
    tag = alloy.CHART_APP_VERSION[chart["version"]]
    assert lab_env()["ALLOY_IMAGE"] == f"grafana/alloy:{tag}"
    assert tag == alloy.ALLOY_VERIFIED_FOR, "ALLOY_IMAGE moved: re-read tests/observability/_alloy.py's facts"


def test_log_shipper_is_a_lab_env_setting_defaulting_to_promtail() -> None:
    assert lab_env()["LAB_LOG_SHIPPER"] == "promtail"
