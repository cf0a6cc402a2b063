"""Read every folder under results/ through the writers' own models, without ever failing on one.

A folder is a bench run (bench.json, srelab/load/bench.py), a chaos run (journal.json,
srelab/chaos/journal.py) or a load run (summary.json, srelab/load/report.py); anything else is
listed as foreign, and a file that does not parse as unreadable, with the reason.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from jinja2 import Environment, FileSystemLoader, select_autoescape

Kind = Literal["bench", "chaos", "load", "unreadable", "foreign"]
TEMPLATES = Path(__file__).resolve().parent / "templates"
# Bench rows plotted over time, and how each is named in the plot.
BENCH_TREND_ROWS = {
    "get_proxy": "GET proxy",
    "post_proxy": "POST proxy",
    "get_direct": "GET direct",
    "post_direct": "POST direct",
}


@dataclass
class RunEntry:
    name: str  # folder name under results/
    kind: Kind
    date: datetime | None = None
    verdict: str = "-"
    figures: str = "-"  # key figures, one short line
    report: str | None = None  # file to open, relative to results/
    problem: str | None = None  # why it is unreadable or foreign
    trend: dict[str, float] = field(default_factory=dict)  # plotted values (bench req/s, chaos %)
    experiment: str | None = None  # chaos runs: the experiment's name


def _utc(epoch: float) -> datetime:
    return datetime.fromtimestamp(epoch, UTC)


def _first_line(exc: BaseException) -> str:
    lines = [line for line in str(exc).strip().splitlines() if line.strip()]
    return f"{type(exc).__name__}: {lines[0] if lines else ''}".rstrip(": ")


def _report(folder: Path, *names: str) -> str | None:
    for name in names:
        if (folder / name).is_file():
            return f"{folder.name}/{name}"
    return None


def _bench(folder: Path) -> RunEntry:
    from srelab.load.bench import load_report

    report = load_report(folder / "bench.json")
    rows = {r.id: r for r in report.rows}
    goals = report.derived.get("goals") or []
    missed = [g for g in goals if g.get("met") is False]
    verdict = f"{len(missed)}/{len(goals)} goals missed" if missed else ("goals met" if goals else "-")
    figures = ", ".join(
        f"{label} {rows[rid].rps:,.0f} req/s" for rid, label in BENCH_TREND_ROWS.items() if rid in rows
    )
    return RunEntry(
        name=folder.name,
        kind="bench",
        date=datetime.fromisoformat(report.started_at),
        verdict=verdict,
        figures=figures or f"{len(rows)} rows",
        report=_report(folder, "bench.md", "bench.json"),
        trend={label: rows[rid].rps for rid, label in BENCH_TREND_ROWS.items() if rid in rows},
    )


def _chaos(folder: Path) -> RunEntry:
    from srelab.chaos.journal import read_journal

    journal = read_journal(folder)
    requests, failed = journal.load.requests, journal.load.failed
    parts = [f"{requests:,} requests, {failed:,} failed"]
    if journal.audit is not None:
        parts.append(f"{journal.audit.lost} lost, {journal.audit.duplicate_keys} duplicated")
    if journal.aborted:
        parts.append(f"aborted: {journal.aborted}")
    return RunEntry(
        name=folder.name,
        kind="chaos",
        date=_utc(journal.started_at),
        verdict=journal.verdicts.overall.label if journal.verdicts else "no verdict",
        figures="; ".join(parts),
        report=_report(folder, "report.html", "report.md", "journal.json"),
        trend={"failed %": 100.0 * failed / requests} if requests else {},
        experiment=journal.experiment_name,
    )


def _load(folder: Path) -> RunEntry:
    from srelab.load import LoadResult

    result = LoadResult.model_validate(json.loads((folder / "summary.json").read_text(encoding="utf-8")))
    p95 = result.latency.p95_ms
    figures = (
        f"{result.requests:,} requests, {result.rps:,.0f} req/s, {result.error_rate:.2%} errors, "
        f"p95 {'-' if p95 is None else f'{p95:.0f} ms'}"
    )
    return RunEntry(
        name=folder.name,
        kind="load",
        date=_utc(result.started_at),
        verdict="valid" if result.valid else "invalid",
        figures=f"{result.tool}: {figures}",
        report=_report(folder, "report.html", "timeline.png", "summary.json"),
    )


READERS = (("bench.json", _bench), ("journal.json", _chaos), ("summary.json", _load))


def read_run(folder: Path) -> RunEntry:
    """One results folder as an index row; never raises."""
    for marker, reader in READERS:
        try:
            if (folder / marker).exists():
                return reader(folder)
        except Exception as exc:  # any broken file (or folder) is shown, never fatal
            return RunEntry(folder.name, "unreadable", problem=f"{marker}: {_first_line(exc)}")
    return RunEntry(folder.name, "foreign", problem="no bench.json, journal.json or summary.json")


def scan(results_dir: Path) -> list[RunEntry]:
    """Every folder under `results_dir` (hidden ones skipped), oldest first, undated ones last."""
    if not results_dir.is_dir():
        return []
    folders = [p for p in sorted(results_dir.iterdir()) if p.is_dir() and not p.name.startswith(".")]
    earliest = datetime.min.replace(tzinfo=UTC)
    return sorted(map(read_run, folders), key=lambda e: (e.date is None, e.date or earliest, e.name))


def newest_first(entries: list[RunEntry]) -> list[RunEntry]:
    """Dated runs newest first, then the undated (foreign, unreadable) ones."""
    return [e for e in reversed(entries) if e.date] + [e for e in entries if not e.date]


# ----------------------------------------------------------------------------- plots and page
def plot_bench_trend(entries: list[RunEntry], path: Path) -> bool:
    """req/s of the main bench rows per bench run; False (and no file) when there is no bench."""
    runs = [e for e in entries if e.kind == "bench" and e.date and e.trend]
    if not runs:
        return False
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 3.2))
    for label in BENCH_TREND_ROWS.values():
        points = [(e.date, e.trend[label]) for e in runs if label in e.trend]
        if points:
            ax.plot([p[0] for p in points], [p[1] for p in points], marker="o", label=label)
    ax.set_ylabel("req/s")
    ax.set_ylim(bottom=0)
    ax.margins(x=0.05, y=0.1)  # no marker cut at the frame
    ax.set_title("bench: throughput per run")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="lower left")
    fig.autofmt_xdate()
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return True


def plot_chaos_trend(entries: list[RunEntry], path: Path) -> bool:
    """Failed share of the requests per chaos run, one line per experiment, failed verdicts marked."""
    runs = [e for e in entries if e.kind == "chaos" and e.date and e.trend]
    if not runs:
        return False
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(9, 3.6))
    for name in sorted({e.experiment or "?" for e in runs}):
        mine = [e for e in runs if (e.experiment or "?") == name]
        ax.plot([e.date for e in mine], [e.trend["failed %"] for e in mine], marker="o", label=name)
        bad = [e for e in mine if e.verdict != "PASS"]
        ax.scatter([e.date for e in bad], [e.trend["failed %"] for e in bad], marker="x", s=80, color="red")
    ax.set_ylabel("failed requests, %")
    ax.set_ylim(bottom=0)
    ax.margins(x=0.05, y=0.1)  # no marker cut at the frame
    ax.set_title("chaos: failed share of the requests per run (x: not PASS)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, ncol=2, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    fig.autofmt_xdate()
    fig.savefig(path, dpi=90, bbox_inches="tight")
    plt.close(fig)
    return True


def write_index(results_dir: Path, entries: list[RunEntry] | None = None) -> Path:
    """results/index.html linking every report, with the trend plots beside it; returns its path."""
    results_dir.mkdir(parents=True, exist_ok=True)
    entries = scan(results_dir) if entries is None else entries
    plots = {}
    for name, plot in (("bench", plot_bench_trend), ("chaos", plot_chaos_trend)):
        target = results_dir / f"index-{name}-trend.png"
        try:
            drawn = plot(entries, target)
        except Exception as exc:  # a plot must never cost the index
            drawn = False
            plots[name] = f"not drawn: {_first_line(exc)}"
        if drawn:
            plots[name] = target.name
        elif target.exists():
            target.unlink()  # a stale plot of runs that are gone
    env = Environment(loader=FileSystemLoader(TEMPLATES), autoescape=select_autoescape(["html", "j2"]))
    html = env.get_template("index.html.j2").render(
        entries=newest_first(entries),
        plots=plots,
        generated=datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        counts=_counts(entries),
    )
    out = results_dir / "index.html"
    out.write_text(html, encoding="utf-8")
    return out


def _counts(entries: list[RunEntry]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for e in entries:
        counts[e.kind] = counts.get(e.kind, 0) + 1
    return counts


def as_rows(entries: list[RunEntry]) -> list[dict[str, Any]]:
    """Plain rows (for tables and tests)."""
    return [
        {
            "run": e.name,
            "kind": e.kind,
            "date": e.date.strftime("%Y-%m-%d %H:%M:%S") if e.date else "-",
            "verdict": e.verdict if e.kind not in ("unreadable", "foreign") else e.kind,
            "figures": e.problem or e.figures,
            "report": e.report or "-",
        }
        for e in entries
    ]
