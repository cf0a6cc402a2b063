"""Pure logic: failure classification, percentiles, 1 s bucketing, event parsing."""

from __future__ import annotations

import pytest

from srelab.load import EP_LIST, EP_POST, FAILURE_KINDS
from srelab.load.timeline import (
    Event,
    Marker,
    TimelineBuilder,
    build_timeline,
    classify,
    latency_stats,
    parse_line,
    percentile,
)

T0 = 1_800_000_000.0


@pytest.mark.parametrize(
    ("status", "exc_type", "exc_msg", "kind"),
    [
        (200, "", "", None),
        (201, "", "", None),
        (502, "HTTPError", "502 Bad Gateway", "http_502"),
        (503, "HTTPError", "", "http_503"),
        (504, "", "", "http_504"),
        (404, "HTTPError", "404 Not Found", "http_4xx"),
        (429, "", "", "http_4xx"),
        (500, "", "", "http_5xx"),
        (0, "ConnectionRefusedError", "[Errno 111] Connection refused", "conn_refused"),
        (0, "ConnectionResetError", "[Errno 104] Connection reset by peer", "conn_reset"),
        (0, "HTTPConnectionClosed", "connection closed.", "conn_reset"),
        (0, "RetriesExceeded", "URL http://127.0.0.1:1/items: 0, original=timed out", "timeout"),
        (0, "TimeoutError", "", "timeout"),
        (201, "CatchResponseError", "2xx without an id in the body", "other"),
        (0, "gaierror", "Name or service not known", "other"),
        (0, "", "", "other"),
    ],
)
def test_classify(status: int, exc_type: str, exc_msg: str, kind: str | None) -> None:
    assert classify(status, exc_type, exc_msg) == kind


def test_every_kind_is_listed() -> None:
    assert set(FAILURE_KINDS) == {
        "conn_refused", "conn_reset", "http_502", "http_503", "http_504", "timeout", "http_4xx", "http_5xx",
        "other",
    }  # fmt: skip


def test_percentile_nearest_rank() -> None:
    values = [float(v) for v in range(1, 101)]
    assert percentile(values, 50) == 50.0
    assert percentile(values, 95) == 95.0
    assert percentile(values, 99) == 99.0
    assert percentile(values, 100) == 100.0
    assert percentile([7.0], 99) == 7.0
    assert percentile([], 50) is None
    assert percentile([1.0, 2.0, 3.0, 4.0], 50) == 2.0


def test_latency_stats() -> None:
    stats = latency_stats([30.0, 10.0, 20.0, 40.0])
    assert (stats.count, stats.p50_ms, stats.max_ms, stats.mean_ms) == (4, 20.0, 40.0, 25.0)
    assert latency_stats([]).p95_ms is None


def ev(dt: float, name: str = EP_LIST, status: int = 200, ms: float = 10.0, replica: str = "web-a") -> Event:
    return Event(t=T0 + dt, name=name, status=status, latency_ms=ms, replica=replica, kind=classify(status))


def test_buckets_by_completion_second_with_empty_seconds() -> None:
    tl = TimelineBuilder(T0)
    for e in [ev(0.1), ev(0.99, replica="web-b"), ev(1.0, EP_POST, 201), ev(3.5, status=503, ms=100.0)]:
        tl.add(e)
    buckets = tl.all_buckets()
    assert [b.requests for b in buckets] == [2, 1, 0, 1]
    assert [b.second for b in buckets] == [0, 1, 2, 3]
    assert buckets[0].served_by == {"web-a": 1, "web-b": 1}
    assert buckets[1].endpoints[EP_POST].requests == 1
    assert buckets[3].failures["http_503"] == 1 and buckets[3].successes == 0
    assert buckets[3].latency.p99_ms == 100.0
    assert buckets[2].latency.count == 0 and buckets[2].latency.p50_ms is None
    assert buckets[1].t == T0 + 1
    # the summary of the whole run agrees with the buckets
    assert tl.run.overall.requests == sum(b.requests for b in buckets) == 4
    assert sum(b.failed for b in buckets) == 1


def test_emit_until_only_finished_seconds_in_order() -> None:
    tl = TimelineBuilder(T0)
    tl.add(ev(0.5))
    tl.add(ev(1.5))
    assert tl.emit_until(T0 + 0.9) == []
    first = tl.emit_until(T0 + 2.2)
    assert [b.second for b in first] == [0, 1]
    tl.add(ev(2.1))
    assert [b.second for b in tl.emit_until(T0 + 3.0)] == [2]
    assert tl.emit_until(T0 + 3.0) == []


def test_cpu_and_users_land_in_their_seconds() -> None:
    tl = TimelineBuilder(T0)
    tl.add(ev(0.2))
    tl.add(ev(2.2))
    tl.add_cpu(T0 + 1.0, 42.0)  # covers second 0
    tl.add_cpu(T0 + 2.0, 95.5)  # covers second 1
    tl.add_users(T0 + 1.1, 5)
    buckets = tl.all_buckets()
    assert [b.generator_cpu for b in buckets] == [42.0, 95.5, None]
    assert [b.users for b in buckets] == [None, 5, 5]


def test_parse_line() -> None:
    line = f"{T0 + 1:.4f}\tPOST /items\t0\t5.5\t\tConnectionRefusedError\t[Errno 111] Connection refused"
    parsed = parse_line(line)
    assert isinstance(parsed, Event)
    assert (parsed.name, parsed.status, parsed.kind) == ("POST /items", 0, "conn_refused")
    marker = parse_line(f"#users\t{T0}\t7")
    assert isinstance(marker, Marker) and marker.name == "users" and marker.value == 7.0
    assert parse_line("") is None
    assert parse_line("garbage") is None
    assert parse_line("x\ty\tnot-a-number\t1") is None


def test_build_timeline_uses_the_start_marker() -> None:
    lines = [
        f"#start\t{T0:.4f}",
        f"{T0 + 0.5:.4f}\tGET /items\t200\t3.0\tweb-a\t\t",
        f"{T0 + 2.5:.4f}\tGET /items\t502\t3.0\tweb-b\tHTTPError\tbad gateway",
        f"#stop\t{T0 + 3:.4f}",
    ]
    tl = build_timeline(lines)
    assert tl is not None and tl.t0 == T0
    buckets = tl.all_buckets()
    assert [b.requests for b in buckets] == [1, 0, 1]
    assert buckets[2].failures["http_502"] == 1
    assert build_timeline(["#stop\t1.0"]) is None
