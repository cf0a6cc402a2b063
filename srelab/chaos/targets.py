"""Target selection: a selector (role or service, names, zone, count, seed) -> compose services.

Pure functions over a list of candidates; `compose_candidates()` reads them from the compose model
(web replicas by their srelab.role/srelab.zone labels, Redis, the proxy). A random pick without a
seed draws one, and the seed is recorded so the run can be replayed.
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from srelab.chaos.model import ROLE_PROXY, ROLE_REDIS, ROLE_WEB, ExperimentError, TargetSelector

PROXY_SERVICE = "traefik"
REDIS_SERVICE = "redis"


@dataclass(frozen=True)
class Candidate:
    service: str  # compose service name
    role: str  # web | redis | proxy | other
    zone: str | None = None


@dataclass(frozen=True)
class Selection:
    name: str  # selector key in the experiment
    services: tuple[str, ...]
    seed: int | None  # the seed used for a random pick (None when nothing was drawn)


def compose_candidates() -> list[Candidate]:
    """Every service of the core compose file, with its role and zone."""
    from srelab.compose_model import services, web_services, zone_of

    web = set(web_services())
    found = []
    for name in sorted(services(())):
        if name in web:
            found.append(Candidate(name, ROLE_WEB, zone_of(name)))
        elif name == REDIS_SERVICE:
            found.append(Candidate(name, ROLE_REDIS))
        elif name == PROXY_SERVICE:
            found.append(Candidate(name, ROLE_PROXY))
        else:
            found.append(Candidate(name, "other"))
    return found


def select(
    key: str, selector: TargetSelector, candidates: Iterable[Candidate], rng_seed: int | None = None
) -> Selection:
    """The services `selector` picks; ExperimentError naming `targets.<key>.<field>` when it cannot.

    rng_seed is used for a random pick when the selector has no seed of its own.
    """
    pool = list(candidates)
    field = f"targets.{key}"
    by_role = [c for c in pool if c.role == selector.service]
    if not by_role:
        by_role = [c for c in pool if c.service == selector.service]
    if not by_role:
        known = sorted({ROLE_WEB, ROLE_REDIS, ROLE_PROXY} | {c.service for c in pool})
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
        chosen = [c for c in chosen if c.zone == selector.zone]
        if not chosen:
            raise ExperimentError(
                f"{field}.zone: no {selector.service} service in zone {selector.zone!r} "
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
