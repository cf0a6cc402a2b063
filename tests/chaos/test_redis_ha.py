"""Redis HA in the chaos tooling, without Docker: role selectors, the failover figures from plain
inputs, the failover goal's verdict, the reconnect with a fixed address, and a fake run."""

from __future__ import annotations

import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from srelab.chaos import faults
from srelab.chaos.analysis import analyse
from srelab.chaos.failover import (
    NodeState,
    SentinelEvent,
    SplitBrainProbe,
    check_failover,
    compute,
    errors_outside,
    first_acknowledged_write,
    linked,
    parse_docker_time,
    parse_replication,
    parse_sentinel_log,
)
from srelab.chaos.faults import FaultDriver, Snapshot
from srelab.chaos.journal import read_journal
from srelab.chaos.model import (
    Audit,
    Experiment,
    ExperimentError,
    FailoverGoal,
    Fault,
    Hypotheses,
    Hypothesis,
    LoadConfig,
    RecoveryGoals,
    TargetSelector,
)
from srelab.chaos.runner import ChaosRunner
from srelab.chaos.targets import Candidate, resolved_role, select, with_redis_roles
from srelab.load import LoadSpec
from srelab.stack.settings import get_settings
from tests.chaos.helpers import FakeDriver, experiment, experiment_dict
from tests.chaos.test_runner import fake_load

HA = [
    Candidate("redis", "redis", "a"),
    Candidate("redis-b", "redis", "b"),
    Candidate("redis-c", "redis", "c"),
    Candidate("sentinel-a", "sentinel", "a"),
    Candidate("sentinel-b", "sentinel", "b"),
    Candidate("sentinel-c", "sentinel", "c"),
    Candidate("web-a", "web", "a"),
    Candidate("web-b", "web", "b"),
    Candidate("web-c", "web", "c"),
    Candidate("traefik", "proxy"),
    Candidate("socket-proxy", "other"),
]
ROLES = {"redis": "replica", "redis-b": "primary", "redis-c": "replica"}  # after a failover
IPS = {"redis": "10.1.2.11", "redis-b": "10.1.2.12", "redis-c": "10.1.2.13"}


def pick(**selector: Any) -> tuple[str, ...]:
    return select("t", TargetSelector(**selector), with_redis_roles(HA, ROLES)).services


# -- selectors ------------------------------------------------------------------------------------
def test_redis_primary_is_the_node_that_is_primary_now() -> None:
    assert pick(service="redis-primary") == ("redis-b",)


def test_redis_replica_picks_among_the_others_with_a_seed() -> None:
    assert pick(service="redis-replica", count="all") == ("redis", "redis-c")
    one = pick(service="redis-replica", count=1, seed=5)
    assert one in (("redis",), ("redis-c",)) and pick(service="redis-replica", count=1, seed=5) == one


def test_redis_means_every_node_and_sentinel_every_sentinel() -> None:
    assert pick(service="redis", count="all") == ("redis", "redis-b", "redis-c")
    assert pick(service="sentinel", count="all") == ("sentinel-a", "sentinel-b", "sentinel-c")
    # The single topology: one node, `redis` is that node (the old experiments' meaning).
    assert select(
        "t", TargetSelector(service="redis", count="all"), [Candidate("redis", "redis")]
    ).services == ("redis",)


def test_zone_of_the_primary_across_roles() -> None:
    assert pick(service="any", zone="primary", count="all") == ("redis-b", "sentinel-b", "web-b")
    assert pick(service="sentinel", zone="primary") == ("sentinel-b",)
    assert pick(service="any", zone="c", count="all") == ("redis-c", "sentinel-c", "web-c")


def test_role_selectors_fail_clearly_without_roles_or_sentinels() -> None:
    with pytest.raises(ExperimentError, match=r"targets\.t\.service: no redis-primary \(redis unknown"):
        select("t", TargetSelector(service="redis-primary"), HA)
    with pytest.raises(ExperimentError, match="zone: the Redis primary's zone is not known"):
        select("t", TargetSelector(service="web", zone="primary"), HA)
    single = [Candidate("redis", "redis", redis_role="primary"), Candidate("web-a", "web", "a")]
    with pytest.raises(ExperimentError, match="no sentinel in this stack"):
        select("t", TargetSelector(service="sentinel"), single)
    with pytest.raises(ExperimentError, match="no redis-replica"):
        select("t", TargetSelector(service="redis-replica"), single)


def test_resolved_roles_for_the_journal() -> None:
    found = {c.service: resolved_role(c) for c in with_redis_roles(HA, ROLES)}
    assert found["redis-b"] == "redis-primary" and found["redis"] == "redis-replica"
    assert found["sentinel-a"] == "sentinel" and found["web-a"] == "web"


def test_the_shipped_ha_experiments_validate() -> None:
    from srelab.chaos.cli import EXPERIMENTS_DIR
    from srelab.chaos.model import load_experiment

    for name in (
        "kill-redis-primary",
        "cut-redis-primary-off-network",
        "kill-one-sentinel",
        "kill-one-redis-replica",
        "lose-redis-primary-zone",
    ):
        exp = load_experiment(EXPERIMENTS_DIR / f"{name}.yaml")
        assert exp.topology == "ha" and exp.hypothesis.failover is not None, name
        alerts = {goal.alert for goal in exp.hypothesis.detect}
        if exp.hypothesis.failover.promotion:
            # A failover must be noticed: the node lost and the promotion (rules/alerts.yml).
            assert {"RedisDown", "RedisFailover"} <= alerts, name
        elif name == "kill-one-sentinel":
            assert not alerts and exp.hypothesis.no_alerts, name  # unscraped, invisible to clients
        else:
            assert alerts == {"RedisDown"}, name  # a replica lost: a warning
    for name in ("kill-redis", "cut-redis-off-network"):  # every node: meaningful in both topologies
        exp = load_experiment(EXPERIMENTS_DIR / f"{name}.yaml")
        assert exp.topology is None and exp.targets["store"].count == "all"


def test_failover_goal_is_validated() -> None:
    data = experiment_dict()
    data["hypothesis"]["failover"] = {"max_s": 0}
    with pytest.raises(ExperimentError, match=r"hypothesis\.failover\.max_s"):
        experiment(**{"hypothesis": data["hypothesis"]})
    data["hypothesis"]["failover"] = {"max_s": 5, "promotion": False, "bogus": 1}
    with pytest.raises(ExperimentError, match="bogus: unknown field"):
        experiment(**{"hypothesis": data["hypothesis"]})


# -- parsing --------------------------------------------------------------------------------------
def test_parse_replication() -> None:
    primary = parse_replication("redis", "# Replication\r\nrole:master\r\nconnected_slaves:2\r\n")
    assert primary.role == "primary" and primary.connected_replicas == 2
    replica = parse_replication(
        "redis-b", "role:slave\nmaster_host:10.1.2.11\nmaster_port:6379\nmaster_link_status:down\n"
    )
    assert (replica.role, replica.master_host, replica.link_up) == ("replica", "10.1.2.11", False)
    assert parse_replication("x", "NOAUTH").role == "unknown"


def test_parse_sentinel_log_with_docker_timestamps() -> None:
    day = "2026-12-02T04:52"
    lines = [
        f"{day}:28.100000000Z 1:X 02 Dec 2026 04:52:28.100 # +sdown master items 10.1.2.11 6379",
        f"{day}:28.300000000Z 1:X 02 Dec 2026 04:52:28.300 # +odown master items 10.1.2.11 6379 #quorum 2/2",
        f"{day}:29.512345678Z 1:X # +switch-master items 10.1.2.11 6379 10.1.2.13 6379",
        f"{day}:29.600000000Z 1:X * +slave slave 10.1.2.12:6379 10.1.2.12 6379",
        "not a line",
    ]
    text = "\n".join(lines)
    events = parse_sentinel_log("sentinel-a", text)
    assert [e.event for e in events] == ["+sdown", "+odown", "+switch-master"]
    assert events[2].detail.startswith("items 10.1.2.11 6379 10.1.2.13")
    assert events[2].t == pytest.approx(parse_docker_time("2026-12-02T04:52:29Z") + 0.512345678)
    assert parse_docker_time("yesterday") is None


def test_first_acknowledged_write_starts_after_the_fault() -> None:
    fault = 100.0
    writes = [
        (100.05, 100.0, True),  # started before the fault: not it
        (101.0, 50.0, False),  # failed after the fault
        (102.5, 20.0, True),  # the first one
        (102.2, 900.0, False),  # started after, failed before the first ack
        (103.0, 10.0, True),
    ]
    first, failed = first_acknowledged_write(writes, fault)
    assert first == 102.5 and failed == 2
    assert first_acknowledged_write([(101.0, 5.0, False)], fault) == (None, 1)


def test_errors_outside_the_window() -> None:
    assert errors_outside([100.5, 102.0, 103.4, 104.0], 100.0, 102.5, 1.0) == 1
    assert errors_outside([99.0, 101.0], 100.0, None, 1.0) == 0  # no end: all inside, before ignored


def test_linked_needs_one_primary_and_every_replica_up() -> None:
    after = [
        NodeState(service="redis", role="replica", master_host=IPS["redis-c"], link_up=True),
        NodeState(service="redis-b", role="replica", master_host=IPS["redis-c"], link_up=True),
        NodeState(service="redis-c", role="primary"),
    ]
    assert linked(after, "redis", IPS) == (True, True)
    down = [after[0].model_copy(update={"link_up": False}), *after[1:]]
    assert linked(down, "redis", IPS) == (False, False)
    two = [after[0].model_copy(update={"role": "primary"}), *after[1:]]
    assert linked(two, "redis", IPS) == (False, False)


def figures(**changes: Any):
    base: dict[str, Any] = {
        "fault": 0,
        "services": ["redis"],
        "injected_at": 100.0,
        "effective_at": 100.2,
        "nodes_before": [
            NodeState(service="redis", role="primary"),
            NodeState(service="redis-b", role="replica", master_host=IPS["redis"], link_up=True),
            NodeState(service="redis-c", role="replica", master_host=IPS["redis"], link_up=True),
        ],
        "nodes_after": [
            NodeState(service="redis", role="replica", master_host=IPS["redis-c"], link_up=True),
            NodeState(service="redis-b", role="replica", master_host=IPS["redis-c"], link_up=True),
            NodeState(service="redis-c", role="primary"),
        ],
        "ips": IPS,
        "sentinel_events": [
            SentinelEvent(t=90.0, sentinel="sentinel-a", event="+switch-master", detail="items old"),
            SentinelEvent(
                t=101.1, sentinel="sentinel-a", event="+sdown", detail="master items 10.1.2.11 6379"
            ),
            SentinelEvent(
                t=102.3, sentinel="sentinel-b", event="+switch-master", detail="items a 6379 b 6379"
            ),
            SentinelEvent(
                t=102.4, sentinel="sentinel-a", event="+switch-master", detail="items a 6379 b 6379"
            ),
        ],
        "writes": [(100.1, 5.0, True), (101.0, 10.0, False), (102.6, 20.0, True)],
        "failures": [99.0, 100.5, 101.0, 102.0, 103.2],
        "linked_after_s": 4.0,
    }
    base.update(changes)
    return compute(**base)


def test_compute_failover_figures() -> None:
    f = figures()
    assert (f.old_primary, f.new_primary, f.promoted) == ("redis", "redis-c", True)
    assert f.failover_s == pytest.approx(2.3) and f.sdown_s == pytest.approx(1.1)
    # The write completed at 100.1 started before the inject ended: not the first after the fault.
    assert f.first_write_s == pytest.approx(2.6) and f.writes_failed_before == 1
    assert f.errors_total == 4 and f.errors_outside_window == 0  # 103.2 <= 102.6 + 1 s
    assert f.replicas_linked and f.old_primary_rejoined
    assert [e.t for e in f.sentinel_events] == [101.1, 102.3, 102.4]  # the one from before is left out
    late = figures(failures=[100.5, 104.0])
    assert late.errors_outside_window == 1


def test_failover_goal_verdict() -> None:
    goal = FailoverGoal(max_s=5, max_write_s=5, errors_in_window_only=True)
    reasons, notes = check_failover(goal, figures())
    assert reasons == [] and any("promotion 2.30 s" in n for n in notes)
    slow = figures(sentinel_events=[SentinelEvent(t=107.0, sentinel="s", event="+switch-master", detail="x")])
    assert any("> 5 s" in r for r in check_failover(goal, slow)[0])
    assert any("outside the failover window" in r for r in check_failover(goal, figures(failures=[104.0]))[0])
    none = figures(sentinel_events=[], nodes_after=figures().nodes_before)
    assert any("no promotion" in r for r in check_failover(goal, none)[0])
    # A Sentinel or replica killed: no promotion may happen.
    quiet = FailoverGoal(promotion=False)
    assert check_failover(quiet, none)[0] == []
    assert any("where none was expected" in r for r in check_failover(quiet, figures())[0])
    # The old primary never came back as a replica.
    stuck = figures(
        nodes_after=[
            NodeState(service="redis", role="down"),
            NodeState(service="redis-b", role="replica", master_host=IPS["redis-c"], link_up=True),
            NodeState(service="redis-c", role="primary"),
        ]
    )
    assert any("not every replica linked" in r for r in check_failover(goal, stuck)[0])
    assert check_failover(goal, None, "topology single")[0] == ["failover not measured: topology single"]


def test_split_brain_goal() -> None:
    goal = FailoverGoal(max_isolated_write_s=6)
    ok = SplitBrainProbe(
        service="redis", tried=10, accepted=3, refused=7, last_accepted_s=3.1, first_refused_s=4.0
    )
    assert check_failover(goal, figures(split_brain=[ok]))[0] == []
    late = ok.model_copy(update={"last_accepted_s": 8.0})
    assert any(
        "accepted writes until 8.0 s" in r for r in check_failover(goal, figures(split_brain=[late]))[0]
    )
    never = SplitBrainProbe(service="redis", tried=10, accepted=10)
    assert any("never refused" in r for r in check_failover(goal, figures(split_brain=[never]))[0])
    assert any("not probed" in r for r in check_failover(goal, figures())[0])


# -- the reconnect keeps the fixed address --------------------------------------------------------
def test_disconnect_restore_reconnects_with_the_fixed_address(monkeypatch: pytest.MonkeyPatch) -> None:
    commands: list[list[str]] = []
    monkeypatch.setattr(faults, "run_docker", lambda cmd: commands.append(cmd))
    box = SimpleNamespace(
        id="abc",
        name="p-redis-1",
        reload=lambda: None,
        state=SimpleNamespace(running=True, paused=False),
        network_settings=SimpleNamespace(networks={}),
    )
    engine = SimpleNamespace(docker_cmd=["docker"], container=SimpleNamespace(list=lambda **kw: [box]))
    driver = FaultDriver(engine, get_settings())  # type: ignore[arg-type]
    snap = Snapshot(
        "redis", "abc", "p-redis-1", True, False, "healthy", None, 1,
        {"p_backend": ["redis"]}, {"p_backend": "02:42"}, {"p_backend": "10.1.2.11"},
    )  # fmt: skip
    fault = Fault(action="disconnect", target="t", at=5, duration=4, network="backend")
    driver.network_name = lambda snap, network: "p_backend"  # type: ignore[method-assign]
    outcome = driver.restore(fault, snap)
    assert commands == [
        ["docker", "network", "connect", "--alias", "redis", "--ip", "10.1.2.11", "p_backend", "abc"]
    ]
    assert "fixed address 10.1.2.11" in outcome.detail


# -- a fake run: roles recorded, failover figures and verdict in the journal ----------------------
class FakeProbe:
    def __init__(self) -> None:
        self.runner: ChaosRunner | None = None
        self.asked = 0

    def nodes(self, services: list[str]) -> list[NodeState]:
        self.asked += 1
        return [
            NodeState(service="redis", role="primary"),
            NodeState(service="redis-b", role="replica", master_host=IPS["redis"], link_up=True),
        ]

    def wait_linked(self, services, old_primary, ips, timeout_s):
        return [
            NodeState(service="redis", role="replica", master_host=IPS["redis-b"], link_up=True),
            NodeState(service="redis-b", role="primary"),
        ], time.time()

    def sentinel_events(self, sentinels, since):
        assert self.runner is not None
        injected = self.runner.tasks[0].record.injected_at
        return [
            SentinelEvent(t=injected + 1.5, sentinel="sentinel-a", event="+switch-master", detail="x")
        ], []


class IpDriver(FakeDriver):
    def snapshot(self, service: str) -> Snapshot:
        snap = super().snapshot(service)
        if service in IPS:
            snap.ips = {"proj_backend": IPS[service]}
        return snap


def ha_experiment(goal: FailoverGoal) -> Experiment:
    return Experiment.model_construct(
        name="unit-ha",
        description="fake HA run",
        load=LoadConfig.model_construct(preset=None, scale=10.0, spec=LoadSpec(users=1, duration_s=3)),
        targets={"primary": TargetSelector(service="redis-primary")},
        faults=[Fault(action="kill", target="primary", at=1.1, duration=0.5)],
        hypothesis=Hypotheses(
            steady=Hypothesis(max_error_rate=0.0), warmup_s=0.0, settle_s=0.2, stable_s=1, failover=goal
        ),
        recovery=RecoveryGoals(),
        audit=Audit(enabled=False),
        restore_timeout_s=5.0,
        topology="ha",
    )


def test_fake_ha_run_records_roles_and_judges_the_failover(tmp_path: Path) -> None:
    probe = FakeProbe()
    settings = get_settings().model_copy(update={"lab_redis_topology": "ha"})
    r = ChaosRunner(
        ha_experiment(FailoverGoal(max_s=5)),
        Path("unit.yaml"),
        settings,
        driver=IpDriver(),  # type: ignore[arg-type]
        load_fn=fake_load(),
        candidates=[
            Candidate("redis", "redis", "a"),
            Candidate("redis-b", "redis", "b"),
            Candidate("sentinel-a", "sentinel", "a"),
        ],
        out_dir=tmp_path / "run",
        live=False,
        annotate=False,
        watch_alerts=False,
        proxy_url="http://127.0.0.1:9",
        pending_path=tmp_path / ".chaos-pending.json",
        redis_probe=probe,  # type: ignore[arg-type]
    )
    probe.runner = r
    r.prepare()
    journal = r.run()
    assert journal.targets == {"primary": ["redis"]} and journal.roles == {"redis": "redis-primary"}
    assert journal.topology == "ha" and [n.role for n in journal.redis_nodes] == ["primary", "replica"]
    f = journal.failover
    assert f is not None and f.promoted and f.failover_s == pytest.approx(1.5, abs=0.01)
    assert (f.old_primary, f.new_primary, f.replicas_linked, f.old_primary_rejoined) == (
        "redis",
        "redis-b",
        True,
        True,
    )
    assert journal.verdicts is not None and journal.verdicts.failover.passed
    again = read_journal(tmp_path / "run")
    assert again.failover is not None and again.failover.failover_s == f.failover_s
    assert "Redis failover" in (tmp_path / "run" / "report.md").read_text()
    # The same journal judged against a stricter goal fails its failover part (plain re-analysis).
    strict = ha_experiment(FailoverGoal(max_s=1))
    analyse(again, strict, [])
    assert not again.verdicts.failover.passed and again.exit_code == 1


def test_topology_mismatch_is_bad_input(tmp_path: Path) -> None:
    settings = get_settings().model_copy(update={"lab_redis_topology": "single"})
    r = ChaosRunner(
        ha_experiment(FailoverGoal(max_s=5)),
        Path("unit.yaml"),
        settings,
        driver=FakeDriver(),  # type: ignore[arg-type]
        candidates=[Candidate("redis", "redis")],
        out_dir=tmp_path / "run",
        live=False,
        annotate=False,
        watch_alerts=False,
        pending_path=tmp_path / ".chaos-pending.json",
    )
    with pytest.raises(ExperimentError, match="topology: the experiment needs LAB_REDIS_TOPOLOGY=ha"):
        r.prepare()


def test_single_topology_run_has_no_failover_figures(tmp_path: Path) -> None:
    settings = get_settings().model_copy(update={"lab_redis_topology": "single"})
    exp = ha_experiment(FailoverGoal(max_s=5)).model_copy(
        update={"targets": {"primary": TargetSelector(service="redis")}, "topology": None}
    )
    r = ChaosRunner(
        exp,
        Path("unit.yaml"),
        settings,
        driver=FakeDriver(),  # type: ignore[arg-type]
        load_fn=fake_load(),
        candidates=[Candidate("redis", "redis")],
        out_dir=tmp_path / "run",
        live=False,
        annotate=False,
        watch_alerts=False,
        proxy_url="http://127.0.0.1:9",
        pending_path=tmp_path / ".chaos-pending.json",
    )
    r.prepare()
    journal = r.run()
    assert journal.roles == {"redis": "redis-primary"} and journal.failover is None
    assert journal.failover_note and "single" in journal.failover_note
    assert not journal.verdicts.failover.passed  # a goal that cannot be measured is no pass
