"""Helpers shared by the export tests (importable; fixtures live in conftest.py)."""

from __future__ import annotations

import copy
import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import yaml

from srelab.export.inputs import Inputs, load_dashboards
from srelab.export.render import Rendered, write
from srelab.stack.settings import ROOT

HERE = Path(__file__).resolve().parent
FIXTURES = HERE / "fixtures"
VENV_BIN = ROOT / ".venv" / "bin"
KUBECTL = VENV_BIN / "kubectl"


def fixture_inputs(dashboards: Path = FIXTURES / "dashboards", model: str = "compose.json") -> Inputs:
    """A frozen compose model (fixtures/compose.json: LAB_REDIS_TOPOLOGY=ha, the default;
    compose-single.json: single; see refresh_fixture.py)."""
    data = json.loads((FIXTURES / model).read_text())
    return Inputs(
        services=data["services"],
        secrets=data["secrets"],
        pins=data["pins"],
        base_dir=FIXTURES,
        dashboards=load_dashboards(dashboards),
    )


def fixture_copy(tmp_path: Path) -> Inputs:
    """The frozen model with its bind-mounted files copied under tmp_path, for tests that edit
    a config file (dynamic.yml, a plugin's source) without touching the fixture."""
    shutil.copytree(FIXTURES / "files", tmp_path / "files")
    inputs = fixture_inputs()
    return Inputs(
        services=copy.deepcopy(inputs.services),
        secrets=inputs.secrets,
        pins=inputs.pins,
        base_dir=tmp_path,
        dashboards=inputs.dashboards,
    )


def with_services(inputs: Inputs, services: dict[str, dict[str, Any]]) -> Inputs:
    return Inputs(
        services=services,
        secrets=inputs.secrets,
        pins=inputs.pins,
        base_dir=inputs.base_dir,
        dashboards=inputs.dashboards,
    )


def kustomize(rendered: Rendered, out: Path) -> list[dict[str, Any]]:
    """Write the folder and build it with `kubectl kustomize` (offline)."""
    write(rendered, out)
    result = subprocess.run(
        [str(KUBECTL), "kustomize", str(out)], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stderr
    return [d for d in yaml.safe_load_all(result.stdout) if d]


def run_cli(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(VENV_BIN / "srelab"), *args], capture_output=True, text=True, cwd=cwd, timeout=120, check=False
    )
