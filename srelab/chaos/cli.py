"""`srelab chaos run | list | compare | restore`."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from srelab.chaos.journal import Journal, read_journal
from srelab.chaos.model import Experiment, ExperimentError, load_experiment
from srelab.chaos.schedule import PHASES
from srelab.chaos.targets import Candidate
from srelab.chaos.verdict import PARTS
from srelab.errors import LabError
from srelab.stack.settings import ROOT, Settings

EXPERIMENTS_DIR = ROOT / "chaos" / "experiments"
console = Console()

chaos_app = typer.Typer(
    name="chaos",
    help="Chaos experiments under load: inject faults, restore, measure, judge.",
    no_args_is_help=True,
)


def _resolve(path: Path) -> Path:
    """A path, or a bare experiment name looked up in chaos/experiments."""
    if not path.exists() and path.suffix == "" and (EXPERIMENTS_DIR / f"{path.name}.yaml").exists():
        return EXPERIMENTS_DIR / f"{path.name}.yaml"
    return path


@chaos_app.command("run")
def run_cmd(
    experiment: Annotated[
        Path, typer.Argument(help="experiment file (chaos/experiments/<name>.yaml) or name")
    ],
    seed: Annotated[int | None, typer.Option(help="seed for random target picks without their own")] = None,
    live: Annotated[
        bool | None, typer.Option("--live/--no-live", help="live view (default: on a terminal)")
    ] = None,
    annotate: Annotated[bool, typer.Option("--annotate/--no-annotate", help="Grafana/Loki events")] = True,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="validate and show the plan; touch nothing")
    ] = False,
) -> None:
    """Run an experiment: load, faults at planned times, restore, audit, report.

    Exit 0 pass, 1 fail, 2 bad input, 3 inconclusive (no failure, but the load generator saturated).
    """
    path = _resolve(experiment)
    exp = load_experiment(path)  # validation first: a bad file changes nothing
    from srelab.stack.settings import get_settings

    settings = get_settings()
    if dry_run:
        _show_plan(exp, settings, seed)
        return
    _run(exp, path, settings, live=live, seed=seed, annotate=annotate)


def _show_plan(exp: Experiment, settings: Settings, seed: int | None) -> None:
    """--dry-run: the planned events on the services they would hit now; nothing touched."""
    from srelab.chaos.schedule import plan
    from srelab.chaos.targets import compose_candidates, select_all

    candidates, roles_note = _with_redis_roles(compose_candidates(settings), settings)
    selections = select_all(exp.targets, candidates, seed)
    table = Table(title=f"{exp.name}: plan (nothing touched)")
    for column in ("t+", "event", "fault", "services"):
        table.add_column(column)
    for ev in plan(exp):
        fault = exp.faults[ev.fault]
        table.add_row(f"{ev.at:g}s", ev.kind, fault.describe(), ", ".join(selections[fault.target].services))
    console.print(table)
    console.print(
        f"load: {exp.spec.scenario.value} x {exp.spec.users} users, "
        + (f"{exp.spec.requests} requests" if exp.spec.requests else f"{exp.spec.duration_s:g} s")
        + (" with hey" if exp.load.tool == "hey" else "")
    )
    if roles_note:
        console.print(roles_note, highlight=False)


def _with_redis_roles(candidates: list[Candidate], settings: Settings) -> tuple[list[Candidate], str]:
    """The candidates with each Redis node's role now, and a line saying them (or why not)."""
    try:  # read-only: INFO replication of each Redis node (redis-primary, zone: primary)
        from srelab.chaos.failover import RedisProbe
        from srelab.chaos.faults import FaultDriver
        from srelab.chaos.targets import with_redis_roles
        from srelab.stack.engine import compose_client

        probe = RedisProbe(
            FaultDriver(compose_client(settings, ()), settings), settings.lab_redis_master_name
        )
        nodes = probe.nodes([c.service for c in candidates if c.role == "redis"])
        candidates = with_redis_roles(candidates, {n.service: n.role for n in nodes})
        return candidates, "redis roles now: " + ", ".join(f"{n.service} {n.role}" for n in nodes)
    except Exception as exc:
        return (
            candidates,
            f"redis roles not asked ({type(exc).__name__}): redis-primary/replica cannot resolve",
        )


def _run(
    exp: Experiment, path: Path, settings: Settings, *, live: bool | None, seed: int | None, annotate: bool
) -> None:
    from srelab.chaos.runner import ChaosRunner, RunSignal

    runner = ChaosRunner(exp, path, settings, console=console, live=live, seed=seed, annotate=annotate)
    runner.prepare()
    console.print(f"[bold]{exp.name}[/]: {exp.description}")
    console.print(f"results: {runner.out_dir}")
    try:
        journal = runner.run()
    except KeyboardInterrupt as exc:
        console.print(f"[yellow]interrupted[/]: targets restored; partial report in {runner.out_dir}")
        if isinstance(exc, RunSignal):
            # Restored and reported: leave at once (the shell's 128 + signal). Finalising the
            # interpreter while the load's threads still unwind aborted it once in CI
            # ("terminate called without an active exception", exit -6).
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(128 + exc.signum)
        raise
    _print_summary(journal, runner.out_dir)
    # sys.exit, not typer.Exit: srelab.cli.main runs the app with standalone_mode=False and drops
    # the code a typer.Exit carries (the run would exit 0 whatever the verdict).
    sys.exit(journal.exit_code)


def _print_summary(journal: Journal, folder: Path) -> None:
    v = journal.verdicts
    table = Table(title=f"{journal.experiment_name}: {v.overall.label if v else '?'}")
    table.add_column("part")
    table.add_column("verdict")
    table.add_column("details")
    if v is not None:
        for part in PARTS:
            item = getattr(v, part)
            style = "red" if not item.passed else "yellow" if item.inconclusive else "green"
            detail = "; ".join(item.reasons or item.inconclusive or item.notes) or "-"
            table.add_row(part, f"[{style}]{item.label}[/]", detail)
    console.print(table)
    for rec in journal.recovery:
        console.print(
            f"fault {rec.fault}: {rec.errors} errors / {rec.requests} requests in the window "
            f"({rec.error_rate:.2%}), first error after "
            f"{'-' if rec.time_to_first_error_s is None else f'{rec.time_to_first_error_s:g} s'}, "
            f"hypothesis holds again after "
            f"{'never' if not rec.recovered else f'{rec.time_to_recover_s:.1f} s'}",
            highlight=False,
        )
    if journal.failover is not None:
        from srelab.chaos.report import failover_context

        line, _ = failover_context(journal)
        f = journal.failover
        console.print(
            f"redis failover: {line}; {f.errors_total} failed request(s) after the fault "
            f"({f.errors_outside_window} outside the failover window); replicas linked after the "
            f"restore: {'yes' if f.replicas_linked else 'NO'}, old primary {f.old_primary} rejoined: "
            f"{'yes' if f.old_primary_rejoined else 'NO'}",
            highlight=False,
        )
    for fault in journal.faults:
        rot = fault.rotation
        if rot is not None:
            back = "-" if rot.back_in_rotation_s is None else f"{rot.back_in_rotation_s:.2f} s"
            healthy = "-" if rot.healthy_s is None else f"{rot.healthy_s:.2f} s"
            console.print(
                f"{fault.service}: healthy after {healthy}, back in rotation after {back} "
                f"(from {rot.reference or '?'})" + (f" [{rot.error}]" if rot.error else ""),
                highlight=False,
            )
    if journal.audit is not None and journal.audit.keyless is not None:
        k = journal.audit.keyless
        console.print(
            f"keyless write audit ({k.name}): {'?' if k.sent is None else k.sent} sent, {k.acknowledged} "
            f"acknowledged (2xx), {k.stored} stored: {k.duplicates} duplicate(s), {k.lost} lost"
            + ("" if k.list_complete else " [listing incomplete]"),
            highlight=False,
        )
    elif journal.audit is not None:
        a = journal.audit
        console.print(
            f"write audit: {a.acknowledged} acknowledged, {a.lost} lost, {a.unverified} unverified, "
            f"{a.duplicate_keys} duplicate keys, {a.listed_twice} listed twice",
            highlight=False,
        )
    console.print(f"report: {folder / 'report.md'} (also report.html, timeline.png, journal.json)")


@chaos_app.command("restore")
def restore_cmd(
    file: Annotated[
        Path | None,
        typer.Option("--file", help="a pending-restores file (default: results/.chaos-pending.json)"),
    ] = None,
) -> None:
    """Undo what a dead chaos run left (paused, stopped, disconnected, netem, CPU loops), one line per
    restore. Exit 0 when nothing was pending or all was undone, 1 when a restore failed (it stays)."""
    from srelab.chaos.faults import FaultDriver
    from srelab.chaos.pending import read_pending, restore_pending, well_known
    from srelab.stack.settings import get_settings

    settings = get_settings()
    path = file or well_known(Path(settings.lab_results_dir))
    pending = read_pending(path)  # a file that is not ours: one line, exit 2, nothing touched
    if pending is None or not pending.entries:
        path.unlink(missing_ok=True)
        console.print(f"nothing pending ({path})", highlight=False)
        return
    from srelab.stack.engine import compose_client, require_engine

    docker = compose_client(settings, ())
    require_engine(docker)
    driver = FaultDriver(docker, settings)
    done = restore_pending(path, driver, say=lambda text: console.print(text, highlight=False))
    failed = done[1] if done else 0
    if failed:
        console.print(f"[red]{failed} restore(s) failed[/]: still pending in {path}")
        sys.exit(1)


@chaos_app.command("list")
def list_cmd(
    directory: Annotated[
        Path, typer.Option("--dir", help="where the experiment files are")
    ] = EXPERIMENTS_DIR,
) -> None:
    """The experiments: name, description, faults and duration (invalid files are flagged)."""
    files = sorted(directory.glob("*.yaml"))
    if not files:
        raise LabError(f"no experiment files in {directory}")
    table = Table(title=f"chaos experiments ({directory})")
    table.add_column("name", no_wrap=True)
    table.add_column("description", overflow="fold", ratio=3)
    table.add_column("faults", overflow="fold", ratio=1)
    table.add_column("duration", overflow="fold")
    for path in files:
        try:
            exp = load_experiment(path)
        except ExperimentError as exc:
            table.add_row(path.stem, f"[red]invalid: {exc}[/]", "-", "-")
            continue
        duration = (
            f"{exp.spec.duration_s:g} s"
            if exp.time_bound
            else f"{exp.spec.requests} requests (~{exp.planned_duration_s:g} s)"
        )
        table.add_row(exp.name, exp.description, exp.fault_summary(), duration)
    console.print(table)


def _num(value: float | None, spec: str = ".2f") -> str:
    return "-" if value is None else f"{value:{spec}}"


Add = Callable[[str, str, str], None]


def compare_rows(a: Journal, b: Journal) -> list[tuple[str, str, str]]:
    """(metric, run A, run B) rows for two journals."""
    rows: list[tuple[str, str, str]] = []

    def add(name: str, fa: str, fb: str) -> None:
        rows.append((name, fa, fb))

    add("experiment", a.experiment_name, b.experiment_name)
    add("run", a.run_id, b.run_id)
    add(
        "verdict",
        a.verdicts.overall.label if a.verdicts else "?",
        b.verdicts.overall.label if b.verdicts else "?",
    )
    add(
        "targets",
        "; ".join(f"{k}={','.join(v)}" for k, v in a.targets.items()),
        "; ".join(f"{k}={','.join(v)}" for k, v in b.targets.items()),
    )
    add("requests / failed", f"{a.load.requests} / {a.load.failed}", f"{b.load.requests} / {b.load.failed}")
    add_phase_rows(add, a, b)
    add_recovery_rows(add, a, b)
    add_failover_rows(add, a, b)
    add_audit_rows(add, a, b)
    add_detection_rows(add, a, b)
    return rows


def add_phase_rows(add: Add, a: Journal, b: Journal) -> None:
    """Error rate, req/s, p95 and failures by kind of each phase."""
    for phase in PHASES:
        pa, pb = a.phases.get(phase), b.phases.get(phase)
        for label, getter in (
            ("error rate", lambda p: f"{p.error_rate:.2%}" if p.requests else "-"),
            ("req/s", lambda p: _num(p.rps, ".1f")),
            ("p95 ms", lambda p: _num(p.p95_ms, ".0f")),
            ("failures", lambda p: ", ".join(f"{k} {v}" for k, v in sorted(p.failures.items())) or "-"),
        ):
            add(f"{phase}: {label}", getter(pa) if pa else "-", getter(pb) if pb else "-")


def add_recovery_rows(add: Add, a: Journal, b: Journal) -> None:
    """Per fault: errors in its window, first error, recovery; then each target back in rotation."""
    count = max(len(a.recovery), len(b.recovery))
    for i in range(count):
        ra = a.recovery[i] if i < len(a.recovery) else None
        rb = b.recovery[i] if i < len(b.recovery) else None
        add(
            f"fault {i}: errors in window",
            f"{ra.errors}/{ra.requests}" if ra else "-",
            f"{rb.errors}/{rb.requests}" if rb else "-",
        )
        add(
            f"fault {i}: first error after s",
            _num(ra.time_to_first_error_s, ".1f") if ra else "-",
            _num(rb.time_to_first_error_s, ".1f") if rb else "-",
        )
        add(
            f"fault {i}: recovered after s",
            _num(ra.time_to_recover_s, ".1f") if ra else "-",
            _num(rb.time_to_recover_s, ".1f") if rb else "-",
        )
    rot_a = [f.rotation for f in a.faults if f.rotation]
    rot_b = [f.rotation for f in b.faults if f.rotation]
    for i in range(max(len(rot_a), len(rot_b))):
        x = rot_a[i] if i < len(rot_a) else None
        y = rot_b[i] if i < len(rot_b) else None
        add(
            f"back in rotation s ({x.service if x else y.service if y else '?'})",
            _num(x.back_in_rotation_s) if x else "-",
            _num(y.back_in_rotation_s) if y else "-",
        )


def add_failover_rows(add: Add, a: Journal, b: Journal) -> None:
    """The Redis failover figures, when either run has them."""
    if a.failover is None and b.failover is None:
        return
    for label, fget in (
        ("redis: primary at the start", lambda f: f.old_primary or "-"),
        ("redis: promotion after s", lambda f: _num(f.failover_s) if f.promoted else "none"),
        ("redis: new primary", lambda f: f.new_primary or "-"),
        ("redis: first write acknowledged after s", lambda f: _num(f.first_write_s)),
        (
            "redis: errors after fault (outside window)",
            lambda f: f"{f.errors_total} ({f.errors_outside_window})",
        ),
        (
            "redis: replicas linked / old primary rejoined",
            lambda f: f"{'yes' if f.replicas_linked else 'no'} / {'yes' if f.old_primary_rejoined else 'no'}",
        ),
    ):
        add(
            label,
            fget(a.failover) if a.failover is not None else "-",
            fget(b.failover) if b.failover is not None else "-",
        )


def add_audit_rows(add: Add, a: Journal, b: Journal) -> None:
    for label, getter in (
        ("writes acknowledged", lambda j: str(j.audit.acknowledged)),
        ("writes lost", lambda j: str(j.audit.lost)),
        ("duplicates (keys / listed twice)", lambda j: f"{j.audit.duplicate_keys} / {j.audit.listed_twice}"),
        ("keyless: acknowledged / stored", _keyless_balance),
    ):
        add(label, getter(a) if a.audit else "-", getter(b) if b.audit else "-")


def _detection_of(journal: Journal) -> str | None:
    """None when detection was measured; else what to show in its place."""
    d = journal.detection
    if d is None:
        return "not recorded"
    return None if d.status == "measured" else "not measured"


def add_detection_rows(add: Add, a: Journal, b: Journal) -> None:
    """Time to detect / resolve per fault, alerts, false positives and silent faults, side by side."""
    missing = (_detection_of(a), _detection_of(b))
    da, db = a.detection, b.detection
    faults_a = {f.fault: f for f in da.faults} if da and not missing[0] else {}
    faults_b = {f.fault: f for f in db.faults} if db and not missing[1] else {}

    def cell(side: int, faults: dict, index: int, what: str) -> str:
        if missing[side]:
            return missing[side] or "-"
        f = faults.get(index)
        if f is None:
            return "-"
        if what == "detect":
            return f"{f.time_to_detect_s:.1f} ({f.first_alert})" if f.detected else "SILENT"
        if what == "resolve":
            return _num(f.time_to_resolve_s, ".1f") if f.detected else "-"
        return ", ".join(sorted({x.name for x in f.alerts})) or "-"

    for index in sorted(set(faults_a) | set(faults_b) or {0}):
        add(
            f"fault {index}: time to detect s",
            cell(0, faults_a, index, "detect"),
            cell(1, faults_b, index, "detect"),
        )
        add(
            f"fault {index}: time to resolve s",
            cell(0, faults_a, index, "resolve"),
            cell(1, faults_b, index, "resolve"),
        )
        add(f"fault {index}: alerts", cell(0, faults_a, index, "alerts"), cell(1, faults_b, index, "alerts"))
    add(
        "false positives",
        missing[0] or str(len(da.false_positives if da else [])),
        missing[1] or str(len(db.false_positives if db else [])),
    )


def _keyless_balance(journal: Journal) -> str:
    k = journal.audit.keyless if journal.audit is not None else None
    return "-" if k is None else f"{k.acknowledged} / {k.stored}"


@chaos_app.command("compare")
def compare_cmd(
    run1: Annotated[Path, typer.Argument(help="a results/chaos-* folder (or its journal.json)")],
    run2: Annotated[Path, typer.Argument(help="another one")],
) -> None:
    """Two runs side by side: verdicts, phases, recovery figures, write audit."""
    a, b = read_journal(run1), read_journal(run2)
    table = Table(title="chaos runs compared")
    table.add_column("metric")
    table.add_column(a.run_id, overflow="fold")
    table.add_column(b.run_id, overflow="fold")
    for metric, va, vb in compare_rows(a, b):
        style = "" if va == vb or metric in ("run",) else "bold"
        table.add_row(metric, f"[{style}]{va}[/]" if style else va, f"[{style}]{vb}[/]" if style else vb)
    console.print(table)


@chaos_app.command("table")
def table_cmd(
    runs: Annotated[list[Path], typer.Argument(help="results/chaos-* folders (or their journal.json)")],
) -> None:
    """A Markdown table of runs, one row per experiment (its newest run): README's chaos table."""
    from srelab.chaos.table import markdown

    print(markdown(read_journal(run) for run in runs))


def register(app: typer.Typer) -> None:
    app.add_typer(chaos_app, name="chaos")
