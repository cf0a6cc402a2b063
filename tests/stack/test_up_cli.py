"""`srelab up` as a new user meets it: the image source line, --strict, and one readable line for
a missing engine, Compose plugin or registry. Real Docker; nothing is started: every run stops
before the first container (its own project name and ports, so no running lab is touched)."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from srelab.stack.settings import get_settings
from tests.lab import _require_docker, isolated_environment

pytestmark = pytest.mark.live

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module", autouse=True)
def _docker() -> None:
    _require_docker()


@pytest.fixture(autouse=True)
def _project() -> Iterator[None]:
    """Each test's own project; should a run get as far as starting containers, they go again."""
    env = isolated_environment()
    _ENV.clear()
    _ENV.update(env)
    yield
    from python_on_whales import docker

    if docker.container.list(
        all=True, filters=[("label", f"com.docker.compose.project={env['LAB_PROJECT']}")]
    ):
        subprocess.run(
            [sys.executable, "-m", "srelab.cli", "down", "--volumes"],
            cwd=ROOT,
            env={**_clean_env(), **env},
            timeout=120,
        )


_ENV: dict[str, str] = {}


def _clean_env() -> dict[str, str]:
    """This process's environment without what compose_client() exported into it (image names of
    the mode other tests ran in), so each run decides its images itself."""
    return {
        k: v
        for k, v in os.environ.items()
        if not k.endswith("_IMAGE") and k not in ("LAB_HOST_RULE", "LAB_IMAGES")
    }


def srelab(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "srelab.cli", *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={**_clean_env(), **_ENV, **(env or {})},
        timeout=120,
    )


def one_error_line(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 2, result.stdout + result.stderr
    assert "Traceback" not in result.stderr + result.stdout
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    return lines[0]


def _registry_reachable() -> bool:
    try:
        socket.create_connection(("registry-1.docker.io", 443), timeout=3).close()
    except OSError:
        return False
    return True


def test_strict_fails_before_starting_anything_and_says_what_is_skipped() -> None:
    result = srelab("up", "--profile", "all", "--strict", env={"LAB_IMAGES": "local"})
    line = one_error_line(result)
    assert line.startswith("error: --strict:") and "grafana" in line and "elasticsearch" in line
    assert "images: local (LAB_IMAGES=local)" in result.stdout
    assert "skipped" in result.stdout and "no registry to pull from" in result.stdout
    if int(Path("/proc/sys/vm/max_map_count").read_text()) < 262144:
        # The fix for this host, on the line of the one service it concerns.
        (es_line,) = [ln for ln in result.stdout.splitlines() if ln.startswith("skipped elasticsearch:")]
        assert "sudo sysctl -w vm.max_map_count=262144" in es_line


def test_auto_chooses_local_images_where_no_registry_answers() -> None:
    if _registry_reachable():
        pytest.skip("Docker Hub is reachable from this machine: auto pulls here")
    result = srelab("up", "--profile", "all", "--strict")  # LAB_IMAGES unset: auto
    one_error_line(result)
    (line,) = [ln for ln in result.stdout.splitlines() if ln.startswith("images: ")]
    assert line.startswith("images: local (https://registry-1.docker.io/v2/ unreachable")
    assert "LAB_IMAGES=registry forces pulling" in line


def test_forced_registry_without_one_says_to_use_local_images() -> None:
    """The issue's step (2): a pull that cannot work ends in one line naming LAB_IMAGES=local."""
    if _registry_reachable():
        pytest.skip("Docker Hub is reachable from this machine: the build would pull for real")
    result = srelab("up", "--profile", "core", env={"LAB_IMAGES": "registry"})
    line = one_error_line(result)
    assert "LAB_IMAGES=local" in line, line
    assert "images: registry (LAB_IMAGES=registry)" in result.stdout


def test_a_pull_that_cannot_work_names_local_images() -> None:
    """The build succeeds (its base is the local one) but the upstream images cannot be pulled."""
    if _registry_reachable():
        pytest.skip("Docker Hub is reachable from this machine: the images would be pulled for real")
    base = get_settings().local_image(get_settings().python_image)
    result = srelab("up", "--profile", "core", env={"LAB_IMAGES": "registry", "PYTHON_IMAGE": base})
    line = one_error_line(result)
    assert line.startswith("error: pulling images failed:") and "LAB_IMAGES=local" in line, line


def test_no_compose_plugin_is_one_line_saying_what_to_install(tmp_path: Path) -> None:
    # An empty Docker config directory: the CLI finds no plugin (none is installed system-wide here).
    if any(
        Path(d, "docker-compose").exists()
        for d in ("/usr/libexec/docker/cli-plugins", "/usr/lib/docker/cli-plugins")
    ):
        pytest.skip("a system-wide Compose plugin is installed")
    line = one_error_line(srelab("up", env={"DOCKER_CONFIG": str(tmp_path)}))
    assert "Docker Compose v2 plugin is missing" in line and "make install" in line


def test_no_docker_cli_is_one_line_saying_what_to_install(tmp_path: Path) -> None:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for tool in ("python3",):
        (bin_dir / tool).symlink_to(shutil.which(tool) or sys.executable)
    line = one_error_line(srelab("up", env={"PATH": str(bin_dir)}))
    assert "docker CLI not found: install Docker Engine" in line
