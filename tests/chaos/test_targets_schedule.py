"""Target selection (names, zones, seeded random) and the schedule / phase windows."""

from __future__ import annotations

import pytest

from srelab.chaos.model import ExperimentError, TargetSelector
from srelab.chaos.schedule import plan, windows
from srelab.chaos.targets import Candidate, select
from tests.chaos.helpers import experiment

POOL = [
    Candidate("redis", "redis"),
    Candidate("traefik", "proxy"),
    Candidate("web-a", "web", "a"),
    Candidate("web-b", "web", "b"),
    Candidate("web-c", "web", "c"),
    Candidate("web-d", "web", "b"),
]


def pick(**fields: object) -> tuple[str, ...]:
    return select("t", TargetSelector(**fields), POOL).services


def test_roles_and_service_names() -> None:
    assert pick(service="redis") == ("redis",)
    assert pick(service="proxy") == ("traefik",)
    assert pick(service="traefik") == ("traefik",)
    assert pick(service="web", count="all") == ("web-a", "web-b", "web-c", "web-d")


def test_by_name_and_by_zone() -> None:
    assert pick(service="web", names=["web-c"]) == ("web-c",)
    assert pick(service="web", zone="b", count="all") == ("web-b", "web-d")
    assert pick(service="web", zone="a") == ("web-a",)


def test_seeded_random_is_reproducible_and_recorded() -> None:
    picks = {pick(service="web", count=2, seed=7) for _ in range(5)}
    assert len(picks) == 1
    seen = {pick(service="web", count=1, seed=seed)[0] for seed in range(40)}
    assert len(seen) > 1, "different seeds should reach different replicas"
    drawn = select("t", TargetSelector(service="web", count=1), POOL)
    assert drawn.seed is not None
    again = select("t", TargetSelector(service="web", count=1, seed=drawn.seed), POOL)
    assert again.services == drawn.services
    run_seed = select("t", TargetSelector(service="web", count=1), POOL, rng_seed=99)
    assert run_seed.seed == 99


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"service": "mongo"}, "targets.t.service: 'mongo' is neither a role nor a compose service"),
        ({"service": "web", "zone": "z"}, "targets.t.zone: no web service in zone 'z' (zones: a, b, c)"),
        ({"service": "web", "names": ["web-x"]}, "targets.t.names: web-x not among web services"),
        ({"service": "web", "zone": "a", "count": 2}, "targets.t.count: 2 requested but only 1 candidate"),
    ],
)
def test_selection_errors_name_the_field(fields: dict, message: str) -> None:
    with pytest.raises(ExperimentError) as info:
        select("t", TargetSelector(**fields), POOL)
    assert message in str(info.value)


def test_plan_orders_restores_before_injects_at_the_same_time() -> None:
    exp = experiment(
        faults=[
            {"action": "kill", "target": "victim", "at": 10, "duration": 5},
            {"action": "pause", "target": "victim", "at": 15, "duration": 3},
        ]
    )
    events = [(e.at, e.kind, e.fault) for e in plan(exp)]
    assert events == [(10, "inject", 0), (15, "restore", 0), (15, "inject", 1), (18, "restore", 1)]


def test_phase_windows() -> None:
    win = windows(t0=1000.0, end=1040.0, warmup_s=2, settle_s=5, injects=[1010.4], restores=[1018.2])
    assert win.phase_of(1000.0) == "warmup"
    assert win.phase_of(1002.0) == "before"
    assert win.phase_of(1009.0) == "before"
    assert win.phase_of(1010.0) == "during", "a bucket overlapping the inject is 'during'"
    assert win.phase_of(1023.0) == "during", "restore + settle is still 'during'"
    assert win.phase_of(1024.0) == "after"
    never_restored = windows(1000.0, 1040.0, 2, 5, injects=[1010.0], restores=[])
    assert never_restored.phase_of(1039.0) == "during"
    no_fault = windows(1000.0, 1040.0, 2, 5, injects=[], restores=[])
    assert no_fault.phase_of(1030.0) == "before"
