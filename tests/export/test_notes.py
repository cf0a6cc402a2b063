"""The conversion notes have one source: the builder records them, the summary only lays them out."""

from __future__ import annotations

from srelab.export.compose import ComposeService
from srelab.export.notes import COMMON, MAPPED, REPLACED, REVIEW, SERVICE_KEY, Notes
from srelab.stack.compose_model import ROLE_LABEL, ZONE_LABEL


def test_every_summary_row_is_a_recorded_note(fixture_render):
    """No row text is written by the summary itself: each is a note the builder recorded, a key
    no service maps (COMMON), or a review row."""
    notes = fixture_render.context.notes
    common = {n.text for n in COMMON.values()}
    for row in fixture_render.rows:
        if row.status == REVIEW or row.kubernetes in common:
            continue
        owner_notes = notes.of(row.service.split(", ")[0])
        assert row.kubernetes in {n.text for n in owner_notes.values()}, row


def test_notes_keep_the_order_rows_are_recorded_in():
    notes = Notes()
    notes.add("web", "labels.a", "first")
    notes.add("web", "labels.z", "last")
    notes.add("web", "labels.m", "between", REPLACED, before="labels.z")
    notes.add("web", "labels.a", "first, replaced", before="labels.z")  # a known key keeps its place
    assert [(k, n.text) for k, n in notes.of("web").items()] == [
        ("labels.a", "first, replaced"),
        ("labels.m", "between"),
        ("labels.z", "last"),
    ]
    assert notes.get("web", "labels.m").status == REPLACED


def test_notes_extend_setdefault_and_groups():
    notes = Notes()
    notes.extend("traefik", "volumes:/plugins", "plugin a", compose="local plugins")
    notes.extend("traefik", "volumes:/plugins", "plugin b", compose="local plugins")
    assert notes.text("traefik", "volumes:/plugins") == "plugin a; plugin b"
    notes.setdefault("traefik", "volumes:/plugins", "ignored")
    assert notes.text("traefik", "volumes:/plugins") == "plugin a; plugin b"
    assert notes.text("traefik", "image", "none") == "none"
    notes.describe("traefik-edge", "traefik")
    assert notes.of("traefik-edge") is notes.of("traefik")
    notes.service("loki", "Loki chart", REPLACED, profiles=[])
    notes.service("redis-b", "pod redis-1", MAPPED)
    assert notes.get("loki", SERVICE_KEY).compose == "profiles: core"
    assert notes.get("redis-b", SERVICE_KEY).compose is None  # the row stands for every key
    assert notes.of("unknown") == {}


def test_compose_service_folds_absent_and_null_keys():
    empty = ComposeService("x", {"labels": None, "environment": None, "command": None, "deploy": {}})
    assert (empty.labels, empty.environment, empty.command, empty.limits) == ({}, {}, [], {})
    assert (empty.role, empty.zone, empty.user, empty.working_dir, empty.set_keys) == (
        None,
        None,
        "",
        "/",
        [],
    )
    assert empty.flag("--config.file", "/etc/default.yml") == "/etc/default.yml"
    svc = ComposeService(
        "redis-b",
        {
            "labels": {ROLE_LABEL: "redis", ZONE_LABEL: "b"},
            "command": ["redis-server", 6379, "--config.file=/etc/redis.yml"],
            "networks": {"backend": {"ipv4_address": "10.0.0.2", "aliases": ["cache"]}, "edge": None},
            "volumes": [{"type": "bind", "source": "/repo/compose/redis", "target": "/etc/redis"}],
            "deploy": {"resources": {"limits": {"cpus": "0.5"}}},
        },
    )
    assert (svc.role, svc.zone, svc.addresses, svc.aliases) == (
        "redis",
        "b",
        ["10.0.0.2"],
        {"redis-b", "cache"},
    )
    assert svc.command == ["redis-server", "6379", "--config.file=/etc/redis.yml"]
    assert svc.flag("--config.file", "") == "/etc/redis.yml"
    assert svc.limits == {"cpus": "0.5"}
    assert svc.host_path("/etc/redis/redis.conf") == "/repo/compose/redis/redis.conf"
    assert svc.host_path("/etc/redis") == "/repo/compose/redis"
    assert svc.bind_mount("/data") is None and svc.host_path("/data") is None
    assert svc["labels"][ZONE_LABEL] == "b" and "deploy" in svc and len(svc) == 5
