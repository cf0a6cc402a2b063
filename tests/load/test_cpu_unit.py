"""CPU accounting of the bench (srelab/load/cpu.py) on counters written the way the kernel does."""

from __future__ import annotations

from pathlib import Path

import pytest

from srelab.load import cpu

# One /proc/<pid>/stat line (man 5 proc): utime 250 and stime 50 ticks, children 9999 + 9999 ticks.
STAT = (
    "1234 (containerd-shim) S 1 1234 1234 0 -1 4194560 1000 0 0 0 250 50 9999 9999 20 0 12 0 "
    "100 1000000 2000 18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 0 17 1 0 0 0 0 0"
)


def test_proc_times_count_own_time_only() -> None:
    name, seconds = cpu._proc_times(STAT)
    # Reaped children (the container's own processes) are left out: its cgroup counts them.
    assert (name, seconds) == ("containerd-shim", pytest.approx(300 / cpu._TICKS))


def test_engine_seconds_sum_engine_processes(tmp_path: Path) -> None:
    for pid, name in ((10, "dockerd"), (11, "containerd-shim"), (12, "python3")):
        (tmp_path / str(pid)).mkdir()
        (tmp_path / str(pid) / "stat").write_text(STAT.replace("(containerd-shim)", f"({name})"))
    (tmp_path / "self").mkdir()
    assert cpu.engine_cpu_seconds(proc=tmp_path) == pytest.approx(2 * 300 / cpu._TICKS)


@pytest.mark.parametrize(
    ("relative", "text", "seconds"),
    [
        ("cpuacct/docker/abc/cpuacct.usage", "2500000000\n", 2.5),  # cgroup v1, nanoseconds
        ("docker/abc/cpu.stat", "usage_usec 1500000\nuser_usec 1000000\n", 1.5),  # v2, microseconds
    ],
)
def test_container_cpu_from_cgroup_v1_or_v2(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, relative: str, text: str, seconds: float
) -> None:
    monkeypatch.setattr(cpu, "CGROUP_ROOT", tmp_path)
    assert cpu.container_cpu_seconds("abc") is None
    (tmp_path / relative).parent.mkdir(parents=True)
    (tmp_path / relative).write_text(text)
    assert cpu.container_cpu_seconds("abc") == pytest.approx(seconds)


def test_memory_is_usage_minus_inactive_page_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cpu, "CGROUP_ROOT", tmp_path)
    folder = tmp_path / "memory" / "docker" / "abc"
    folder.mkdir(parents=True)
    (folder / "memory.usage_in_bytes").write_text("1000000\n")
    (folder / "memory.stat").write_text("cache 500000\ntotal_inactive_file 300000\n")
    assert cpu.container_memory_bytes("abc") == 700000


def test_per_request_figures() -> None:
    before = cpu.CpuSnapshot(
        0.0, {"web-a": 1.0, "web-b": 1.0, "traefik": 5.0, "redis": 2.0}, 10.0, 100.0, 400.0
    )
    after = cpu.CpuSnapshot(
        10.0, {"web-a": 1.5, "web-b": 1.4, "traefik": 5.4, "redis": 2.1}, 10.2, 118.0, 420.0
    )
    used = cpu.usage(before, after)
    assert used.component("web") == pytest.approx(0.9)
    ms = cpu.per_request_ms(used, 1000, generator_s=0.05)
    assert ms == {"service": 0.9, "traefik": 0.4, "redis": 0.1, "generator": 0.05, "engine": 0.2}
    assert used.share_of_machine(used.lab_s, cpus=2) == pytest.approx((0.9 + 0.4 + 0.1 + 0.2) / 20, abs=1e-4)
    assert cpu.per_request_ms(used, 0, None) == dict.fromkeys(cpu.COMPONENTS)
