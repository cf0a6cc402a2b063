"""Render a journal: report.md, timeline.png (matplotlib) and report.html (jinja2, PNG embedded).

Works on a recorded journal alone (`render_report(journal, folder)`), so runs can be re-rendered.
"""

from __future__ import annotations

import base64
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, select_autoescape

from srelab.chaos.journal import Journal
from srelab.chaos.schedule import PHASES
from srelab.chaos.verdict import PARTS, RotationFigures
from srelab.plots import plot_latency, save, timeline_figure

TEMPLATES = Path(__file__).resolve().parent / "templates"


def fmt(value: float | None, spec: str = ".2f", unit: str = "") -> str:
    if value is None:
        return "-"
    return f"{value:{spec}}{unit}"


def pct(value: float | None) -> str:
    return "-" if value is None else f"{value:.2%}"


def offset(journal: Journal, t: float | None) -> str:
    if t is None or journal.t0 is None:
        return "-"
    return f"t+{t - journal.t0:.1f}s"


def kinds(failures: dict[str, int]) -> str:
    return ", ".join(f"{k} {v}" for k, v in sorted(failures.items()) if v) or "-"


def _table(header: Iterable[str], rows: Iterable[Iterable[Any]]) -> list[str]:
    head = list(header)
    lines = ["| " + " | ".join(head) + " |", "|" + "|".join("---" for _ in head) + "|"]
    for row in rows:
        lines.append("| " + " | ".join(str(c).replace("|", "\\|") for c in row) + " |")
    return lines


PHASE_HEADER = ["phase", "seconds", "requests", "failed", "error rate", "req/s", "p95 ms", "failures"]
FAULT_HEADER = [
    "#",
    "fault",
    "service",
    "injected",
    "restored",
    "method",
    "first error after",
    "errors/requests in window",
    "error rate",
    "hypothesis holds again after",
    "healthy after",
    "back in rotation",
]
EVENT_HEADER = ["when", "kind", "action", "service", "outcome", "took", "detail"]
TIMELINE_HEADER = [
    "s",
    "phase",
    "req",
    "ok",
    "failed",
    "kinds",
    "p50",
    "p95",
    "p99",
    "served by",
    "breach",
    "events",
]


def context(journal: Journal) -> dict[str, Any]:
    """Everything the Markdown and HTML reports show, as plain rows."""
    v = journal.verdicts
    detection_line, detection_rows, alert_rows = detection_context(journal)
    failover_line, failover_rows = failover_context(journal)
    audit_rows, keyless_line = audit_context(journal)
    started = datetime.fromtimestamp(journal.started_at, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    return {
        "j": journal,
        "verdict": v.overall.label if v is not None else "UNKNOWN",
        "started": started,
        "duration": f"{journal.ended_at - journal.started_at:.0f} s",
        "targets": ", ".join(
            f"{k} -> {', '.join(s)}" + (f" (seed {journal.seeds[k]})" if k in journal.seeds else "")
            for k, s in journal.targets.items()
        ),
        "load_line": load_line(journal),
        "verdict_rows": verdict_rows(journal),
        "phase_header": list(PHASE_HEADER),
        "phase_rows": phase_rows(journal),
        "fault_header": list(FAULT_HEADER),
        "fault_rows": fault_rows(journal),
        "event_header": list(EVENT_HEADER),
        "event_rows": event_rows(journal),
        "audit_rows": audit_rows,
        "keyless_line": keyless_line,
        "timeline_header": list(TIMELINE_HEADER),
        "timeline_rows": timeline_rows(journal),
        "failover_line": failover_line,
        "failover_rows": failover_rows,
        "detection_line": detection_line,
        "detection_header": DETECTION_HEADER,
        "detection_rows": detection_rows,
        "alert_header": ALERT_HEADER,
        "alert_rows": alert_rows,
    }


def verdict_rows(journal: Journal) -> list[list[Any]]:
    """One row per part: its label and why (its reasons, else why inconclusive, else its notes)."""
    v = journal.verdicts
    rows = []
    if v is not None:
        for part in PARTS:
            item = getattr(v, part)
            detail = "; ".join(item.reasons or item.inconclusive or item.notes)
            rows.append([part, item.label, detail or "-"])
    return rows


def phase_rows(journal: Journal) -> list[list[Any]]:
    rows = []
    for name in PHASES:
        ph = journal.phases.get(name)
        if ph is None:
            continue
        rows.append(
            [
                name,
                ph.seconds,
                ph.requests,
                ph.failed,
                pct(ph.error_rate) if ph.requests else "-",
                fmt(ph.rps, ".1f"),
                fmt(ph.p95_ms, ".0f"),
                kinds(ph.failures),
            ]
        )
    return rows


def fault_rows(journal: Journal) -> list[list[Any]]:
    """One row per fault and service: when it was injected and restored, its recovery figures."""
    by_fault = {r.fault: r for r in journal.recovery}
    rows = []
    for f in journal.faults:
        rec = by_fault.get(f.index)
        rot = f.rotation
        rows.append(
            [
                f.index,
                f.description,
                f.service,
                offset(journal, f.injected_at) if f.inject_ok else f"not injected ({f.skipped or 'failed'})",
                offset(journal, f.restored_at) if f.restore_ok else "NOT RESTORED",
                f.method or "-",
                fmt(rec.time_to_first_error_s, ".0f", " s") if rec else "-",
                f"{rec.errors}/{rec.requests}" if rec else "-",
                pct(rec.error_rate) if rec and rec.requests else "-",
                (fmt(rec.time_to_recover_s, ".0f", " s") if rec.recovered else "never") if rec else "-",
                fmt(rot.healthy_s, ".2f", " s") if rot else "-",
                _back_in_rotation(rot),
            ]
        )
    return rows


def _back_in_rotation(rot: RotationFigures | None) -> str:
    if rot is None:
        return "-"
    if rot.back_in_rotation_s is None:
        return rot.error or "-"
    return fmt(rot.back_in_rotation_s, ".2f", " s") + (f" after {rot.reference}" if rot.reference else "")


def event_rows(journal: Journal) -> list[list[Any]]:
    return [
        [
            offset(journal, e.t),
            e.kind,
            e.action or "-",
            e.service or "-",
            "ok" if e.ok else "FAILED",
            f"{e.end - e.t:.2f} s",
            e.detail or e.error or "-",
        ]
        for e in journal.events
    ]


def audit_context(journal: Journal) -> tuple[list[list[Any]], str]:
    """(rows, one line for keyless writes) for the write audit section; no rows when it did not run."""
    a = journal.audit
    if a is None:
        return [], ""
    if a.keyless is None:
        return [
            ["POST attempts recorded", a.posts],
            [
                "acknowledged (2xx with an id)",
                f"{a.acknowledged_posts} answers, {a.acknowledged} distinct ids",
            ],
            ["read back (GET /items/<id>)", a.read_ok],
            [
                "acknowledged writes lost",
                f"{a.lost}" + (f" ({', '.join(a.lost_ids[:5])})" if a.lost_ids else ""),
            ],
            ["unverified", a.unverified],
            ["Idempotency-Keys with several ids", a.duplicate_keys],
            [
                "items listed twice",
                f"{a.listed_twice} (scanned {a.listed} items, {a.list_pages} pages"
                + (", complete)" if a.list_complete else ", not complete)"),
            ],
            ["acknowledged but missing from GET /items", a.missing_from_list],
        ], ""
    k = a.keyless
    sent = "unknown (stopped early)" if k.sent is None else k.sent
    rows: list[list[Any]] = [
        ["item name of the run (every POST body)", k.name],
        ["requests sent (hey -n, rounded to its workers)", sent],
        ["answered", k.answered],
        ["acknowledged (2xx)", k.acknowledged],
        ["failed (non-2xx or no answer)", k.failed],
        [
            "stored (items with the run's name in GET /items)",
            f"{k.stored} (scanned {a.listed} items, {k.list_pages} pages"
            + (", complete)" if k.list_complete else ", not complete)"),
        ],
        ["duplicates (stored - acknowledged)", k.duplicates],
        ["acknowledged writes lost (acknowledged - stored)", k.lost],
        ["items of the run listed twice", k.listed_twice],
    ]
    if k.error:
        rows.append(["error", k.error])
    line = (
        f"keyless writes: {k.acknowledged} acknowledged, {k.stored} stored: "
        f"{k.duplicates} duplicate(s), {k.lost} lost"
    )
    return rows, line


def timeline_rows(journal: Journal) -> list[list[Any]]:
    return [
        [
            r.second,
            r.phase,
            r.requests,
            r.successes,
            r.failed,
            kinds(r.failures),
            fmt(r.p50_ms, ".0f"),
            fmt(r.p95_ms, ".0f"),
            fmt(r.p99_ms, ".0f"),
            " ".join(f"{k}:{n}" for k, n in sorted(r.served_by.items())) or "-",
            "" if r.holds else "x",
            "; ".join(r.marks),
        ]
        for r in journal.timeline
    ]


def load_line(journal: Journal) -> str:
    """The load in one line: scenario, users, shape, tool, counts, how it stopped."""
    load = journal.load
    spec = load.spec
    shape = f"{spec.get('requests')} requests" if spec.get("requests") else f"{spec.get('duration_s')} s"
    tool = load.summary.get("tool") or journal.experiment.get("load", {}).get("tool") or "locust"
    unplaced = load.summary.get("unplaced_failures") or 0
    return (
        f"{spec.get('scenario')} x {spec.get('users')} users, {shape}"
        + (f" (preset {load.preset})" if load.preset else "")
        + (" with hey" if tool == "hey" else "")
        + f": {load.requests} requests, {load.failed} failed"
        + (f" ({unplaced} without an answer: no time, in no second)" if unplaced else "")
        + (f", stopped by {load.stop_reason}" if load.stop_reason else "")
        + (f"; error: {load.error}" if load.error else "")
    )


def _nodes(nodes: Iterable[Any]) -> str:
    out = []
    for n in nodes:
        extra = " link down" if n.link_up is False else ""
        out.append(f"{n.service} {n.role}{extra}")
    return ", ".join(out) or "-"


def failover_context(journal: Journal) -> tuple[str, list[list[Any]]]:
    """(one line, rows) for the Redis failover section (HA runs whose faults touched Redis)."""
    f = journal.failover
    before = _nodes(journal.redis_nodes)
    if f is None:
        why = journal.failover_note or "not measured"
        return f"Not measured: {why}." + (
            f" Redis nodes at the start: {before}." if journal.redis_nodes else ""
        ), []
    rows: list[list[Any]] = [
        ["fault", f"{f.fault} ({', '.join(f.services)}) at {offset(journal, f.injected_at)}"],
        ["Redis nodes at the start", before],
        [
            "primary +sdown / +odown after",
            f"{fmt(f.sdown_s, '.2f', ' s')} / {fmt(f.odown_s, '.2f', ' s')}",
        ],
        [
            "promotion (+switch-master) after",
            f"{fmt(f.failover_s, '.2f', ' s')} ({f.old_primary} -> {f.new_primary})"
            if f.promoted
            else "none",
        ],
        [
            "first write acknowledged after",
            fmt(f.first_write_s, ".2f", " s") + f" ({f.writes_failed_before} POST(s) failed before it)",
        ],
        [
            "failed requests after the fault",
            f"{f.errors_total} ({f.errors_outside_window} outside the failover window: fault .. first "
            f"write + {f.window_grace_s:g} s)",
        ],
        ["Redis nodes after the restore", _nodes(f.nodes_after)],
        [
            "every replica linked / old primary rejoined",
            f"{'yes' if f.replicas_linked else 'NO'} / "
            + ("yes" if f.old_primary_rejoined else "NO")
            + (
                f" (seen {f.linked_after_s:.1f} s after the last restore, polled once the load ended and "
                "the restore was verified: an upper bound)"
                if f.linked_after_s is not None
                else ""
            ),
        ],
    ]
    for p in f.split_brain:
        rows.append(
            [
                f"split brain: writes on {p.service} while cut off",
                f"{p.tried} tried, {p.accepted} accepted (last +{fmt(p.last_accepted_s, '.1f', ' s')}), "
                f"{p.refused} refused (first +{fmt(p.first_refused_s, '.1f', ' s')}); {'; '.join(p.answers)}",
            ]
        )
    for note in f.notes:
        rows.append(["note", note])
    line = (
        f"promotion after {fmt(f.failover_s, '.2f', ' s')}" if f.promoted else "no promotion"
    ) + f", first write acknowledged after {fmt(f.first_write_s, '.2f', ' s')}"
    return line, rows


DETECTION_HEADER = ["#", "fault", "service", "first alert", "time to detect", "time to resolve", "alerts"]
ALERT_HEADER = ["alert", "severity", "fired", "resolved", "attributed to", "summary"]


def detection_context(journal: Journal) -> tuple[str, list[list[Any]], list[list[Any]]]:
    """(one line, a row per fault, a row per alert seen) for the detection section."""
    d = journal.detection
    if d is None:
        return "not measured (a journal from before detection was recorded)", [], []
    if d.status != "measured":
        return f"not measured: {d.reason}", [], []
    rows = []
    for f in d.faults:
        rows.append(
            [
                f.fault,
                f.description,
                f.service,
                f.first_alert or "SILENT (no alert)",
                fmt(f.time_to_detect_s, ".1f", " s"),
                fmt(f.time_to_resolve_s, ".1f", " s") if f.detected else "-",
                ", ".join(
                    f"{a.alert} +{a.detect_s:.1f}s"
                    + (f" (resolved +{a.resolve_s:.1f}s)" if a.resolve_s is not None else " (not resolved)")
                    for a in f.alerts
                )
                or "-",
            ]
        )
    where = {
        "fault": "fault {}",
        "false positive": "FALSE POSITIVE (no fault)",
        "before the run": "firing before the run",
    }
    alerts = [
        [
            a.label,
            a.severity or "-",
            offset(journal, a.starts_at),
            offset(journal, a.resolved_at) if a.resolved_at else "not resolved",
            where.get(a.verdict, "-").format(a.fault),
            a.summary or "-",
        ]
        for a in d.alerts
    ]
    line = (
        f"measured from {d.source} ({d.polls} polls every {d.poll_interval_s:g} s, {d.poll_errors} failed); "
        f"{len(d.alerts)} alert(s), {len(d.false_positives)} false positive(s), "
        f"silent faults: {', '.join(map(str, d.silent_faults)) or 'none'}"
    )
    return line, rows, alerts


def render_markdown(journal: Journal, png: str | None = "timeline.png") -> str:
    c = context(journal)
    j = journal
    out = [f"# Chaos run `{j.experiment_name}`: {c['verdict']}", "", j.description, ""]
    out += [
        f"- run: `{j.run_id}` from `{j.experiment_file}`, started {c['started']}, took {c['duration']}",
        f"- stack: project `{j.project}`, proxy {j.proxy_url}",
        f"- targets: {c['targets']}",
        f"- load: {c['load_line']}",
        *([f"- {c['keyless_line']}"] if c["keyless_line"] else []),
        f"- exit code: {j.exit_code}" + (f" (aborted: {j.aborted})" if j.aborted else ""),
        "",
        "## Verdicts",
        "",
        *_table(["part", "verdict", "details"], c["verdict_rows"]),
        "",
        f"## Phases (p95: {j.phase_latency})",
        "",
        *_table(c["phase_header"], c["phase_rows"]),
        "",
        "## Faults and recovery",
        "",
        *_table(c["fault_header"], c["fault_rows"]),
        "",
        "Times have a resolution of one second (the load's buckets) except healthy/back in rotation, "
        "polled every 0.1 s through the proxy.",
        "",
        "## Write audit",
        "",
    ]
    if c["audit_rows"]:
        out += _table(["check", "value"], c["audit_rows"])
    else:
        out.append(j.audit_note or "not run")
    out += ["", "## Redis failover (HA: from the fault)", ""]
    if c["failover_rows"]:
        out += _table(["figure", "value"], c["failover_rows"])
    else:
        out.append(c["failover_line"])
    out += ["", "## Detection (when monitoring noticed)", "", f"Detection {c['detection_line']}.", ""]
    if c["detection_rows"]:
        out += _table(c["detection_header"], c["detection_rows"])
        out.append("")
    if c["alert_rows"]:
        out += _table(c["alert_header"], c["alert_rows"])
        out.append("")
    out += [
        "",
        "## Actions (faults, restores, verification)",
        "",
        *_table(c["event_header"], c["event_rows"]),
        "",
    ]
    if j.restore_problems:
        out += ["**Restore problems:** " + "; ".join(j.restore_problems), ""]
    if png:
        out += ["## Timeline", "", f"![timeline]({png})", ""]
    out += ["## Per-second timeline", "", *_table(c["timeline_header"], c["timeline_rows"]), ""]
    notes = [*j.notes, *(f"{k}: {v}" for k, v in j.annotations.items())]
    if notes:
        out += ["## Notes", "", *(f"- {n}" for n in notes), ""]
    return "\n".join(out)


def plot_timeline(journal: Journal, path: Path) -> None:
    rows = journal.timeline
    t0 = journal.t0 or (rows[0].t if rows else journal.started_at)
    xs = [r.t - t0 for r in rows]
    alerts = [
        a
        for a in (journal.detection.alerts if journal.detection else [])
        if a.starts_at >= journal.started_at
    ]
    lanes = sorted({a.label for a in alerts})
    heights = [3, 2, 2] + ([max(1, 0.35 * len(lanes))] if lanes else [])
    title = f"{journal.experiment_name}: {journal.verdicts.overall.label if journal.verdicts else '?'}"
    title += "  (shaded: fault injected until restored" + ("; bars: alert firing" if lanes else "") + ")"
    fig, axes = timeline_figure(title, heights, figsize=(11, 7.5 + (heights[-1] if lanes else 0)))
    ok = [r.successes for r in rows]
    bad = [r.failed for r in rows]
    axes[0].bar(xs, ok, width=0.9, align="edge", color="#4c9a2a", label="successes/s")
    axes[0].bar(xs, bad, width=0.9, align="edge", bottom=ok, color="#d62728", label="failures/s")
    axes[0].set_ylabel("requests/s")
    axes[0].legend(loc="upper right", fontsize=8)
    axes[1].plot([x + 0.5 for x in xs], [100 * r.error_rate for r in rows], color="#d62728", marker=".")
    axes[1].set_ylabel("error rate %")
    axes[1].set_ylim(bottom=0)
    plot_latency(
        axes[2], [x + 0.5 for x in xs], {"p95": [r.p95_ms for r in rows], "p50": [r.p50_ms for r in rows]}
    )
    axes[-1].set_xlabel("seconds since load start")
    end = (rows[-1].t + 1 - t0) if rows else 1.0
    if lanes:
        # One lane per alert: a bar from firing to resolving (open-ended while not resolved).
        lane_ax = axes[3]
        for y, label in enumerate(lanes):
            for a in (a for a in alerts if a.label == label):
                fired = a.starts_at - t0
                until = (a.resolved_at - t0) if a.resolved_at is not None else end
                color = "#d62728" if a.severity == "page" else "#9467bd"
                lane_ax.barh(y, max(until - fired, 0.3), left=fired, height=0.6, color=color, alpha=0.8)
                lane_ax.plot([fired], [y], marker="v", color="black", ms=5)
        lane_ax.set_yticks(range(len(lanes)), lanes, fontsize=7)
        lane_ax.set_ylim(-0.6, len(lanes) - 0.4)
        lane_ax.set_ylabel("alerts")
    for f in journal.faults:
        if not f.inject_ok or f.injected_at is None:
            continue
        start = f.injected_at - t0
        stop = (f.restored_at - t0) if f.restored_at is not None else end
        for ax in axes:
            ax.axvspan(start, stop, color="#ff7f0e", alpha=0.18)
            ax.axvline(start, color="#d62728", lw=1)
            ax.axvline(stop, color="#2ca02c", lw=1, ls="--")
        axes[0].annotate(
            f"{f.action} {f.service}",
            (start, 1),
            xycoords=("data", "axes fraction"),
            fontsize=8,
            va="top",
            ha="left",
            rotation=0,
            xytext=(2, -2),
            textcoords="offset points",
        )
    save(fig, path)


def render_html(journal: Journal, png_bytes: bytes | None) -> str:
    env = Environment(loader=FileSystemLoader(TEMPLATES), autoescape=select_autoescape(["html", "j2"]))
    template = env.get_template("report.html.j2")
    image = base64.b64encode(png_bytes).decode("ascii") if png_bytes else None
    return template.render(**context(journal), image=image)


def write_report(journal: Journal, folder: Path) -> dict[str, str]:
    """Write report.md, timeline.png, report.html and journal.json into `folder`."""
    folder.mkdir(parents=True, exist_ok=True)
    files = {"journal": "journal.json", "markdown": "report.md", "html": "report.html"}
    png_path = folder / "timeline.png"
    png: bytes | None = None
    try:
        plot_timeline(journal, png_path)
        png = png_path.read_bytes()
        files["png"] = "timeline.png"
    except Exception as exc:  # a plot must never lose the measured data
        journal.notes.append(f"timeline.png not drawn: {type(exc).__name__}: {exc}")
    journal.files = files
    journal.write(folder / "journal.json")
    (folder / "report.md").write_text(
        render_markdown(journal, "timeline.png" if png else None) + "\n", encoding="utf-8"
    )
    (folder / "report.html").write_text(render_html(journal, png), encoding="utf-8")
    return files
