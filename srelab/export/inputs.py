"""Everything the export reads, gathered in one value so rendering is a pure function of it.

`load_inputs()` reads the live repository (the resolved compose model, compose/.env for the secret
values to keep out of manifests, the lab.env pins, grafana/dashboards); tests build the same value
from a frozen fixture so the golden snapshot does not move when other files of the lab change.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from srelab.errors import LabError
from srelab.stack.settings import PROFILES, ROOT, SECRETS_ENV, SECRETS_TEMPLATE, Settings

DASHBOARDS_DIR = ROOT / "grafana" / "dashboards"


@dataclass(frozen=True)
class Inputs:
    services: dict[str, dict[str, Any]]
    """Resolved compose services, every profile (anchors merged, variables substituted)."""
    secrets: dict[str, str]
    """Secret value -> compose variable name; such values become secretKeyRefs, never literals."""
    pins: dict[str, str]
    """lab.env image pins, for monitoring pieces whose compose service may not exist yet."""
    base_dir: Path
    """Relative bind-mount sources are resolved against this directory."""
    dashboards: dict[str, str] = field(default_factory=dict)
    """Dashboard file name -> JSON text."""

    def glob_sources(self, pattern: str) -> list[str]:
        """Sources matching a glob (prometheus.yml rule_files), sorted, in the form given."""
        path = Path(pattern)
        base = path if path.is_absolute() else self.base_dir / path
        found = sorted(Path(base.parent).glob(base.name))
        if path.is_absolute():
            return [str(f) for f in found]
        return [str(Path(pattern).parent / f.name) for f in found]

    def read_source(self, source: str) -> str:
        path = Path(source)
        if not path.is_absolute():
            path = self.base_dir / path
        try:
            return path.read_text()
        except OSError as exc:
            raise LabError(f"cannot read {path} (a bind mount in compose): {exc.strerror}") from None

    def read_tree(self, source: str) -> dict[str, str]:
        """Every file under a bind-mounted directory (hidden ones too): relative POSIX path -> text."""
        path = Path(source)
        if not path.is_absolute():
            path = self.base_dir / path
        if not path.is_dir():
            raise LabError(f"cannot read {path} (a bind mount in compose): not a directory")
        return {
            f.relative_to(path).as_posix(): self.read_source(str(f))
            for f in sorted(path.rglob("*"))
            if f.is_file()
        }


def parse_env_file(path: Path) -> dict[str, str]:
    values: dict[str, str] = {}
    if not path.exists():
        return values
    for line in path.read_text().splitlines():
        if not line.strip() or line.lstrip().startswith("#") or "=" not in line:
            continue
        key, _, value = line.partition("=")
        values[key.strip()] = value.strip().strip("'\"")
    return values


def secret_values(template: Path = SECRETS_TEMPLATE, env: Path = SECRETS_ENV) -> dict[str, str]:
    """Value -> name for every secret: the keys left empty in compose/.env.example."""
    names = [k for k, v in parse_env_file(template).items() if v == ""]
    actual = parse_env_file(env)
    return {actual[name]: name for name in names if actual.get(name)}


def load_dashboards(directory: Path | None) -> dict[str, str]:
    dashboards: dict[str, str] = {}
    if directory is None or not directory.is_dir():
        return dashboards
    for path in sorted(directory.glob("*.json")):
        text = path.read_text()
        try:
            json.loads(text)
        except json.JSONDecodeError as exc:
            raise LabError(f"dashboard {path} is not valid JSON (line {exc.lineno}): {exc.msg}") from None
        dashboards[path.name] = text
    return dashboards


def upstream_images(services: dict[str, dict[str, Any]], settings: Settings) -> dict[str, dict[str, Any]]:
    """Under LAB_IMAGES=local compose runs srelab-local/<name>:<tag> builds; GKE pulls the upstream
    images they copy, so map each local name back to its lab.env pin."""
    pins = [getattr(settings, f) for f in type(settings).model_fields if f.endswith("_image")]
    local = {settings.local_image(pin): pin for pin in pins if isinstance(pin, str) and ":" in pin}
    out = {}
    for name, svc in services.items():
        image = svc.get("image")
        out[name] = {**svc, "image": local[image]} if image in local else svc
    return out


def load_inputs(dashboards_dir: Path | None = DASHBOARDS_DIR) -> Inputs:
    from srelab.stack.compose_model import services
    from srelab.stack.settings import get_settings

    settings = get_settings()
    pins = {
        "prometheus": settings.prometheus_image,
        "grafana": settings.grafana_image,
        "loki": settings.loki_image,
        "redis-exporter": settings.redis_exporter_image,
    }
    return Inputs(
        services=upstream_images(services(settings, PROFILES), settings),
        secrets=secret_values(),
        pins=pins,
        base_dir=ROOT,
        dashboards=load_dashboards(dashboards_dir),
    )
