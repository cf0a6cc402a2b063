"""images/local/{prometheus,redis-exporter}: same contract as the official images, so one compose
`command`/`environment` works with either (LAB_IMAGES=local or upstream)."""

from __future__ import annotations

import re

from tests.observability._obs import ROOT, compose_model

LOCAL = ROOT / "images" / "local"


def dockerfile(name: str) -> str:
    return (LOCAL / name / "Dockerfile").read_text()


def test_local_images_are_registered_for_their_lab_env_variables() -> None:
    from srelab.stack.images import LOCAL_IMAGES

    folders = {image.variable: image.folder for image in LOCAL_IMAGES}
    assert folders["PROMETHEUS_IMAGE"] == "prometheus"
    assert folders["REDIS_EXPORTER_IMAGE"] == "redis-exporter"


def test_dockerfiles_take_base_and_version_and_check_the_version() -> None:
    for name, package in (("prometheus", "prometheus"), ("redis-exporter", "prometheus-redis-exporter")):
        text = dockerfile(name)
        assert re.search(r"^ARG BASE_IMAGE$", text, re.M) and "FROM ${BASE_IMAGE}" in text
        assert re.search(r"^ARG VERSION$", text, re.M)
        assert f"apt-get install -y --no-install-recommends {package}" in text
        assert 'v="${VERSION#v}" && v="${v%%-*}"' in text  # v1.45.0-alpine -> 1.45.0
        assert "grep -Eq" in text and "${v}" in text
        assert "wget" in text  # the compose healthchecks use busybox wget, as in the official images


def test_prometheus_image_mirrors_prom_prometheus() -> None:
    text = dockerfile("prometheus")
    assert 'ENTRYPOINT ["/bin/prometheus"]' in text
    assert "USER 65534:65534" in text
    assert "/prometheus" in text and "WORKDIR /prometheus" in text
    prom = compose_model(("monitoring",))["services"]["prometheus"]
    assert prom["user"] == "65534:65534"
    # The compose command is flags only: it works after either image's /bin/prometheus entrypoint.
    assert all(arg.startswith("--") for arg in prom["command"])
    assert "--config.file=/etc/prometheus/prometheus.yml" in prom["command"]
    assert "--storage.tsdb.path=/prometheus" in prom["command"]


def test_redis_exporter_image_mirrors_oliver006() -> None:
    text = dockerfile("redis-exporter")
    assert 'ENTRYPOINT ["/redis_exporter"]' in text
    assert "USER 59000:59000" in text
    exporter = compose_model(("monitoring",))["services"]["redis-exporter"]
    assert exporter["user"] == "59000:59000"
    assert not exporter.get("command"), "configured by environment only, as both images read it"
    assert set(exporter["environment"]) >= {"REDIS_ADDR", "REDIS_USER", "REDIS_PASSWORD_FILE"}
    assert "REDIS_PASSWORD" not in exporter["environment"], "a file, not the environment"
