"""srelab.durations: the one parser of command-line times and compose durations."""

from __future__ import annotations

import pytest

from srelab.durations import seconds


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("30s", 30.0),
        ("2m", 120.0),
        ("1m30s", 90.0),
        ("1h", 3600.0),
        ("45", 45.0),
        ("1.5m", 90.0),
        (" 20S ", 20.0),
        ("500ms", 0.5),
        ("1s500ms", 1.5),
        ("2h1m3s", 7263.0),
        ("250us", 0.00025),
        (7, 7.0),
        (0.25, 0.25),
    ],
)
def test_durations_in_seconds(text: str | float, expected: float) -> None:
    assert seconds(text) == pytest.approx(expected)


@pytest.mark.parametrize("text", ["", "abc", "1x", "s", "m", "1s2m", "-5s", "1m 30s"])
def test_a_bad_duration_is_a_value_error_naming_it(text: str) -> None:
    with pytest.raises(ValueError, match="cannot read"):
        seconds(text)
