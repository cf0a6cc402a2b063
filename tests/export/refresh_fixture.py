"""Freeze the resolved compose model into tests/export/fixtures/ (run by hand, then review).

    .venv/bin/python tests/export/refresh_fixture.py

Two models: compose.json with the default Redis topology (LAB_REDIS_TOPOLOGY=ha: three nodes and
three Sentinels) and compose-single.json with LAB_REDIS_TOPOLOGY=single (one Redis node).

The golden snapshot renders from this frozen copy, not from the live compose files, so other
work on compose does not move it; refresh it deliberately, then `UPDATE_GOLDEN=1 pytest
tests/export` and review both diffs. Secret values become placeholders and bind-mount sources
point at copies under fixtures/files/.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

from srelab.export.inputs import load_inputs
from srelab.stack.settings import ROOT

FIXTURES = Path(__file__).resolve().parent / "fixtures"
# LAB_REDIS_TOPOLOGY -> the fixture file of that model.
TOPOLOGIES = {"ha": "compose.json", "single": "compose-single.json"}
# Services whose bind-mounted files the export reads, besides the Redis nodes and Sentinels
# (labels srelab.role redis and sentinel): Traefik's dynamic config, Prometheus' config and rules,
# the blackbox modules, Alertmanager's routing and the alert-sink script.
READ_FILES_OF = ("redis", "traefik", "prometheus", "blackbox", "alertmanager", "alert-sink")


def main() -> None:
    for topology, file_name in TOPOLOGIES.items():
        os.environ["LAB_REDIS_TOPOLOGY"] = topology
        freeze(FIXTURES / file_name)


def freeze(out: Path) -> None:
    from srelab.stack import compose_model

    compose_model.clear_cache()  # cached per environment, and the topology picks the files
    inputs = load_inputs(None)
    placeholders = {
        value: f"fixture-secret-{name.lower().replace('_', '-')}" for value, name in inputs.secrets.items()
    }

    def scrub(node):
        if isinstance(node, dict):
            return {k: scrub(v) for k, v in node.items()}
        if isinstance(node, list):
            return [scrub(v) for v in node]
        if isinstance(node, str):
            for value, placeholder in placeholders.items():
                node = node.replace(value, placeholder)
            return node.replace(str(ROOT) + "/", "")
        return node

    services = scrub(inputs.services)
    # The Docker socket's group differs by machine.
    for svc in services.values():
        user = svc.get("user")
        if isinstance(user, str) and user.startswith("65534:"):
            svc["user"] = "65534:0"
    files = FIXTURES / "files"
    read = [*READ_FILES_OF]
    read += [
        n
        for n, s in sorted(services.items())
        if (s.get("labels") or {}).get("srelab.role") in ("redis", "sentinel")
    ]
    for name in dict.fromkeys(read):
        for vol in (services.get(name) or {}).get("volumes") or []:
            if vol.get("type") != "bind" or vol["source"].startswith("/"):
                continue
            source = ROOT / vol["source"]
            target = files / vol["source"]
            target.parent.mkdir(parents=True, exist_ok=True)
            if source.is_dir():
                shutil.copytree(source, target, dirs_exist_ok=True)
            elif source.is_file():
                shutil.copy2(source, target)
            vol["source"] = "files/" + vol["source"]
    data = {
        "services": services,
        "secrets": {placeholders[v]: n for v, n in inputs.secrets.items()},
        "pins": inputs.pins,
    }
    out.write_text(json.dumps(data, indent=1, sort_keys=True) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
