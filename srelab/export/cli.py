"""`srelab export k8s` (manifests for GKE) and `srelab export env` (values for the CI workflows)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from srelab.export.inputs import DASHBOARDS_DIR
from srelab.export.params import DEFAULT_PARAMS
from srelab.export.render import DEFAULT_OUT

out_console = Console()

ParamsOpt = Annotated[Path, typer.Option("--params", help="parameters file (zones, bounds, registry, ...)")]
OutOpt = Annotated[Path, typer.Option("--out", help="folder to write (replaced on each run)")]
DashboardsOpt = Annotated[Path, typer.Option("--dashboards", help="Grafana dashboards folder (*.json)")]
QuietOpt = Annotated[bool, typer.Option("--quiet", "-q", help="no conversion table")]
AllOpt = Annotated[bool, typer.Option("--all", help="also list the keys mapped one to one")]


def register(app: typer.Typer) -> None:
    group = typer.Typer(help="Export the lab to other platforms (Kubernetes on GKE).", no_args_is_help=True)

    @group.command("k8s")
    def k8s(
        params: ParamsOpt = DEFAULT_PARAMS,
        out: OutOpt = DEFAULT_OUT,
        dashboards: DashboardsOpt = DASHBOARDS_DIR,
        quiet: QuietOpt = False,
        everything: AllOpt = False,
    ) -> None:
        """Render a kustomize folder for a regional GKE cluster from the compose model."""
        from srelab.export import summary
        from srelab.export.render import export

        rendered = export(params_path=params, out=out, dashboards_dir=dashboards)
        if not quiet:
            out_console.print(summary.table(rendered.rows, everything))
        kinds: dict[str, int] = {}
        for _, obj in rendered.objects:
            kinds[obj["kind"]] = kinds.get(obj["kind"], 0) + 1
        counts = ", ".join(f"{n} {k}" for k, n in sorted(kinds.items()))
        dashboards_n = len(rendered.context.values["dashboards"])
        out_console.print(
            f"wrote {len(rendered.files)} files to {out} ({counts}; {dashboards_n} dashboard ConfigMaps); "
            f"see {out / 'CONVERSION.md'}",
            highlight=False,
        )

    @group.command("env")
    def env(params: ParamsOpt = DEFAULT_PARAMS) -> None:
        """Print KEY=VALUE lines (project, region, cluster, image) for CI: >> "$GITHUB_ENV"."""
        from srelab.export.inputs import load_inputs
        from srelab.export.model import build
        from srelab.export.params import load_params

        p = load_params(params)
        ctx = build(load_inputs(None), p)
        web = ctx.values["web"]
        lines = {
            "GCP_PROJECT": p.gcp.project,
            "GCP_REGION": p.gcp.region,
            "GKE_CLUSTER": p.gcp.cluster_name,
            "REGISTRY_HOST": f"{p.gcp.region}-docker.pkg.dev",
            "WEB_IMAGE": web["image"],
            "WEB_IMAGE_TAG": web["image"].rsplit(":", 1)[1],
            "WEB_BUILD_CONTEXT": "services/web",
        }
        for key, value in lines.items():
            print(f"{key}={value}")

    app.add_typer(group, name="export")
