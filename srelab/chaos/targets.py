"""Target selection: a selector (role or service, names, zone, count, seed) -> compose services.

Pure functions over a list of candidates; `compose_candidates()` reads them from the compose model
(roles and zones from the srelab.role/srelab.zone labels: web replicas, Redis nodes, Sentinels; the
proxy by name). A random pick without a seed draws one, and the seed is recorded so the run can be
replayed.

Redis HA roles are known only at run time: the runner asks every Redis node (INFO replication,
srelab/chaos/failover.py) and passes the answers in (`with_redis_roles`). `redis-primary` is the node
that is primary when the run starts, `redis-replica` the others; `redis` is every Redis node (in the
single topology the one node, as before); `any` is every container with a role, meant for `zone`
(`zone: primary` is the zone of the primary: its web replica, Redis node and Sentinel).
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace

from srelab.chaos.model import (
    ROLE_ANY,
    ROLE_PROXY,
    ROLE_REDIS,
    ROLE_REDIS_PRIMARY,
    ROLE_REDIS_REPLICA,
    ROLE_SENTINEL,
    ROLE_WEB,
    ROLES,
    ZONE_OF_PRIMARY,
    ExperimentError,
    TargetSelector,
)
from srelab.stack.settings import Settings

PROXY_SERVICE = "traefik"
REDIS_SERVICE = "redis"


@dataclass(frozen=True)
class Candidate:
    service: str  # compose service name
    role: str  # web | redis | sentinel | proxy | other
    zone: str | None = None
    redis_role: str | None = None  # a Redis node's role when the run starts: primary | replica | down


def with_redis_roles(candidates: Iterable[Candidate], roles: Mapping[str, str]) -> list[Candidate]:
    """The candidates with the Redis nodes' roles (service -> primary | replica | down) filled in."""
    return [replace(c, redis_role=roles.get(c.service)) if c.role == ROLE_REDIS else c for c in candidates]


def resolved_role(candidate: Candidate) -> str:
    """What the journal records for a targeted service: its role, a Redis node's HA role."""
    if candidate.role == ROLE_REDIS and candidate.redis_role in ("primary", "replica"):
        return f"redis-{candidate.redis_role}"
    return candidate.role


@dataclass(frozen=True)
class Selection:
    name: str  # selector key in the experiment
    services: tuple[str, ...]
    seed: int | None  # the seed used for a random pick (None when nothing was drawn)


def compose_candidates(settings: Settings) -> list[Candidate]:
    """Every service of the core compose file, with its role and zone."""
    from srelab.stack.compose_model import ROLE_LABEL, labels_of, services, web_services, zone_of

    web = set(web_services(settings))
    found = []
    for name, svc in sorted(services(settings, ()).items()):
        label = labels_of(svc).get(ROLE_LABEL)
        if name in web:
            found.append(Candidate(name, ROLE_WEB, zone_of(name, settings)))
        elif name == REDIS_SERVICE or label == ROLE_REDIS:
            found.append(Candidate(name, ROLE_REDIS, zone_of(name, settings)))
        elif label == ROLE_SENTINEL:
            found.append(Candidate(name, ROLE_SENTINEL, zone_of(name, settings)))
        elif name == PROXY_SERVICE:
            found.append(Candidate(name, ROLE_PROXY))
        else:
            found.append(Candidate(name, "other"))
    return found


def primary_zone(candidates: Iterable[Candidate]) -> str | None:
    return next((c.zone for c in candidates if c.role == ROLE_REDIS and c.redis_role == "primary"), None)


def _by_role(service: str, pool: list[Candidate]) -> list[Candidate]:
    if service == ROLE_ANY:
        return [c for c in pool if c.role != "other"]
    if service in (ROLE_REDIS_PRIMARY, ROLE_REDIS_REPLICA):
        want = "primary" if service == ROLE_REDIS_PRIMARY else "replica"
        return [c for c in pool if c.role == ROLE_REDIS and c.redis_role == want]
    found = [c for c in pool if c.role == service]
    return found or [c for c in pool if c.service == service]


def select(
    key: str, selector: TargetSelector, candidates: Iterable[Candidate], rng_seed: int | None = None
) -> Selection:
    """The services `selector` picks; ExperimentError naming `targets.<key>.<field>` when it cannot.

    rng_seed is used for a random pick when the selector has no seed of its own.
    """
    pool = list(candidates)
    field = f"targets.{key}"
    by_role = _by_role(selector.service, pool)
    if not by_role and selector.service in (ROLE_REDIS_PRIMARY, ROLE_REDIS_REPLICA):
        nodes = [c for c in pool if c.role == ROLE_REDIS]
        roles = ", ".join(f"{c.service} {c.redis_role or 'unknown'}" for c in nodes) or "no Redis node"
        raise ExperimentError(f"{field}.service: no {selector.service} ({roles})")
    if not by_role and selector.service == ROLE_SENTINEL:
        raise ExperimentError(
            f"{field}.service: no sentinel in this stack (Sentinels run in LAB_REDIS_TOPOLOGY=ha only)"
        )
    if not by_role:
        known = sorted(set(ROLES) | {c.service for c in pool})
        raise ExperimentError(
            f"{field}.service: {selector.service!r} is neither a role nor a compose service "
            f"(choose from {', '.join(known)})"
        )
    chosen = by_role
    if selector.names:
        names = {c.service for c in by_role}
        unknown = [n for n in selector.names if n not in names]
        if unknown:
            raise ExperimentError(
                f"{field}.names: {', '.join(unknown)} not among {selector.service} services "
                f"({', '.join(sorted(names))})"
            )
        chosen = [c for c in by_role if c.service in selector.names]
    if selector.zone is not None:
        zones = sorted({c.zone for c in by_role if c.zone})
        zone = selector.zone
        if zone == ZONE_OF_PRIMARY:
            found = primary_zone(pool)
            if found is None:
                raise ExperimentError(f"{field}.zone: the Redis primary's zone is not known")
            zone = found
        chosen = [c for c in chosen if c.zone == zone]
        if not chosen:
            raise ExperimentError(
                f"{field}.zone: no {selector.service} service in zone {zone!r} "
                f"(zones: {', '.join(zones) or 'none'})"
            )
    chosen = sorted(chosen, key=lambda c: c.service)
    if selector.count == "all":
        return Selection(key, tuple(c.service for c in chosen), None)
    if selector.count > len(chosen):
        raise ExperimentError(
            f"{field}.count: {selector.count} requested but only {len(chosen)} candidate(s) "
            f"({', '.join(c.service for c in chosen)})"
        )
    if selector.count == len(chosen):
        return Selection(key, tuple(c.service for c in chosen), None)
    seed = selector.seed if selector.seed is not None else rng_seed
    if seed is None:
        seed = random.SystemRandom().randrange(1, 2**31)
    picked = random.Random(seed).sample(chosen, selector.count)
    return Selection(key, tuple(sorted(c.service for c in picked)), seed)


def select_all(
    selectors: Mapping[str, TargetSelector], candidates: Iterable[Candidate], rng_seed: int | None = None
) -> dict[str, Selection]:
    pool = list(candidates)
    return {key: select(key, sel, pool, rng_seed) for key, sel in selectors.items()}
