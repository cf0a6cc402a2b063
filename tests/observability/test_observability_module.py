"""srelab.stack.host_checks: the vm.max_map_count check."""

from __future__ import annotations

from pathlib import Path

from srelab.stack.host_checks import ES_MIN_MAX_MAP_COUNT, check_vm_max_map_count


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
    assert "\n" not in message  # `srelab up` prints it as one line beside the skipped services


def test_max_map_count_unknown_platform_or_garbage(tmp_path: Path) -> None:
    assert check_vm_max_map_count(tmp_path / "absent") is None  # macOS / Windows: Docker Desktop's VM
    garbage = tmp_path / "max_map_count"
    garbage.write_text("lots\n")
    message = check_vm_max_map_count(garbage)
    assert message is not None and "262144" in message
