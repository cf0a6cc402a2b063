"""Results folder: summary.json, timeline.csv/.json, timeline.png."""

from __future__ import annotations

import csv
import json
import re
from pathlib import Path
from typing import Any

from srelab.load.contract import ENDPOINTS, EP_GET, EP_LIST, EP_POST
from srelab.load.types import FAILURE_KINDS, LoadResult, SecondBucket
from srelab.plots import plot_latency, save, timeline_figure

ENDPOINT_SLUGS = {EP_LIST: "list", EP_GET: "get", EP_POST: "post"}  # timeline.csv column prefixes


def slug(endpoint: str) -> str:
    return ENDPOINT_SLUGS.get(endpoint) or re.sub(r"[^a-z0-9]+", "_", endpoint.lower()).strip("_")


def timeline_columns(timeline: list[SecondBucket]) -> list[str]:
    endpoints = [e for e in ENDPOINTS if any(e in b.endpoints for b in timeline)]
    endpoints += sorted({e for b in timeline for e in b.endpoints} - set(ENDPOINTS))
    replicas = sorted({r for b in timeline for r in b.served_by})
    cols = ["second", "t", "users", "requests", "successes", "failures", *FAILURE_KINDS]
    cols += ["p50_ms", "p95_ms", "p99_ms", "max_ms", "generator_cpu"]
    for e in endpoints:
        s = slug(e)
        cols += [f"{s}_requests", f"{s}_failures", f"{s}_p50_ms", f"{s}_p95_ms", f"{s}_p99_ms", f"{s}_max_ms"]
    cols += [f"served_{r}" for r in replicas]
    return cols


def timeline_row(b: SecondBucket, columns: list[str]) -> dict[str, Any]:
    row: dict[str, Any] = {
        "second": b.second,
        "t": b.t,
        "users": b.users,
        "requests": b.requests,
        "successes": b.successes,
        "failures": b.failed,
        **b.failures,
        "p50_ms": b.latency.p50_ms,
        "p95_ms": b.latency.p95_ms,
        "p99_ms": b.latency.p99_ms,
        "max_ms": b.latency.max_ms,
        "generator_cpu": b.generator_cpu,
    }
    for name, ep in b.endpoints.items():
        s = slug(name)
        row[f"{s}_requests"] = ep.requests
        row[f"{s}_failures"] = sum(ep.failures.values())
        row[f"{s}_p50_ms"] = ep.latency.p50_ms
        row[f"{s}_p95_ms"] = ep.latency.p95_ms
        row[f"{s}_p99_ms"] = ep.latency.p99_ms
        row[f"{s}_max_ms"] = ep.latency.max_ms
    for replica, n in b.served_by.items():
        row[f"served_{replica}"] = n
    out = {}
    for c in columns:
        v = row.get(c)
        if v is None and (c.endswith("_requests") or c.endswith("_failures") or c.startswith("served_")):
            v = 0
        out[c] = "" if v is None else v
    return out


def write_timeline_csv(path: Path, timeline: list[SecondBucket]) -> None:
    columns = timeline_columns(timeline)
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=columns)
        writer.writeheader()
        for b in timeline:
            writer.writerow(timeline_row(b, columns))


def summary_dict(result: LoadResult) -> dict[str, Any]:
    data = result.model_dump(mode="json")
    data["failed"] = result.failed
    return data


def write_results(result: LoadResult) -> None:
    out = result.out_dir
    files = {
        "summary": "summary.json",
        "timeline_csv": "timeline.csv",
        "timeline_json": "timeline.json",
        "events": "events.tsv",
        "writes": "writes.jsonl",
        "locust_stats": "locust_stats.csv",
        "locust_history": "locust_stats_history.csv",
        "locust_failures": "locust_failures.csv",
        "locust_log": "locust.log",
    }
    if (out / "report.html").exists():
        files["html"] = "report.html"
    write_timeline_csv(out / "timeline.csv", result.timeline)
    (out / "timeline.json").write_text(
        json.dumps([b.model_dump(mode="json") for b in result.timeline], indent=1) + "\n", encoding="utf-8"
    )
    try:
        plot_timeline(out / "timeline.png", result)
        files["timeline_png"] = "timeline.png"
    except Exception as exc:  # a plot must never lose the measured data
        (out / "timeline.png.error").write_text(f"{type(exc).__name__}: {exc}\n", encoding="utf-8")
    result.files = {k: v for k, v in files.items() if (out / v).exists() or k == "summary"}
    (out / "summary.json").write_text(json.dumps(summary_dict(result), indent=2) + "\n", encoding="utf-8")


def plot_timeline(path: Path, result: LoadResult) -> None:
    tl = result.timeline
    xs = [b.second for b in tl]
    title = f"{result.spec.scenario.value} against {result.host}"
    if not result.valid:
        title += "  [INVALID: generator CPU saturated]"
    fig, (ax_rps, ax_err, ax_lat) = timeline_figure(title)

    ax_rps.plot(xs, [b.requests for b in tl], label="requests/s", color="tab:blue")
    ax_rps.plot(xs, [b.successes for b in tl], label="successes/s", color="tab:green", linestyle="--")
    ax_rps.set_ylabel("req/s")
    cpu = [b.generator_cpu for b in tl]
    if any(c is not None for c in cpu):
        ax_cpu = ax_rps.twinx()
        ax_cpu.plot(xs, [c if c is not None else float("nan") for c in cpu], color="tab:gray", alpha=0.5)
        ax_cpu.set_ylabel("Locust CPU %", color="tab:gray")
        ax_cpu.set_ylim(0, max(100.0, *(c for c in cpu if c is not None)))
    ax_rps.legend(loc="upper left", fontsize="small")

    bottom = [0] * len(tl)
    for kind in FAILURE_KINDS:
        vals = [b.failures.get(kind, 0) for b in tl]
        if any(vals):
            ax_err.bar(xs, vals, bottom=bottom, label=kind, width=0.9)
            bottom = [a + v for a, v in zip(bottom, vals, strict=True)]
    ax_err.set_ylabel("errors/s")
    if any(bottom):
        ax_err.legend(loc="upper left", fontsize="small", ncol=3)

    plot_latency(ax_lat, xs, {q: [getattr(b.latency, f"{q}_ms") for b in tl] for q in ("p50", "p95", "p99")})
    ax_lat.set_xlabel("second of the run")
    save(fig, path, dpi=90)
