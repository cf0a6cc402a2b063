"""What `srelab up` starts and skips: host problems (vm.max_map_count) and their dependants."""

from __future__ import annotations

from pathlib import Path

import pytest

from srelab.stack.cli import host_problems
from srelab.stack.host_checks import ES_MIN_MAX_MAP_COUNT, MAX_MAP_COUNT_PATH
from srelab.stack.lifecycle import plan_services
from srelab.stack.settings import get_settings

ELK = {"elasticsearch", "es-setup", "logstash", "kibana", "kibana-setup", "filebeat"}


def test_a_host_that_cannot_run_elasticsearch_gets_everything_else(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LAB_IMAGES", "registry")
    fix = "vm.max_map_count is 65530, Elasticsearch needs >= 262144: sudo sysctl -w vm.max_map_count=262144"
    plan = plan_services(get_settings(), ("monitoring", "elk"), {"elasticsearch": fix})
    assert plan.skipped["elasticsearch"] == fix
    # Everything of the elk profile needs Elasticsearch, directly or through another service.
    assert set(plan.skipped) == ELK
    assert all(plan.skipped[name].startswith("depends on ") for name in ELK - {"elasticsearch"})
    assert {"traefik", "web-a", "web-b", "web-c", "redis", "prometheus", "grafana", "loki"} <= set(plan.start)
    assert not set(plan.start) & ELK


def test_host_problems_only_outside_the_profiles_are_ignored(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LAB_IMAGES", "registry")
    plan = plan_services(get_settings(), ("monitoring",), {"elasticsearch": "too few map areas"})
    assert plan.skipped == {}
    assert "prometheus" in plan.start


def test_host_problem_wins_over_the_missing_image(monkeypatch: pytest.MonkeyPatch) -> None:
    """Under LAB_IMAGES=local Elasticsearch has no image either; the host's fix is the line shown
    (it is what stays true once images can be pulled)."""
    monkeypatch.setenv("LAB_IMAGES", "local")
    plan = plan_services(get_settings(), ("elk",), {"elasticsearch": "sysctl fix"})
    assert plan.skipped["elasticsearch"] == "sysctl fix"


def test_this_hosts_max_map_count_decides_the_problem() -> None:
    try:
        current = int(Path(MAX_MAP_COUNT_PATH).read_text())
    except FileNotFoundError:
        assert host_problems() == {}
        return
    problems = host_problems()
    assert ("elasticsearch" in problems) == (current < ES_MIN_MAX_MAP_COUNT)
    if problems:
        assert "\n" not in problems["elasticsearch"] and str(current) in problems["elasticsearch"]


@pytest.mark.parametrize(("chosen", "other"), [("promtail", "alloy"), ("alloy", "promtail")])
def test_only_the_chosen_log_shipper_is_planned(
    monkeypatch: pytest.MonkeyPatch, chosen: str, other: str
) -> None:
    monkeypatch.setenv("LAB_IMAGES", "registry")
    monkeypatch.setenv("LAB_LOG_SHIPPER", chosen)
    plan = plan_services(get_settings(), ("monitoring",))
    assert chosen in plan.start
    assert other not in plan.start and other not in plan.skipped  # a choice, not a problem


def test_alloy_is_skipped_with_the_reason_where_it_cannot_be_obtained(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("LAB_IMAGES", "local")
    monkeypatch.setenv("LAB_LOG_SHIPPER", "alloy")
    plan = plan_services(get_settings(), ("monitoring",))
    assert "no registry to pull from" in plan.skipped["alloy"]
    assert "promtail" not in plan.skipped


def test_an_unknown_log_shipper_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    from pydantic import ValidationError

    monkeypatch.setenv("LAB_LOG_SHIPPER", "fluentd")
    with pytest.raises(ValidationError, match="'promtail' or 'alloy'"):
        get_settings()
