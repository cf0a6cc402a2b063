"""Chaos load sized from the last bench (srelab/chaos/capacity.py): plain inputs, no stack."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from srelab.chaos.capacity import capacity_for, latest_bench, size_load
from srelab.chaos.model import ExperimentError, parse_experiment
from srelab.load import LoadSpec, Scenario


def _bench(folder: Path, name: str, get: float, post: float, *, post_valid: bool = True) -> Path:
    path = folder / name / "bench.json"
    path.parent.mkdir(parents=True)
    rows = [
        {"id": "get_proxy", "rps": get, "valid": None},
        {"id": "post_proxy", "rps": post, "valid": None if post_valid else False},
        {"id": "get_direct", "rps": 5 * get},
    ]
    path.write_text(json.dumps({"rows": rows}))
    return path


def test_capacity_of_a_mix_is_the_weighted_harmonic_mean() -> None:
    rps = {"get_proxy": 1000.0, "post_proxy": 500.0}
    mixed = LoadSpec(scenario=Scenario.MIXED, reader_weight=3, writer_weight=1)
    # A second of 3:1 load spends 0.75/1000 + 0.25/500 s per request: 800 req/s.
    assert capacity_for(mixed, rps) == pytest.approx(800.0)
    assert capacity_for(LoadSpec(scenario=Scenario.LIST), rps) == 1000.0
    assert capacity_for(LoadSpec(scenario=Scenario.WRITE), rps) == 500.0
    assert capacity_for(mixed, {"get_proxy": 1000.0}) is None


def test_size_load_uses_the_newest_bench(tmp_path: Path) -> None:
    _bench(tmp_path, "bench-20261201-100000", 400, 400)
    newest = _bench(tmp_path, "bench-20261201-120000", 1000, 500)
    assert latest_bench(tmp_path) == newest
    spec = LoadSpec(scenario=Scenario.MIXED, users=40, reader_weight=3, writer_weight=1)
    sizing = size_load(spec, 0.7, 600, tmp_path)
    assert sizing.spec.target_rps == 560.0 and sizing.capacity_rps == pytest.approx(800.0)
    assert sizing.source == str(newest) and "bench-20261201-120000" in sizing.note
    assert spec.target_rps is None  # the experiment's own spec is left alone


def test_size_load_falls_back_and_says_so(tmp_path: Path) -> None:
    spec = LoadSpec(scenario=Scenario.MIXED, users=40)
    sizing = size_load(spec, 0.7, 600, tmp_path)
    assert (sizing.source, sizing.spec.target_rps) == ("fallback", 420.0)
    assert "no usable bench result" in sizing.note
    _bench(tmp_path, "bench-x", 1000, 500, post_valid=False)  # an invalid row is not a capacity
    assert size_load(spec, 0.7, 600, tmp_path).source == "fallback"


def _experiment(**load: object) -> dict[str, object]:
    return {
        "name": "sized",
        "description": "x",
        "load": {"scenario": "mixed", "users": 40, "duration_s": 30, **load},
        "targets": {"victim": {"service": "web"}},
        "faults": [{"action": "kill", "target": "victim", "at": 10, "duration": 5}],
    }


def test_capacity_share_is_validated_in_the_experiment_file() -> None:
    exp = parse_experiment(_experiment(capacity_share=0.7, capacity_fallback_rps=600))
    assert (exp.load.capacity_share, exp.load.capacity_fallback_rps) == (0.7, 600)
    with pytest.raises(ExperimentError, match=r"load\.capacity_share"):
        parse_experiment(_experiment(capacity_share=1.5))
