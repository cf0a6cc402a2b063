"""Presets replaying the original challenge's `hey` runs, request-bounded: with Locust, or with the
real hey binary (`srelab load --tool hey`, srelab/load/hey.py); the same spec drives both."""

from __future__ import annotations

import math

from srelab.load.errors import LoadError
from srelab.load.types import LoadSpec, Scenario

# The original challenge's request counts (hey -n) and concurrency (hey -c).
HEY_GET_REQUESTS = 100_000
HEY_POST_REQUESTS = 10_000
HEY_CONCURRENCY = 10

PRESETS: dict[str, tuple[Scenario, int, str]] = {
    "hey-get": (Scenario.HEY_GET, HEY_GET_REQUESTS, "hey -n 100000 -c 10 GET /items"),
    "hey-post": (Scenario.HEY_POST, HEY_POST_REQUESTS, "hey -n 10000 -c 10 -m POST /items"),
}

# Load generators a preset can run with.
TOOLS: tuple[str, ...] = ("locust", "hey")

# Time bound of a preset run: generous (the request count normally ends it first).
PRESET_MAX_DURATION_S = 900.0


def preset_spec(name: str, scale: float = 10.0, **overrides: object) -> LoadSpec:
    """LoadSpec for preset `name`, request count divided by `scale` (concurrency stays 10)."""
    if name not in PRESETS:
        raise LoadError(f"unknown preset {name!r}: choose one of {', '.join(PRESETS)}")
    if not (1 <= scale <= 10_000):
        raise LoadError(f"--scale must be between 1 and 10000, got {scale:g}")
    scenario, requests, original = PRESETS[name]
    values: dict[str, object] = {
        "scenario": scenario,
        "users": HEY_CONCURRENCY,
        "spawn_rate": HEY_CONCURRENCY,  # all at once, like hey's workers
        "requests": max(1, math.ceil(requests / scale)),
        "duration_s": PRESET_MAX_DURATION_S,
        "wait_min_s": 0.0,
        "wait_max_s": 0.0,
        "label": f"preset {name}: {original} / {scale:g}",
    }
    values.update(overrides)
    return LoadSpec.model_validate(values)
