"""compose/monitoring.yaml and compose/elk.yaml: they resolve in every profile combination and
follow the lab's rules (loopback ports, healthchecks, limits, logging, pinned images, secrets)."""

from __future__ import annotations

import re
from typing import Any

import pytest

from tests.observability import _upstream as up
from tests.observability._obs import (
    COMPOSE_DIR,
    OBS_COMPOSE_FILES,
    PROFILE_SETS,
    compose_model,
    duration_s,
    image_version,
    lab_env,
    load_yaml,
    obs_services,
    one_shot_services,
)

ALL_COMPOSE_FILES = sorted(COMPOSE_DIR.glob("*.yaml"))


@pytest.mark.parametrize("profiles", PROFILE_SETS, ids=lambda p: "+".join(p) or "core")
def test_compose_config_resolves(profiles: tuple[str, ...]) -> None:
    model = compose_model(profiles)
    names = set(model["services"])
    assert {"traefik", "redis"} <= names
    expected = {
        "monitoring": {"prometheus", "redis-exporter", "grafana", "loki", "promtail"},
        "elk": {"elasticsearch", "es-setup", "logstash", "kibana", "kibana-setup", "filebeat"},
    }
    for profile, services in expected.items():
        if profile in profiles:
            assert services <= names, f"{profile}: missing {services - names}"
        else:
            assert not services & names, f"{profile} services active without the profile"


def test_every_obs_service_belongs_to_its_profile() -> None:
    for path, profile in zip(OBS_COMPOSE_FILES, ("monitoring", "elk"), strict=True):
        for name, svc in load_yaml(path)["services"].items():
            assert svc.get("profiles") == [profile], f"{path.name}: {name}"


def published_ports(svc: dict[str, Any]) -> list[Any]:
    return svc.get("ports") or []


def test_every_published_port_binds_lab_bind_only() -> None:
    """In every compose file (the raw text), a port is `${LAB_BIND:?}:${LAB_..._PORT:?}:<port>`."""
    for path in ALL_COMPOSE_FILES:
        for name, svc in (load_yaml(path).get("services") or {}).items():
            for port in published_ports(svc):
                assert isinstance(port, str), f"{path.name}/{name}: long port syntax: {port}"
                assert re.fullmatch(r"\$\{LAB_BIND:\?\}:\$\{LAB_[A-Z_]+_PORT:\?\}:\d+", port), (
                    f"{path.name}/{name}: {port!r} is not bound to ${{LAB_BIND}}"
                )
    # And compose resolves them to the loopback address from lab.env.
    bind = lab_env()["LAB_BIND"]
    assert bind == "127.0.0.1"
    for name, svc in compose_model(("monitoring", "elk"))["services"].items():
        for port in svc.get("ports") or []:
            assert port["host_ip"] == bind, name


def test_published_ports_come_from_lab_env() -> None:
    env = lab_env()
    for path in OBS_COMPOSE_FILES:
        for svc in load_yaml(path)["services"].values():
            for port in published_ports(svc):
                variable = re.search(r"\$\{(LAB_[A-Z_]+_PORT)", port).group(1)
                assert env.get(variable, "").isdigit(), f"{variable} missing from lab.env"
    # Only the UIs (and Loki, for the chaos runner; Alertmanager is both) are published.
    published = {n for n, s in obs_services().items() if s.get("ports")}
    assert published == {"prometheus", "alertmanager", "grafana", "loki", "kibana"}


def test_every_long_running_service_has_a_healthcheck_and_one_shots_are_awaited() -> None:
    services = obs_services()
    every = compose_model(("monitoring", "elk"))["services"]
    one_shots = one_shot_services(every)
    assert {"es-setup", "kibana-setup"} <= one_shots
    for name, svc in services.items():
        if name in one_shots:
            assert svc.get("restart") == "no", name
            continue
        check = svc.get("healthcheck") or {}
        assert check.get("test") and not check.get("disable"), f"{name}: no healthcheck"
        assert check["test"][0] in {"CMD", "CMD-SHELL"}
        assert svc.get("restart") == "unless-stopped", name
    # `compose up --wait` fails on an exited container unless a long-running service awaits it.
    for one_shot in one_shots & set(services):
        waiters = [
            n
            for n, s in every.items()
            if one_shot in (s.get("depends_on") or {}) and n not in one_shots and s.get("healthcheck")
        ]
        assert waiters, f"{one_shot}: no long-running service waits for it"


def test_every_obs_service_has_limits_and_json_file_logging() -> None:
    for name, svc in obs_services().items():
        limits = svc.get("deploy", {}).get("resources", {}).get("limits", {})
        assert limits.get("memory"), f"{name}: no memory limit"
        assert limits.get("cpus"), f"{name}: no CPU limit"
        logging = svc.get("logging") or {}
        assert logging.get("driver") == "json-file", f"{name}: logging {logging}"
        assert logging.get("options", {}).get("max-size"), name


def test_heap_is_explicit_and_fits_the_limit() -> None:
    services = obs_services()
    for name, var in (("elasticsearch", "ES_JAVA_OPTS"), ("logstash", "LS_JAVA_OPTS")):
        opts = services[name]["environment"][var]
        xms = re.search(r"-Xms(\d+)m", opts)
        xmx = re.search(r"-Xmx(\d+)m", opts)
        assert xms and xmx and xms.group(1) == xmx.group(1), f"{name}: {opts}"
        limit = int(services[name]["deploy"]["resources"]["limits"]["memory"])
        assert int(xmx.group(1)) * 2**20 <= limit // 2 + 2**20, f"{name}: heap over half the limit"


def test_images_are_pinned_through_lab_env() -> None:
    env = lab_env()
    for path in OBS_COMPOSE_FILES:
        for name, svc in load_yaml(path)["services"].items():
            variables = re.findall(r"\$\{([A-Z_]+):\?\}", svc["image"])
            assert variables, f"{path.name}/{name}: image {svc['image']} not from lab.env"
            for variable in variables:
                assert env.get(variable), f"{variable} not set in lab.env"
    for name, svc in obs_services().items():
        tag = svc["image"].rsplit(":", 1)[-1]
        assert re.match(r"v?\d+\.\d+\.\d+", tag), f"{name}: unpinned image {svc['image']}"
    # Promtail is end-of-life: pinned to its last release.
    assert env["PROMTAIL_IMAGE"] == "grafana/promtail:3.6.11"


def test_config_mounts_are_read_only_and_sockets_too() -> None:
    for name, svc in obs_services().items():
        for volume in svc.get("volumes") or []:
            if volume["type"] != "bind":
                continue
            assert volume.get("read_only") is True, f"{name}: {volume['source']} mounted writable"


def test_non_root_where_the_image_allows() -> None:
    services = obs_services()
    expected_users = {
        "prometheus": "65534:65534",
        "redis-exporter": "59000:59000",
        "grafana": "472:0",
        "loki": "10001:10001",
    }
    for name, user in expected_users.items():
        assert services[name]["user"] == user, name
    assert services["promtail"]["user"].split(":")[0] == "65534"
    # Filebeat is the one root service (container log files are root-only); it says why.
    assert services["filebeat"]["user"] == "root"
    raw = (COMPOSE_DIR / "elk.yaml").read_text()
    assert "readable by root only" in raw
    for name, svc in services.items():
        assert "no-new-privileges:true" in (svc.get("security_opt") or []), name
        if name != "filebeat":
            assert svc.get("cap_drop") == ["ALL"], name


def test_secrets_come_from_env_example() -> None:
    template = (COMPOSE_DIR / ".env.example").read_text()
    secrets = {line.split("=", 1)[0] for line in template.splitlines() if line and not line.startswith("#")}
    for path in OBS_COMPOSE_FILES:
        text = path.read_text()
        used = set(re.findall(r"\$\{([A-Z_]*(?:PASSWORD|KEY|USER))[:}]", text))
        assert used, path.name
        assert used <= secrets, f"{path.name}: {sorted(used - secrets)} not in .env.example"
        # Secrets are never given a default value in compose.
        assert not re.search(r"\$\{[A-Z_]*(?:PASSWORD|KEY):-", text), path.name
    # Every secret the template leaves empty is generated at random on first `make up`.
    for key in (
        "GRAFANA_ADMIN_PASSWORD",
        "ELASTIC_PASSWORD",
        "KIBANA_SYSTEM_PASSWORD",
        "LOGSTASH_INTERNAL_PASSWORD",
        "KIBANA_ENCRYPTION_KEY",
        "GRAFANA_ELASTIC_PASSWORD",
    ):
        assert re.search(rf"^{key}=$", template, re.M), key


def test_anchors_are_declared_in_each_file() -> None:
    """YAML anchors do not cross files: each file declares the ones it uses."""
    for path in OBS_COMPOSE_FILES:
        text = path.read_text()
        used = set(re.findall(r"\*([a-z-]+)", text))
        declared = set(re.findall(r"&([a-z-]+)", text))
        assert used <= declared, f"{path.name}: {used - declared}"


def test_loki_pin_can_run_its_healthcheck_and_is_its_lines_newest_release() -> None:
    """What each grafana/loki image really contains (its Dockerfile at the tag, _upstream.py):
    the healthcheck's program must exist in the pinned image, and the pin is the newest
    release of its line (3.5.7 was not the last busybox image: 3.5.8 .. 3.5.12 were too)."""
    version = image_version("LOKI_IMAGE")
    shown = ".".join(map(str, version))
    check = obs_services()["loki"]["healthcheck"]
    kind, *words = check["test"]
    program = words[0] if kind == "CMD" else words[0].split()[0]
    assert up.loki_image_can_run(version, program), f"grafana/loki:{shown} has no {program}"
    if program.endswith("loki"):
        assert "-health" in words, "the loki binary runs the server unless given -health"
        url = next((w.split("=", 1)[1] for w in words if w.startswith("-health.url=")), None)
        port = load_yaml(COMPOSE_DIR.parent / "services" / "config" / "loki" / "loki.yaml")["server"]
        assert url in (None, f"http://127.0.0.1:{port['http_listen_port']}/ready"), url
        # `loki -health` gives up after 5 s itself (cmd/loki/health.go).
        assert duration_s(check["timeout"]) >= 5, "docker would kill it before its own verdict"
    newest = up.LOKI_NEWEST_PATCH.get(version[:2])
    assert newest is not None and version == newest, (
        f"grafana/loki:{shown}: the newest release of {version[0]}.{version[1]} is "
        f"{'.'.join(map(str, newest)) if newest else 'not recorded'} (tests/observability/_upstream.py)"
    )
