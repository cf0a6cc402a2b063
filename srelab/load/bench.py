"""`srelab bench` (work in progress)."""

from __future__ import annotations

from srelab.load.errors import LoadError


def bench_command() -> None:
    """Throughput, latency, proxy overhead, balance and memory of the running lab."""
    raise LoadError("bench: not implemented yet")
