"""`srelab results`: every run under results/ as a table, and results/index.html."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from srelab.errors import LabError
from srelab.results.index import as_rows, newest_first, scan, write_index

console = Console()
STYLES = {
    "PASS": "green",
    "valid": "green",
    "goals met": "green",
    "FAIL": "red",
    "invalid": "red",
    "unreadable": "red",
}


def results_table(rows: list[dict[str, str]], title: str) -> Table:
    table = Table(title=title)
    table.add_column("run", no_wrap=True)
    for column in ("kind", "date", "verdict", "figures"):
        table.add_column(column, overflow="fold")
    for row in rows:
        style = STYLES.get(row["verdict"], "yellow")
        verdict = f"[{style}]{row['verdict']}[/]"
        table.add_row(row["run"], row["kind"], row["date"], verdict, row["figures"])
    return table


def results(
    directory: Annotated[
        Path | None, typer.Option("--dir", help="results folder (default: LAB_RESULTS_DIR, results/)")
    ] = None,
    html: Annotated[bool, typer.Option(help="also write <dir>/index.html with the trend plots")] = True,
) -> None:
    """List every bench, load and chaos run with its date, verdict and key figures."""
    if directory is None:
        from srelab.stack.settings import get_settings

        directory = Path(get_settings().lab_results_dir)
    if directory.exists() and not directory.is_dir():
        raise LabError(f"{directory} is not a folder (results are folders under results/)")
    entries = scan(directory)
    if not entries:
        console.print(
            f"no runs under {directory} yet (`make load`, `make bench`, `make chaos` write there)",
            soft_wrap=True,
        )
        return
    console.print(results_table(as_rows(newest_first(entries)), f"{len(entries)} runs in {directory}"))
    if html:
        console.print(f"index: {write_index(directory, entries)}")


def register(app: typer.Typer) -> None:
    app.command()(results)
