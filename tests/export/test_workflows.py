"""The k8s-* GitHub Actions workflows: actionlint clean, pinned actions, secrets from the store only."""

from __future__ import annotations

import re
import subprocess

import pytest
import yaml

from srelab.stack.settings import ROOT
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
    order = [
        "srelab export k8s",
        "imagetools inspect",
        "namespaces.yaml",
        "create-secrets.sh",
        "helm/install.sh",
        "-k build/k8s",
    ]
    positions = [runs.index(marker) for marker in order]
    assert positions == sorted(positions)


def test_deploy_waits_for_the_image_it_rolls_out():
    """The manifests name WEB_IMAGE from compose/lab.env; k8s-image.yml pushes it on a tag, which
    may come later than the push to main. The deploy fails instead of rolling out a missing tag."""
    steps = yaml.safe_load((ROOT / ".github/workflows/k8s-deploy.yml").read_text())["jobs"]["deploy"]["steps"]
    wait = next(s for s in steps if "imagetools inspect" in s.get("run", ""))
    assert '"$WEB_IMAGE"' in wait["run"] and "exit 1" in wait["run"]
    login = next(i for i, s in enumerate(steps) if str(s.get("uses", "")).startswith("docker/login-action@"))
    assert login < steps.index(wait)


def test_no_plan_file_leaves_the_runner():
    """A plan file holds every attribute in clear; artifacts are readable with repository read
    access. Plan and apply run in one job, nothing named tfplan is uploaded."""
    workflow = yaml.safe_load((ROOT / ".github/workflows/k8s-terraform.yml").read_text())
    for name, job in workflow["jobs"].items():
        runs = "\n".join(s.get("run", "") for s in job["steps"])
        for step in job["steps"]:
            if str(step.get("uses", "")).startswith(
                ("actions/upload-artifact@", "actions/download-artifact@")
            ):
                assert "tfplan" not in str(step.get("with")), name
        if "apply" in runs:
            assert "-out=tfplan" in runs and runs.index("-out=tfplan") < runs.index(" apply ")
            assert job.get("environment") == "production"
    assert not any("needs" in job for job in workflow["jobs"].values())
