"""The conversion summary lists every compose key; nothing is dropped silently."""

from __future__ import annotations

import copy

import pytest

from srelab.export import summary
from srelab.export.model import build
from tests.export.helpers import fixture_inputs


def listed(rows, service: str, key: str) -> bool:
    """A row of that service names the key, or a whole-service row lists it."""
    for r in rows:
        if service not in r.service.split(", "):
            continue
        if r.key == key or r.key.startswith((f"{key}.", f"{key}:")):
            return True
        if r.key == "(service)" and key in r.compose:
            return True
    return False


def missing_keys(rows, services) -> list[str]:
    return [
        f"{name}.{key}"
        for name, svc in services.items()
        for key, value in svc.items()
        if value not in (None, [], {}, "") and not listed(rows, name, key)
    ]


def test_every_compose_key_is_listed_frozen_model(fixture_render):
    assert missing_keys(fixture_render.rows, fixture_inputs().services) == []


def test_every_compose_key_is_listed_live_model(live_render, live_inputs):
    assert missing_keys(live_render.rows, live_inputs.services) == []
    listed_services = {s for r in live_render.rows for s in r.service.split(", ")}
    assert listed_services == set(live_inputs.services)


@pytest.mark.parametrize(
    ("service", "key", "status"),
    [
        # Only socket-proxy holds the Docker socket; there is no Docker on GKE.
        ("socket-proxy", "(service)", summary.NOT_EXPORTED),
        ("traefik", "secrets", summary.DROPPED),
        ("redis", "secrets.redis-users.acl", summary.MAPPED),
        ("traefik", "ports", summary.REPLACED),
        ("web-a", "restart", summary.DROPPED),
        ("web-a", "logging", summary.DROPPED),
        ("web-a", "depends_on", summary.DROPPED),
        ("web-a", "labels.srelab.liveness.path", summary.MAPPED),
        ("web-a", "labels.srelab.liveness.start-period", summary.MAPPED),
        ("traefik", "volumes:/plugins-local", summary.MAPPED),
        ("redis", "healthcheck", summary.MAPPED),
        ("redis", "volumes:/data", summary.MAPPED),
        ("web-a", "labels.traefik...routers.items.service", summary.REPLACED),
    ],
)
def test_features_without_kubernetes_meaning_are_reported(fixture_render, service, key, status):
    rows = [r for r in fixture_render.rows if service in r.service.split(", ") and r.key == key]
    assert [r.status for r in rows] == [status]


def review_rows(inputs, params) -> set[tuple[str, str]]:
    rows = summary.conversion_rows(inputs.services, build(inputs, params), inputs.secrets)
    return {(r.service, r.key) for r in rows if r.status == summary.REVIEW}


def test_an_unknown_compose_key_shows_up_for_review(params):
    inputs = fixture_inputs()
    services = copy.deepcopy(inputs.services)
    services["redis"]["sysctls"] = {"net.core.somaxconn": "1024"}
    services["mystery"] = {"image": "example/mystery:1.0"}
    changed = type(inputs)(
        services=services, secrets=inputs.secrets, pins=inputs.pins, base_dir=inputs.base_dir
    )
    # Compose keys of the frozen model no mapping knows yet are listed for review already.
    assert review_rows(changed, params) - review_rows(inputs, params) == {
        ("redis", "sysctls"),
        ("mystery", "(service)"),
    }


def test_conversion_md_and_table(fixture_render):
    text = fixture_render.files["CONVERSION.md"]
    # compose secret files become Secret keys (the items pods: their password file, and in HA the
    # Sentinels' password).
    assert "| backend | srelab-secrets | redis-items-password, sentinel-password |" in text
    assert "| data | srelab-secrets | redis-admin-password, redis-exporter-password.json, " in text
    assert "fixture-secret" not in text  # secret values are shown as ${NAME}
    # No compose value shown in the table is a secret any more (they are files); the redaction
    # still applies to any that comes back.
    assert summary._redact({"X": "s3cret", "Y": ["--pass", "s3cret"]}, {"s3cret": "P"}) == {
        "X": "${P}",
        "Y": ["--pass", "${P}"],
    }
    assert len([line for line in text.splitlines() if line.startswith("| ")]) > len(fixture_render.rows)
    assert summary.table(fixture_render.rows, everything=True).row_count == len(fixture_render.rows)
    attention = [r for r in fixture_render.rows if r.status != summary.MAPPED]
    table = summary.table(fixture_render.rows)
    assert table.row_count == len(attention) > 0
    assert str(len(fixture_render.rows) - len(attention)) in str(table.caption)
