"""`srelab export k8s` and `srelab export env` end to end (subprocess, real compose files)."""

from __future__ import annotations

from pathlib import Path

import pytest

from srelab.errors import LabError
from srelab.export.render import MARKER, write
from tests.export.helpers import run_cli


def test_export_writes_the_folder_and_prints_the_summary(tmp_path: Path, params):
    out = tmp_path / "k8s"
    result = run_cli("export", "k8s", "--out", str(out))
    assert result.returncode == 0, result.stderr
    assert "compose -> GKE conversion" in result.stdout
    assert "wrote " in result.stdout and "8 Deployment" in result.stdout.replace("\n", " ")
    for rel in (
        "kustomization.yaml",
        "CONVERSION.md",
        "backend/deployments.yaml",
        "data/redis.yaml",
        "helm/install.sh",
        "create-secrets.sh",
        MARKER,
    ):
        assert (out / rel).is_file(), rel
    assert (out / "helm/install.sh").stat().st_mode & 0o111
    assert f"{params.gcp.registry}/web:" in (out / "backend/deployments.yaml").read_text()


def test_refuses_to_replace_a_folder_it_did_not_write(fixture_render, tmp_path: Path):
    foreign = tmp_path / "mine"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("keep me")
    with pytest.raises(LabError, match="was not written by `srelab export k8s`"):
        write(fixture_render, foreign)
    assert (foreign / "notes.txt").read_text() == "keep me"
    ours = tmp_path / "ours"
    write(fixture_render, ours)
    (ours / "stale.yaml").write_text("old")
    write(fixture_render, ours)  # replaced: stale files from an earlier run disappear
    assert not (ours / "stale.yaml").exists()


def test_export_env_for_ci(params):
    result = run_cli("export", "env")
    assert result.returncode == 0, result.stderr
    values = dict(line.split("=", 1) for line in result.stdout.splitlines())
    assert values["GCP_PROJECT"] == params.gcp.project
    assert values["GKE_CLUSTER"] == params.gcp.cluster_name
    assert values["WEB_IMAGE"].startswith(params.gcp.registry + "/web:")
    assert values["WEB_IMAGE"].endswith(":" + values["WEB_IMAGE_TAG"])
