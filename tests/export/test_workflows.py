"""The k8s-* GitHub Actions workflows: actionlint clean, pinned actions, secrets from the store only."""

from __future__ import annotations

import re
import subprocess

import pytest
import yaml

from srelab.settings import ROOT
from tests.export.helpers import VENV_BIN

WORKFLOWS = sorted((ROOT / ".github" / "workflows").glob("k8s-*.yml"))
DOCS = ROOT / "docs" / "kubernetes.md"


def test_the_three_workflows_exist():
    assert [p.name for p in WORKFLOWS] == ["k8s-deploy.yml", "k8s-image.yml", "k8s-terraform.yml"]


def test_actionlint_passes():
    result = subprocess.run(
        [str(VENV_BIN / "actionlint"), *map(str, WORKFLOWS)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.name)
def test_actions_are_pinned_to_full_versions(path):
    uses = re.findall(r"uses:\s*([^\s#]+)", path.read_text())
    assert uses
    for ref in uses:
        assert re.fullmatch(r"[\w.-]+/[\w./-]+@(v\d+\.\d+\.\d+|[0-9a-f]{40})", ref), ref


SENSITIVE = re.compile(
    r"password|token|credential|secret|private_key|_key$|identity_provider|service_account", re.I
)
# A credential may come from the secret store or from an earlier step (the auth action's token).
ALLOWED_SOURCE = re.compile(r"^\$\{\{\s*(secrets\.[A-Z0-9_]+|steps\.[\w-]+\.outputs\.[\w-]+)\s*\}\}$")


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.name)
def test_credentials_only_from_repository_secrets(path):
    workflow = yaml.safe_load(path.read_text())
    assert workflow["permissions"]["contents"] == "read"
    checked = 0
    for job in workflow["jobs"].values():
        for step in job["steps"]:
            for section in ("with", "env"):
                for key, value in (step.get(section) or {}).items():
                    if SENSITIVE.search(key) and key != "token_format":
                        checked += 1
                        assert ALLOWED_SOURCE.match(str(value)), f"{path.name}: {key}: {value}"
            # No secret is echoed or written into a file by a run step.
            assert not re.search(r"echo[^\n]*secrets\.", step.get("run", ""))
    assert checked
    assert "credentials_json" not in path.read_text()  # keyless: Workload Identity Federation


def test_documented_secrets_match_the_workflows():
    used = set()
    for path in WORKFLOWS:
        used |= set(re.findall(r"\$\{\{\s*secrets\.([A-Z0-9_]+)\s*\}\}", path.read_text()))
    documented = set(re.findall(r"^\| `([A-Z0-9_]+)` \|", DOCS.read_text(), re.M))
    assert used and used == documented


def test_deploy_runs_the_rendered_scripts_in_order():
    steps = yaml.safe_load((ROOT / ".github/workflows/k8s-deploy.yml").read_text())["jobs"]["deploy"]["steps"]
    runs = "\n".join(step.get("run", "") for step in steps)
    order = ["srelab export k8s", "namespaces.yaml", "create-secrets.sh", "helm/install.sh", "-k build/k8s"]
    positions = [runs.index(marker) for marker in order]
    assert positions == sorted(positions)
