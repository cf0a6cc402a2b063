"""The experiment file format (chaos/experiments/*.yaml), validated with pydantic.

One experiment = the load to run, named target selectors, faults with a schedule relative to the
load's start, a steady-state hypothesis checked before/during/after, recovery goals and the write
audit's rules. A malformed file raises ExperimentError (a LabError) whose one-line message names the
file and the bad field (e.g. ``faults.0.at``); nothing is touched before a file validates.
"""

from __future__ import annotations

import re
from enum import StrEnum
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import Field, ValidationError, field_validator, model_validator

from srelab.errors import LabError, StrictModel, field_problems, one_line
from srelab.load import FAILURE_KINDS, LoadSpec

# Roles a selector can name instead of a compose service; resolved in targets.py.
ROLE_WEB = "web"
ROLE_REDIS = "redis"
ROLE_PROXY = "proxy"
ROLE_SENTINEL = "sentinel"
# Redis HA (compose/redis-ha.yaml): the node that is primary when the run starts, the others; asked
# through `docker exec` (INFO replication) before the targets are resolved.
ROLE_REDIS_PRIMARY = "redis-primary"
ROLE_REDIS_REPLICA = "redis-replica"
ROLE_ANY = "any"  # every container with a role (web, redis, sentinel, proxy): with `zone`, a zone
ZONE_OF_PRIMARY = "primary"  # `zone: primary`: the zone of the Redis primary when the run starts
ROLES = (ROLE_WEB, ROLE_REDIS, ROLE_REDIS_PRIMARY, ROLE_REDIS_REPLICA, ROLE_SENTINEL, ROLE_PROXY, ROLE_ANY)

MIN_BASELINE_S = 5.0  # the first fault may not come earlier: the baseline phase needs data
MIN_AFTER_S = 5.0  # a time-bound load must leave this much after-phase


class ExperimentError(LabError):
    """A malformed or inconsistent experiment file."""


class Action(StrEnum):
    """What a fault does to its target containers (faults.py implements each one)."""

    KILL = "kill"  # SIGKILL through the engine (docker kill): a manual stop; restore = start
    CRASH = "crash"  # SIGKILL of the main PID from the host: the restart policy restarts it
    STOP = "stop"  # SIGTERM, SIGKILL after grace_s (docker stop); restore = start
    RESTART = "restart"  # docker restart (graceful); restore = ensure running
    PAUSE = "pause"  # freeze (cgroup freezer); restore = unpause
    DISCONNECT = "disconnect"  # leave a compose network; restore = reconnect with the same aliases
    DELAY = "delay"  # tc netem delay on the target's interfaces; restore = delete the qdisc
    LOSS = "loss"  # tc netem loss; restore = delete the qdisc
    CPU = "cpu"  # bounded busy loops inside the target (docker exec); restore = kill them


# Actions whose effect lasts until a restore action undoes it (duration = time until restore).
HELD_ACTIONS = frozenset(
    {Action.KILL, Action.STOP, Action.PAUSE, Action.DISCONNECT, Action.DELAY, Action.LOSS, Action.CPU}
)
# Actions after which the container comes back by itself (duration = time before "ensure running").
SELF_HEALING_ACTIONS = frozenset({Action.CRASH, Action.RESTART})


class TargetSelector(StrictModel):
    """Which containers a fault hits: a role or compose service, then by name, zone or at random."""

    service: str = Field(
        ROLE_WEB,
        description="web | redis (every node) | redis-primary | redis-replica | sentinel | proxy | any "
        "| a compose service name",
    )
    names: tuple[str, ...] = Field((), description="pick these compose services (by name)")
    zone: str | None = Field(
        None, description="only services whose srelab.zone label is this; `primary`: the Redis primary's zone"
    )
    count: int | Literal["all"] = Field(1, description="how many to pick, or 'all' of the candidates")
    seed: int | None = Field(None, description="seed of the random pick (recorded when drawn at run time)")

    @field_validator("count")
    @classmethod
    def _positive(cls, value: int | str) -> int | str:
        if isinstance(value, int) and value < 1:
            raise ValueError("count must be >= 1 or 'all'")
        return value


class Fault(StrictModel):
    action: Action
    target: str = Field(description="a key of `targets`")
    at: float = Field(ge=0, le=3600, description="seconds after the load's start")
    duration: float = Field(10.0, ge=0, le=600, description="seconds until the restore action")
    grace_s: int = Field(15, ge=0, le=120, description="stop/restart: SIGTERM grace before SIGKILL")
    network: str | None = Field(None, description="disconnect: compose network; delay/loss: limit to it")
    delay_ms: int | None = Field(None, ge=1, le=10_000)
    jitter_ms: int = Field(0, ge=0, le=10_000)
    loss_pct: float | None = Field(None, gt=0, le=100)
    rate_kbit: int = Field(
        64, ge=1, le=1_000_000, description="delay: tbf rate limit used where the kernel has no sch_netem"
    )
    workers: int = Field(1, ge=1, le=8, description="cpu: busy loops started in the target")

    @model_validator(mode="after")
    def _parameters(self) -> Fault:
        if self.action == Action.DISCONNECT and not self.network:
            raise ValueError("disconnect needs `network` (a compose network such as backend)")
        if self.action == Action.DELAY and self.delay_ms is None:
            raise ValueError("delay needs `delay_ms`")
        if self.action == Action.LOSS and self.loss_pct is None:
            raise ValueError("loss needs `loss_pct`")
        if self.action in HELD_ACTIONS and self.duration <= 0:
            raise ValueError(f"{self.action.value} needs a duration > 0 (time until its restore)")
        return self

    @property
    def restore_at(self) -> float:
        return self.at + self.duration

    def describe(self) -> str:
        extra = ""
        if self.action == Action.DELAY:
            extra = f" {self.delay_ms}ms" + (f"±{self.jitter_ms}ms" if self.jitter_ms else "")
        elif self.action == Action.LOSS:
            extra = f" {self.loss_pct:g}%"
        elif self.action == Action.DISCONNECT:
            extra = f" from {self.network}"
        elif self.action == Action.CPU:
            extra = f" x{self.workers}"
        return f"{self.action.value} {self.target}{extra} @{self.at:g}s for {self.duration:g}s"


class Hypothesis(StrictModel):
    """Steady state: each limit is checked on a phase's aggregate; None = not checked."""

    max_error_rate: float | None = Field(None, ge=0, le=1, description="failed / requests")
    p95_ms: float | None = Field(None, gt=0, description="upper bound of the phase's p95 latency")
    min_rps: float | None = Field(None, ge=0, description="completed requests per second")
    max_failures: dict[str, int] = Field(
        default_factory=dict, description="failure kind -> most allowed (e.g. timeout: 0)"
    )

    @field_validator("max_failures")
    @classmethod
    def _kinds(cls, value: dict[str, int]) -> dict[str, int]:
        for kind, limit in value.items():
            if kind not in FAILURE_KINDS:
                raise ValueError(f"unknown failure kind {kind!r}: choose from {', '.join(FAILURE_KINDS)}")
            if limit < 0:
                raise ValueError(f"max_failures.{kind} must be >= 0")
        return value


def known_alerts() -> frozenset[str]:
    """The alert names in services/config/prometheus/rules (what a detection goal may name)."""
    from srelab.stack.settings import ROOT

    names = set()
    for path in sorted((ROOT / "services" / "config" / "prometheus" / "rules").glob("*.yml")):
        for group in (yaml.safe_load(path.read_text()) or {}).get("groups", []):
            names.update(r["alert"] for r in group.get("rules", []) if "alert" in r)
    return frozenset(names)


class DetectGoal(StrictModel):
    """Monitoring must notice: `alert` fires within `within_s` of the fault's inject."""

    alert: str = Field(description="an alert of services/config/prometheus/rules")
    within_s: float = Field(gt=0, le=600, description="seconds from the inject to the alert's firing")
    fault: int | None = Field(None, ge=0, description="the fault (index in faults); default: every fault")
    resolve_within_s: float | None = Field(
        None, gt=0, le=600, description="seconds from the restore until it resolved"
    )

    @field_validator("alert")
    @classmethod
    def _known(cls, value: str) -> str:
        known = known_alerts()
        if value not in known:
            raise ValueError(f"unknown alert {value!r}: choose from {', '.join(sorted(known))}")
        return value


class FailoverGoal(StrictModel):
    """Redis HA goals, judged on the failover figures (srelab/chaos/failover.py)."""

    promotion: bool | None = Field(
        True, description="true: the Sentinels must promote a replica; false: they must not; null: either"
    )
    max_s: float | None = Field(None, gt=0, le=600, description="fault -> +switch-master, seconds")
    max_write_s: float | None = Field(
        None, gt=0, le=600, description="fault -> first write acknowledged (POST started after the fault)"
    )
    errors_in_window_only: bool = Field(
        False, description="every failed request ends between the fault and the first write after it (+grace)"
    )
    grace_s: float = Field(1.0, ge=0, le=30, description="errors_in_window_only: after the first write")
    rejoin: bool = Field(
        True, description="after the restore: one primary, every replica linked, the old primary a replica"
    )
    rejoin_wait_s: float = Field(
        30.0, gt=0, le=300, description="how long to wait for that after the restore"
    )
    max_isolated_write_s: float | None = Field(
        None,
        gt=0,
        le=600,
        description="a disconnected primary accepts no write later than this after the cut",
    )


class Hypotheses(StrictModel):
    steady: Hypothesis = Field(default_factory=Hypothesis, description="before and after the faults")
    during: Hypothesis | None = Field(None, description="in the fault windows; default: steady")
    warmup_s: float = Field(2.0, ge=0, le=60, description="first seconds left out of the baseline")
    settle_s: float = Field(5.0, ge=0, le=120, description="after the last restore, still 'during'")
    stable_s: int = Field(3, ge=1, le=60, description="consecutive good seconds that count as recovered")
    detect: tuple[DetectGoal, ...] = Field((), description="alerts that must fire (a list, or one mapping)")
    no_alerts: bool = Field(False, description="no alert other than those in `detect` may fire")
    failover: FailoverGoal | None = Field(None, description="Redis HA: promotion, first write, rejoin")

    @field_validator("detect", mode="before")
    @classmethod
    def _one_or_many(cls, value: Any) -> Any:
        return [value] if isinstance(value, dict) else value

    @property
    def during_or_steady(self) -> Hypothesis:
        return self.during if self.during is not None else self.steady


class RecoveryGoals(StrictModel):
    """Goals on the recovery figures; None = measured and reported, not judged."""

    max_back_in_rotation_s: float | None = Field(
        None, gt=0, description="target answering through the proxy, seconds after its (re)start"
    )
    max_time_to_recover_s: float | None = Field(
        None, gt=0, description="first error until the hypothesis holds again"
    )
    max_healthy_s: float | None = Field(None, gt=0, description="target healthy after its (re)start")


class Audit(StrictModel):
    enabled: bool = True
    fail_on_duplicates: bool = True
    concurrency: int = Field(8, ge=1, le=32, description="parallel read-backs through the proxy")
    max_list_pages: int = Field(100, ge=0, le=2000, description="GET /items pages scanned for duplicates")


class LoadConfig(StrictModel):
    """The load: a preset of the load harness (hey-post, hey-get) or LoadSpec fields, run by Locust
    or by the real hey binary (`tool: hey`: the hey-get/hey-post scenarios, request-bounded)."""

    preset: str | None = None
    scale: float = Field(10.0, ge=1, le=10_000)
    tool: Literal["locust", "hey"] = "locust"
    rate_per_worker: float | None = Field(
        None, gt=0, le=10_000, description="tool hey: requests per second per worker (hey -q)"
    )
    capacity_share: float | None = Field(
        None,
        gt=0,
        le=1,
        description="pace the load at this share of the last bench's capacity (srelab/chaos/capacity.py)",
    )
    capacity_fallback_rps: float = Field(
        300.0,
        gt=0,
        le=100_000,
        description="capacity_share: the capacity assumed when no bench result exists",
    )
    spec: LoadSpec

    @model_validator(mode="after")
    def _tool(self) -> LoadConfig:
        from srelab.load.errors import LoadError
        from srelab.load.hey import check_hey_spec

        if self.capacity_share is not None and self.tool != "locust":
            raise ValueError("capacity_share: only with tool: locust (paced users)")
        if self.tool == "locust":
            if self.rate_per_worker is not None:
                raise ValueError("rate_per_worker: only with tool: hey (it is hey -q)")
            return self
        try:
            check_hey_spec(self.spec)
        except LoadError as exc:
            raise ValueError(str(exc)) from None
        return self


class Experiment(StrictModel):
    name: str = Field(pattern=r"^[a-z0-9][a-z0-9-]{0,62}$")
    description: str = Field(min_length=1, max_length=240)
    load: LoadConfig
    targets: dict[str, TargetSelector] = Field(min_length=1)
    faults: list[Fault] = Field(min_length=1)
    hypothesis: Hypotheses = Field(default_factory=Hypotheses)
    recovery: RecoveryGoals = Field(default_factory=RecoveryGoals)
    audit: Audit = Field(default_factory=Audit)
    restore_timeout_s: float = Field(
        90.0, ge=5, le=600, description="wait until restored targets are healthy"
    )
    topology: Literal["ha", "single"] | None = Field(
        None, description="the Redis topology (LAB_REDIS_TOPOLOGY) the experiment needs; null: either"
    )

    @field_validator("description")
    @classmethod
    def _one_line(cls, value: str) -> str:
        if "\n" in value.strip():
            raise ValueError("description must be one line")
        return value.strip()

    @field_validator("load", mode="before")
    @classmethod
    def _load(cls, value: Any) -> Any:
        """`load:` holds LoadSpec fields, optionally with `preset` and `scale`; build the spec here."""
        if not isinstance(value, dict):
            return value
        if "spec" in value:
            return value
        fields = dict(value)
        preset = fields.pop("preset", None)
        scale = fields.pop("scale", 10.0)
        # LoadConfig's own fields; the rest are LoadSpec fields.
        own = ("tool", "rate_per_worker", "capacity_share", "capacity_fallback_rps")
        tool = {k: fields.pop(k) for k in own if k in fields}
        if preset is None:
            return {"preset": None, "scale": scale, **tool, "spec": fields}
        from srelab.load.presets import PRESETS, preset_spec

        if preset not in PRESETS:
            raise ValueError(f"preset: unknown preset {preset!r}: choose from {', '.join(PRESETS)}")
        if not isinstance(scale, int | float) or not 1 <= scale <= 10_000:
            raise ValueError("scale: must be a number between 1 and 10000")
        # The preset's values, overridden by the file's fields; validated as a nested LoadSpec so
        # errors name the field (load.users).
        base = preset_spec(preset, float(scale)).model_dump()
        return {"preset": preset, "scale": scale, **tool, "spec": {**base, **fields}}

    @model_validator(mode="after")
    def _consistent(self) -> Experiment:
        for index, fault in enumerate(self.faults):
            if fault.target not in self.targets:
                raise ValueError(
                    f"faults.{index}.target: {fault.target!r} is not a key of targets "
                    f"({', '.join(self.targets)})"
                )
        problem = check_schedule(self)
        if problem:
            raise ValueError(problem)
        for index, goal in enumerate(self.hypothesis.detect):
            if goal.fault is not None and goal.fault >= len(self.faults):
                raise ValueError(
                    f"hypothesis.detect.{index}.fault: {goal.fault} is not a fault index "
                    f"(0..{len(self.faults) - 1})"
                )
        return self

    @property
    def spec(self) -> LoadSpec:
        return self.load.spec

    @property
    def time_bound(self) -> bool:
        """True when the load runs for its duration (no request count that could end it early)."""
        return self.spec.requests is None

    @property
    def planned_duration_s(self) -> float:
        """The load's duration for time-bound runs; the last restore + settle for request-bound."""
        if self.time_bound:
            return self.spec.duration_s
        last = max(f.restore_at for f in self.faults)
        return last + self.hypothesis.settle_s

    def fault_summary(self) -> str:
        return "; ".join(f.describe() for f in self.faults)


def check_schedule(experiment: Experiment) -> str | None:
    """The first scheduling problem as `field: message`, or None."""
    hyp = experiment.hypothesis
    min_first = max(MIN_BASELINE_S, hyp.warmup_s + 3.0)
    for index, fault in enumerate(experiment.faults):
        if fault.at < min_first:
            return (
                f"faults.{index}.at: {fault.at:g} s leaves no baseline phase "
                f"(the first fault must come at >= {min_first:g} s)"
            )
    faults = experiment.faults
    for i, a in enumerate(faults):
        for j in range(i + 1, len(faults)):
            b = faults[j]
            if a.target == b.target and a.at < b.restore_at and b.at < a.restore_at:
                return (
                    f"faults.{j}: overlaps faults.{i} on target {a.target!r} "
                    f"([{b.at:g}, {b.restore_at:g}) s vs [{a.at:g}, {a.restore_at:g}) s)"
                )
    if experiment.time_bound:
        duration = experiment.spec.duration_s
        for index, fault in enumerate(faults):
            end = fault.restore_at + hyp.settle_s + MIN_AFTER_S
            if end > duration:
                return (
                    f"faults.{index}: restore at {fault.restore_at:g} s + settle {hyp.settle_s:g} s "
                    f"+ {MIN_AFTER_S:g} s of after-phase exceeds load.duration_s {duration:g} s"
                )
    return None


def format_validation_error(source: str, exc: ValidationError) -> str:
    """One line: `file: field.path: message` for the first error (+ how many more)."""
    parts = []
    for problem in field_problems(exc):
        # pydantic puts the model-level validator's errors at the root and nests LoadConfig.spec.
        loc, message = ".".join(p for p in problem.loc if p != "spec"), problem.message
        nested = re.match(r"^([a-z_]+): (.*)$", message)
        if loc and nested:  # a validator naming a sub-field ("preset: unknown ...") -> load.preset
            loc, message = f"{loc}.{nested.group(1)}", nested.group(2)
        parts.append(f"{loc}: {message}" if loc else message)
    return f"{source}: {one_line(parts, first_only=True)}"


def parse_experiment(data: Any, source: str = "<experiment>") -> Experiment:
    if not isinstance(data, dict):
        raise ExperimentError(f"{source}: expected a mapping at the top level, got {type(data).__name__}")
    try:
        return Experiment.model_validate(data)
    except ValidationError as exc:
        raise ExperimentError(format_validation_error(source, exc)) from None


def load_experiment(path: Path) -> Experiment:
    """Read and validate an experiment file; every problem is one ExperimentError line."""
    if not path.exists():
        raise ExperimentError(f"{path}: no such experiment file (see `srelab chaos list`)")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or "invalid YAML"
        raise ExperimentError(f"{path}: invalid YAML{where}: {problem}") from None
    experiment = parse_experiment(data, str(path))
    if experiment.name != path.stem:
        raise ExperimentError(f"{path}: name: {experiment.name!r} must match the file name {path.stem!r}")
    return experiment
