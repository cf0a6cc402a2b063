"""Golden snapshots of the rendered folder for the default parameters and the frozen compose
models: golden/default (LAB_REDIS_TOPOLOGY=ha, the default) and golden/single (one Redis node).

Update after an intended change, then review the diff:

    UPDATE_GOLDEN=1 .venv/bin/pytest tests/export/test_golden.py
"""

from __future__ import annotations

import difflib
import os
import shutil

import pytest

from tests.export.helpers import HERE

GOLDEN = HERE / "golden" / "default"
GOLDENS = {"fixture_render": GOLDEN, "single_render": HERE / "golden" / "single"}


@pytest.mark.parametrize("render_name", sorted(GOLDENS))
def test_render_matches_golden(render_name, request):
    files = request.getfixturevalue(render_name).files
    golden_dir = GOLDENS[render_name]
    if os.environ.get("UPDATE_GOLDEN") == "1":
        shutil.rmtree(golden_dir, ignore_errors=True)
        for rel, text in files.items():
            (golden_dir / rel).parent.mkdir(parents=True, exist_ok=True)
            (golden_dir / rel).write_text(text)
    golden = {
        p.relative_to(golden_dir).as_posix(): p.read_text() for p in golden_dir.rglob("*") if p.is_file()
    }
    assert sorted(golden) == sorted(files), "files added or removed: UPDATE_GOLDEN=1 after review"
    for rel, text in files.items():
        if text != golden[rel]:
            diff = "".join(
                difflib.unified_diff(
                    golden[rel].splitlines(True),
                    text.splitlines(True),
                    f"{golden_dir.name}/{rel}",
                    f"rendered/{rel}",
                    n=2,
                )
            )
            raise AssertionError(f"{rel} differs from the golden snapshot:\n{diff[:4000]}")


def test_golden_covers_every_manifest_kind():
    text = "\n".join(p.read_text() for p in GOLDEN.rglob("*.yaml"))
    for kind in (
        "Deployment",
        "StatefulSet",
        "HorizontalPodAutoscaler",
        "PodDisruptionBudget",
        "NetworkPolicy",
        "IngressRoute",
        "Middleware",
        "ServiceMonitor",
        "Namespace",
        "TraefikService",
        "PrometheusRule",
    ):
        assert f"kind: {kind}" in text
