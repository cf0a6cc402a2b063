"""The one duration parser: command-line times (`--run-time 1m30s`) and compose durations
(`interval: 500ms`) are read the same way.

Units h, m, s, ms, us and ns, each optional, in that order, with decimals ("1.5m"); a bare number
is seconds. Every value Locust's own parser (locust.util.timespan.parse_timespan) reads gives the
same seconds here (tests/load/test_checks_unit.py); Locust's is not used because importing
anything from locust monkey-patches the process with gevent.
"""

from __future__ import annotations

import re

_NUMBER = r"(\d+(?:\.\d+)?)"
_DURATION = re.compile(
    rf"^(?:{_NUMBER}h)?(?:{_NUMBER}m(?!s))?(?:{_NUMBER}s)?(?:{_NUMBER}ms)?(?:{_NUMBER}us)?(?:{_NUMBER}ns)?$"
)
_UNIT_SECONDS = (3600.0, 60.0, 1.0, 1e-3, 1e-6, 1e-9)


def seconds(text: str | float) -> float:
    """'30s', '2m', '1m30s', '1h', '500ms', '45' (seconds), '1.5m' -> seconds; ValueError else."""
    if isinstance(text, int | float):
        return float(text)
    value = text.strip().lower()
    try:
        return float(value)
    except ValueError:
        pass
    match = _DURATION.match(value)
    if not value or match is None or not any(match.groups()):
        raise ValueError(f"cannot read {text!r} as a duration (use e.g. 30s, 2m, 1m30s)")
    return sum(float(g) * unit for g, unit in zip(match.groups(), _UNIT_SECONDS, strict=True) if g)
