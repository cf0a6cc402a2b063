"""Shared helpers for the observability static tests (paths, YAML, compose models)."""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]
COMPOSE_DIR = ROOT / "compose"
CONFIG = ROOT / "services" / "config"
PROM_DIR = CONFIG / "prometheus"
GRAFANA_DIR = ROOT / "grafana"
DASHBOARDS = sorted((GRAFANA_DIR / "dashboards").glob("*.json"))
KIBANA_OBJECTS = sorted((ROOT / "kibana").glob("*.ndjson"))
OBS_COMPOSE_FILES = (COMPOSE_DIR / "monitoring.yaml", COMPOSE_DIR / "elk.yaml")
# Every profile combination `make up` can produce (core alone included).
PROFILE_SETS: tuple[tuple[str, ...], ...] = ((), ("monitoring",), ("elk",), ("monitoring", "elk"))


def load_yaml(path: Path) -> Any:
    return yaml.safe_load(path.read_text())


@cache
def compose_model(profiles: tuple[str, ...]) -> dict[str, Any]:
    """`docker compose config` (python-on-whales via srelab.stack.engine) for `profiles`."""
    from srelab.stack.engine import compose_client
    from srelab.stack.settings import get_settings

    model = compose_client(get_settings(), profiles).compose.config(return_json=True)
    assert isinstance(model, dict)
    return model


def obs_services() -> dict[str, dict[str, Any]]:
    """The services defined in compose/monitoring.yaml and compose/elk.yaml, as compose resolves them."""
    names = {name for path in OBS_COMPOSE_FILES for name in (load_yaml(path).get("services") or {})}
    services = compose_model(("monitoring", "elk"))["services"]
    return {name: services[name] for name in sorted(names)}


def one_shot_services(services: dict[str, dict[str, Any]]) -> set[str]:
    """Services some other service waits for with condition service_completed_successfully."""
    return {
        dep
        for svc in services.values()
        for dep, cond in (svc.get("depends_on") or {}).items()
        if cond.get("condition") == "service_completed_successfully"
    }


def contract_metrics() -> set[str]:
    """The metric names of docs/architecture.md (`items_...` in its Metrics bullet)."""
    text = (ROOT / "docs" / "architecture.md").read_text()
    section = text[text.index("**Metrics**") :]
    section = section[: section.index("\n- **", 1)]
    return set(re.findall(r"`(items_[a-z_]+)", section))


def request_log_fields() -> set[str]:
    """The fields of a request log line (docs/architecture.md, **Request log line**)."""
    text = (ROOT / "docs" / "architecture.md").read_text()
    section = text[text.index("**Request log line**") :]
    section = section[: section.index("\n- **", 1)]
    section = section[: section.index("Loki labels")]
    return set(re.findall(r"`([a-z_]+)`", section)) - {"items"}


def contract_loki_labels() -> set[str]:
    text = (ROOT / "docs" / "architecture.md").read_text()
    line = text[text.index("Loki labels:") :].split("\n- **", 1)[0]
    return set(re.findall(r"`([a-z_]+)`", line)) - {"items"}


def recording_rule_names() -> set[str]:
    return {
        rule["record"]
        for path in sorted((PROM_DIR / "rules").glob("*.yml"))
        for group in load_yaml(path)["groups"]
        for rule in group["rules"]
        if "record" in rule
    }


def alert_names() -> set[str]:
    return {
        rule["alert"]
        for path in sorted((PROM_DIR / "rules").glob("*.yml"))
        for group in load_yaml(path)["groups"]
        for rule in group["rules"]
        if "alert" in rule
    }


def lab_env() -> dict[str, str]:
    values = {}
    for line in (COMPOSE_DIR / "lab.env").read_text().splitlines():
        key, sep, value = line.partition("=")
        if sep and not line.lstrip().startswith("#"):
            values[key.strip()] = value.strip()
    return values


def image_version(variable: str) -> tuple[int, int, int]:
    """The release x.y.z of an image pinned in lab.env (`grafana/loki:3.7.6` -> (3, 7, 6))."""
    tag = lab_env()[variable].rsplit(":", 1)[1]
    match = re.fullmatch(r"v?(\d+)\.(\d+)\.(\d+)", tag)
    assert match, f"{variable}: tag {tag} is not a release"
    major, minor, patch = (int(g) for g in match.groups())
    return major, minor, patch


def duration_s(value: str | int | float) -> float:
    """A compose duration ("6s", "1m30s", "500ms") in seconds; a bare number is nanoseconds."""
    if isinstance(value, (int, float)):
        return value / 1e9
    units = {"ms": 0.001, "s": 1, "m": 60, "h": 3600}
    parts = re.findall(r"(\d+(?:\.\d+)?)(ms|s|m|h)", value)
    assert parts and "".join(n + u for n, u in parts) == value, f"not a duration: {value}"
    return sum(float(n) * units[u] for n, u in parts)


def exporter_metrics() -> frozenset[str]:
    """traefik_* and redis_* names the exporters really expose (tests/observability/exporter_metrics.txt)."""
    text = (Path(__file__).parent / "exporter_metrics.txt").read_text()
    return frozenset(line.strip() for line in text.splitlines() if line.strip() and not line.startswith("#"))
