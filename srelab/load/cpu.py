"""CPU time per component, read from the kernel's own counters (no `docker stats`).

The bench divides each component's CPU seconds over a row by the requests of that row: CPU ms per
request holds across noisy runs where req/s does not. Components:

- every container of the lab, from its cgroup (cgroup v1 ``cpuacct.usage`` or v2 ``cpu.stat``),
  so healthcheck processes exec'd inside a container count for that container;
- the engine: dockerd, containerd, the containerd shims and docker-proxy, from /proc/<pid>/stat;
- the host as a whole, from /proc/stat (busy = everything but idle and iowait).

Reading these is a few file reads: sampling does not itself load the engine, as `docker stats` does.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

CGROUP_ROOT = Path("/sys/fs/cgroup")
ENGINE_PROCESSES = ("dockerd", "containerd", "containerd-shim", "containerd-shim-runc-v2", "docker-proxy")
_TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def _cgroup_dirs(container_id: str) -> list[Path]:
    """Where a container's CPU counters can live (cgroupfs or systemd driver, v1 or v2)."""
    return [
        CGROUP_ROOT / "cpuacct" / "docker" / container_id / "cpuacct.usage",
        CGROUP_ROOT / "cpu,cpuacct" / "docker" / container_id / "cpuacct.usage",
        CGROUP_ROOT / "cpuacct" / "system.slice" / f"docker-{container_id}.scope" / "cpuacct.usage",
        CGROUP_ROOT / "docker" / container_id / "cpu.stat",
        CGROUP_ROOT / "system.slice" / f"docker-{container_id}.scope" / "cpu.stat",
    ]


def container_cpu_seconds(container_id: str) -> float | None:
    """CPU seconds a container has used since it started; None when no counter is readable."""
    for path in _cgroup_dirs(container_id):
        try:
            text = path.read_text()
        except OSError:
            continue
        if path.name == "cpuacct.usage":
            return int(text.strip()) / 1e9
        for line in text.splitlines():
            key, _, value = line.partition(" ")
            if key == "usage_usec":
                return int(value) / 1e6
    return None


def container_memory_bytes(container_id: str) -> int | None:
    """Memory a container uses now, as `docker stats` counts it (usage minus page cache)."""
    candidates = [
        (CGROUP_ROOT / "memory" / "docker" / container_id, "memory.usage_in_bytes", "total_inactive_file"),
        (CGROUP_ROOT / "docker" / container_id, "memory.current", "inactive_file"),
        (CGROUP_ROOT / "system.slice" / f"docker-{container_id}.scope", "memory.current", "inactive_file"),
    ]
    for folder, usage_file, cache_key in candidates:
        try:
            usage = int((folder / usage_file).read_text().strip())
            stat = (folder / "memory.stat").read_text()
        except (OSError, ValueError):
            continue
        cache = 0
        for line in stat.splitlines():
            key, _, value = line.partition(" ")
            if key == cache_key:
                cache = int(value)
        return max(usage - cache, 0)
    return None


def _proc_times(stat_text: str) -> tuple[str, float]:
    """(command name, own CPU seconds) from one /proc/<pid>/stat line.

    Only the process's own time: a shim's reaped children include the container's own processes
    (its init and every healthcheck exec), which its cgroup already counts. Short-lived runc calls
    therefore land in "other" (host busy time no component claims)."""
    name = stat_text[stat_text.index("(") + 1 : stat_text.rindex(")")]
    fields = stat_text[stat_text.rindex(")") + 2 :].split()
    # fields[11] and [12] are utime and stime (man 5 proc, counted from field 3 = state)
    ticks = int(fields[11]) + int(fields[12])
    return name, ticks / _TICKS


def engine_cpu_seconds(names: Iterable[str] = ENGINE_PROCESSES, proc: Path = Path("/proc")) -> float:
    """CPU seconds of the engine's processes that are alive now."""
    wanted = set(names)
    total = 0.0
    for entry in proc.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            name, seconds = _proc_times((entry / "stat").read_text())
        except (OSError, ValueError, IndexError):
            continue
        # /proc truncates the command name to 15 characters (containerd-shim-runc-v2 -> containerd-shim).
        if name in wanted or any(w.startswith(name) for w in wanted if len(name) == 15):
            total += seconds
    return total


def host_busy_seconds(stat: Path = Path("/proc/stat")) -> tuple[float, float]:
    """(busy, total) CPU seconds of the whole machine since boot, all CPUs summed."""
    fields = [int(v) for v in stat.read_text().split("\n", 1)[0].split()[1:]]
    idle = fields[3] + fields[4]
    total = sum(fields[:8])  # user..steal; guest time is already inside user
    return (total - idle) / _TICKS, total / _TICKS


@dataclass(frozen=True)
class CpuSnapshot:
    at: float  # time.monotonic()
    containers: dict[str, float]  # compose service -> CPU seconds
    engine: float
    host_busy: float
    host_total: float


def snapshot(containers: Mapping[str, str]) -> CpuSnapshot:
    """CPU counters now; `containers` maps compose service -> container id."""
    values: dict[str, float] = {}
    for service, cid in containers.items():
        seconds = container_cpu_seconds(cid)
        if seconds is not None:
            values[service] = seconds
    busy, total = host_busy_seconds()
    return CpuSnapshot(time.monotonic(), values, engine_cpu_seconds(), busy, total)


@dataclass
class CpuUsage:
    """CPU seconds used between two snapshots, by component."""

    wall_s: float
    containers: dict[str, float] = field(default_factory=dict)
    engine_s: float = 0.0
    host_busy_s: float = 0.0
    host_total_s: float = 0.0

    def component(self, prefix: str) -> float:
        """Sum over the services whose name starts with `prefix` (web -> web-a, web-b, web-c)."""
        return sum(v for k, v in self.containers.items() if k == prefix or k.startswith(prefix + "-"))

    @property
    def lab_s(self) -> float:
        """The lab's containers plus the engine."""
        return sum(self.containers.values()) + self.engine_s

    def share_of_machine(self, seconds: float, cpus: int) -> float | None:
        capacity = self.wall_s * cpus
        return round(seconds / capacity, 4) if capacity > 0 else None


def usage(before: CpuSnapshot, after: CpuSnapshot) -> CpuUsage:
    return CpuUsage(
        wall_s=after.at - before.at,
        containers={
            k: max(after.containers[k] - before.containers.get(k, after.containers[k]), 0.0)
            for k in after.containers
        },
        engine_s=max(after.engine - before.engine, 0.0),
        host_busy_s=max(after.host_busy - before.host_busy, 0.0),
        host_total_s=max(after.host_total - before.host_total, 0.0),
    )


# Components of the per-request table, in order: label -> how to get its seconds.
COMPONENTS: tuple[str, ...] = ("service", "traefik", "redis", "generator", "engine")


def per_request_ms(cpu: CpuUsage, requests: int, generator_s: float | None) -> dict[str, float | None]:
    """CPU milliseconds per request for each component (None where not measured)."""
    if requests <= 0:
        return dict.fromkeys(COMPONENTS)
    seconds: dict[str, float | None] = {
        "service": cpu.component("web"),
        "traefik": cpu.component("traefik"),
        "redis": cpu.component("redis"),
        "generator": generator_s,
        "engine": cpu.engine_s,
    }
    return {k: None if v is None else round(v * 1000 / requests, 3) for k, v in seconds.items()}
