"""srelab.observability: the URLs `make up` prints and the vm.max_map_count check."""

from __future__ import annotations

from pathlib import Path

import pytest

from srelab.observability import ES_MIN_MAX_MAP_COUNT, check_vm_max_map_count, endpoints
from srelab.settings import get_settings


def test_endpoints_are_built_from_settings_ports(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LAB_GRAFANA_PORT", "13333")
    monkeypatch.setenv("LAB_PROMETHEUS_PORT", "19999")
    monkeypatch.setenv("LAB_KIBANA_PORT", "15555")
    monkeypatch.setenv("LAB_LOKI_PORT", "13111")
    monkeypatch.setenv("LAB_DASHBOARD_PORT", "18888")
    got = dict(endpoints(get_settings()))
    assert got == {
        "Grafana": "http://127.0.0.1:13333/",
        "Prometheus": "http://127.0.0.1:19999/",
        "Kibana": "http://127.0.0.1:15555/",
        "Loki": "http://127.0.0.1:13111/ready",
        "Traefik dashboard": "http://127.0.0.1:18888/dashboard/",
    }


def test_endpoints_stay_on_the_bind_address(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LAB_BIND", "127.0.0.2")
    assert all(url.startswith("http://127.0.0.2:") for _, url in endpoints(get_settings()))


def test_max_map_count_high_enough_is_fine(tmp_path: Path) -> None:
    path = tmp_path / "max_map_count"
    path.write_text(f"{ES_MIN_MAX_MAP_COUNT}\n")
    assert check_vm_max_map_count(path) is None
    path.write_text("1048576\n")
    assert check_vm_max_map_count(path) is None


def test_max_map_count_too_low_explains_the_fix(tmp_path: Path) -> None:
    path = tmp_path / "max_map_count"
    path.write_text("65530\n")
    message = check_vm_max_map_count(path)
    assert message is not None
    assert "65530" in message and "262144" in message
    assert "sysctl -w vm.max_map_count=262144" in message
    assert "/etc/sysctl.d/" in message  # how to keep it across reboots


def test_max_map_count_unknown_platform_or_garbage(tmp_path: Path) -> None:
    assert check_vm_max_map_count(tmp_path / "absent") is None  # macOS / Windows: Docker Desktop's VM
    garbage = tmp_path / "max_map_count"
    garbage.write_text("lots\n")
    message = check_vm_max_map_count(garbage)
    assert message is not None and "262144" in message
