"""compose/redis-ha.yaml as compose resolves it: three nodes and three Sentinels, one per zone,
least privilege, passwords only in files, fixed addresses clear of the dynamic range, and the web
replicas pointed at exactly those Sentinels."""

from __future__ import annotations

import ipaddress
import re
from typing import Any

import pytest

from srelab.stack.compose_model import load_model
from srelab.stack.settings import ROOT, get_settings

NODES = ("redis", "redis-b", "redis-c")
SENTINELS = ("sentinel-a", "sentinel-b", "sentinel-c")
SCRIPTS = (ROOT / "services/config/redis/ha-node.sh", ROOT / "services/config/sentinel/sentinel.sh")


@pytest.fixture(scope="module")
def model() -> dict[str, Any]:
    return load_model(get_settings(), ())


def _ip(svc: dict[str, Any]) -> ipaddress.IPv4Address:
    backend = [net for name, net in svc["networks"].items() if name == "backend"]
    assert backend and backend[0] and backend[0].get("ipv4_address"), svc["networks"]
    return ipaddress.IPv4Address(backend[0]["ipv4_address"])


def test_one_node_and_one_sentinel_per_zone(model: dict[str, Any]) -> None:
    services = model["services"]
    for group, role in ((NODES, "redis"), (SENTINELS, "sentinel")):
        labels = [services[name]["labels"] for name in group]
        assert {lab["srelab.role"] for lab in labels} == {role}
        assert sorted(lab["srelab.zone"] for lab in labels) == ["a", "b", "c"]
    # A majority of the three Sentinels (2) must agree before a failover: one lost zone cannot
    # fail over alone, and the two left can.
    quorums = {services[name]["environment"]["SENTINEL_QUORUM"] for name in SENTINELS}
    assert quorums == {"2"}


def test_least_privilege_and_limits(model: dict[str, Any]) -> None:
    for name in NODES + SENTINELS:
        svc = model["services"][name]
        assert svc["user"] == "999:999", name
        assert svc["read_only"] is True and svc["cap_drop"] == ["ALL"], name
        assert "no-new-privileges:true" in svc["security_opt"], name
        assert svc["deploy"]["resources"]["limits"]["memory"], name
        assert svc["healthcheck"]["test"], name
        assert not svc.get("ports"), f"{name} publishes a port"
        assert set(svc["networks"]) == {"backend"}, name
        assert svc["logging"]["driver"] == "json-file", name


def test_no_password_in_environment_command_or_config(model: dict[str, Any]) -> None:
    env_file = get_settings().model_config["env_file"]
    assert env_file  # the secrets come from compose/.env through files only
    for name in NODES + SENTINELS + ("web-a", "web-b", "web-c"):
        svc = model["services"][name]
        text = " ".join(
            [*map(str, svc.get("entrypoint") or []), *map(str, svc.get("command") or [])]
            + [f"{k}={v}" for k, v in (svc.get("environment") or {}).items()]
        )
        assert "PASSWORD=" not in text.replace("PASSWORD_FILE=", ""), name
    for script in SCRIPTS:
        body = script.read_text()
        # Every password is read from a mounted secret file, never from a variable or argument.
        assert re.findall(r"\$\(cat (/run/secrets/[a-z-]+)\)", body), script
        assert "-a " not in body and "--pass" not in body, script
    conf = (ROOT / "services/config/sentinel/sentinel.conf").read_text().splitlines()
    settings_lines = [line.split()[0] for line in conf if line.strip() and not line.startswith("#")]
    assert settings_lines and not {"requirepass", "masterauth"} & set(settings_lines)
    assert not [line for line in conf if "auth-pass" in line and not line.startswith("#")]


def test_fixed_addresses_are_distinct_and_clear_of_the_dynamic_range(model: dict[str, Any]) -> None:
    config = model["networks"]["backend"]["ipam"]["config"][0]
    subnet = ipaddress.IPv4Network(config["subnet"])
    dynamic = ipaddress.IPv4Network(config["ip_range"])
    assert subnet.prefixlen == 24 and dynamic.subnet_of(subnet)
    addresses = {name: _ip(model["services"][name]) for name in NODES + SENTINELS}
    assert len(set(addresses.values())) == len(addresses)
    for name, address in addresses.items():
        assert address in subnet and address not in dynamic, name
    assert model["networks"]["backend"]["internal"] is True


def test_web_replicas_ask_exactly_the_sentinels_and_wait_for_a_replica(model: dict[str, Any]) -> None:
    sentinels = {f"{_ip(model['services'][name])}:26379" for name in SENTINELS}
    initial = str(_ip(model["services"]["redis"]))
    for name in NODES + SENTINELS:
        env = model["services"][name]["environment"]
        assert env["REDIS_INITIAL_PRIMARY"] == initial, name
        listed = set(env["SENTINELS"].split())
        assert {f"{ip}:26379" for ip in listed} == sentinels, name
    settings = get_settings()
    for name in ("web-a", "web-b", "web-c"):
        svc = model["services"][name]
        env = svc["environment"]
        assert set(env["REDIS_SENTINELS"].split(",")) == sentinels, name
        assert env["REDIS_MASTER_NAME"] == settings.lab_redis_master_name
        assert int(env["REDIS_MIN_REPLICA_ACKS"]) == settings.lab_redis_min_replica_acks
        # WAIT must answer before the items service's 1 s socket timeout gives up on the reply.
        assert int(env["REDIS_WAIT_TIMEOUT_MS"]) < 1000
        assert {s["source"] for s in svc["secrets"]} >= {"redis-items-password", "sentinel-password"}
        assert {"redis-b", "redis-c", *SENTINELS} <= set(svc["depends_on"]), name


def test_sentinel_timings_fit_the_failover_budget() -> None:
    # docs/redis-ha.md: down-after + agreement + election + promotion within 5 s.
    settings = get_settings()
    assert settings.lab_sentinel_down_after_ms <= 2000
    assert settings.lab_sentinel_failover_timeout_ms >= 5 * settings.lab_sentinel_down_after_ms


def test_scripts_are_posix_sh() -> None:
    # The official redis image and the local one both run them with `sh` (dash on Debian).
    for script in SCRIPTS:
        body = script.read_text()
        assert body.startswith("#!/bin/sh\n"), script
        assert "[[" not in body and "function " not in body, f"bash-only syntax in {script}"


def test_single_topology_has_no_sentinel(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LAB_REDIS_TOPOLOGY", "single")
    services = load_model(get_settings(), ())["services"]
    assert not {name for name in services if name.startswith(("sentinel", "redis-"))}
    assert "REDIS_SENTINELS" not in services["web-a"]["environment"]
    assert services["redis"]["command"] == ["redis-server", "/etc/redis/redis.conf"]
