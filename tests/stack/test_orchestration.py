"""Pure logic of the orchestration package: settings, image naming, secrets, profiles, plans."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from srelab.errors import LabError
from srelab.stack.images import LOCAL_DIR, LOCAL_IMAGES, version_of
from srelab.stack.lifecycle import plan_services, resolve_profiles
from srelab.stack.secrets import ensure_secrets
from srelab.stack.settings import get_settings

ROOT = Path(__file__).resolve().parents[2]


def test_local_image_names_keep_the_upstream_tag() -> None:
    settings = get_settings()
    assert settings.local_image("prom/prometheus:v2.42.0") == "srelab-local/prometheus:v2.42.0"
    assert settings.local_image("traefik:v3.7.15") == "srelab-local/traefik:v3.7.15"


@pytest.mark.parametrize(
    ("tag", "version"),
    [
        ("traefik:v3.7.15", "3.7.15"),
        ("redis:7.0.15-bookworm", "7.0.15"),
        ("oliver006/redis_exporter:v1.45.0", "1.45.0"),
    ],
)
def test_version_of_image_tags(tag: str, version: str) -> None:
    assert version_of(tag) == version


def test_version_of_rejects_tags_without_a_release() -> None:
    with pytest.raises(LabError, match="cannot read a version"):
        version_of("redis:latest")


def test_every_local_image_has_a_dockerfile_and_a_pinned_upstream() -> None:
    settings = get_settings()
    for image in LOCAL_IMAGES:
        assert (LOCAL_DIR / image.folder / "Dockerfile").is_file(), image.folder
        version_of(getattr(settings, image.variable.lower()))


def test_local_mode_points_compose_at_local_images(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LAB_IMAGES", "local")
    env = get_settings().compose_environment()
    assert env["TRAEFIK_IMAGE"] == "srelab-local/traefik:v3.7.15"
    assert env["PYTHON_IMAGE"].startswith("srelab-local/python:")
    monkeypatch.setenv("LAB_IMAGES", "upstream")
    assert "TRAEFIK_IMAGE" not in get_settings().compose_environment()


def test_secrets_are_generated_once_and_never_overwritten(tmp_path: Path) -> None:
    template = tmp_path / ".env.example"
    template.write_text("# comment=\nREDIS_PASSWORD=\nGRAFANA_ADMIN_USER=admin\n")
    target = tmp_path / ".env"
    assert ensure_secrets(target, template) == ["REDIS_PASSWORD", "GRAFANA_ADMIN_USER"]
    values = dict(
        line.split("=", 1)
        for line in target.read_text().splitlines()
        if "=" in line and not line.startswith("#")
    )
    assert len(values["REDIS_PASSWORD"]) >= 24
    assert values["GRAFANA_ADMIN_USER"] == "admin"
    assert target.stat().st_mode & 0o077 == 0
    before = target.read_text()
    assert ensure_secrets(target, template) == []
    assert target.read_text() == before
    # A secret added to the template later is appended; existing values stay as they were.
    template.write_text(template.read_text() + "ELASTIC_PASSWORD=\n")
    assert ensure_secrets(target, template) == ["ELASTIC_PASSWORD"]
    assert target.read_text().startswith(before)
    assert len(target.read_text().splitlines()[-1]) > len("ELASTIC_PASSWORD=") + 20


def test_profiles_resolve_and_reject_unknown_names() -> None:
    assert resolve_profiles(["core"]) == ()
    assert resolve_profiles(["all"]) == ("monitoring", "elk")
    assert resolve_profiles(["monitoring", "monitoring", "loadtest"]) == ("monitoring", "loadtest")
    with pytest.raises(LabError, match="unknown profile 'bogus'"):
        resolve_profiles(["bogus"])


CORE = {"traefik", "socket-proxy", "web-a", "web-b", "web-c", "redis"}
HA = {"redis-b", "redis-c", "sentinel-a", "sentinel-b", "sentinel-c"}


@pytest.mark.parametrize(("topology", "expected"), [("ha", CORE | HA), ("single", CORE)])
def test_core_plan_starts_proxy_replicas_and_redis(
    monkeypatch: pytest.MonkeyPatch, topology: str, expected: set[str]
) -> None:
    monkeypatch.setenv("LAB_REDIS_TOPOLOGY", topology)
    plan = plan_services(get_settings(), ())
    assert set(plan.start) == expected
    assert plan.skipped == {}


def test_local_plan_skips_what_cannot_be_obtained(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LAB_IMAGES", "local")
    plan = plan_services(get_settings(), ("monitoring", "elk"))
    assert {"traefik", "web-a", "redis"} <= set(plan.start)
    for service in plan.skipped:
        assert service not in plan.start
    # Nothing that is started uses an upstream image with no local build.
    assert all(reason for reason in plan.skipped.values())


def test_cli_bad_input_is_one_readable_line() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "srelab.cli", "up", "--profile", "bogus"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=60,
    )
    assert result.returncode == 2
    lines = [line for line in result.stderr.strip().splitlines() if line.strip()]
    assert len(lines) == 1 and "unknown profile 'bogus'" in lines[0], result.stderr
    assert "Traceback" not in result.stderr
