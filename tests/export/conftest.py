"""Fixtures for the Kubernetes export tests (offline: no cluster, no registry, no Docker engine).

`fixture_render` renders the frozen compose model in fixtures/compose.json (what the golden
snapshot covers); `live_render` renders the repository's compose files as they are now.
"""

from __future__ import annotations

import copy
from typing import Any

import pytest

from srelab.export.inputs import DASHBOARDS_DIR, Inputs, load_inputs
from srelab.export.params import DEFAULT_PARAMS, Params, load_params
from srelab.export.render import Rendered, render
from tests.export.helpers import fixture_inputs


@pytest.fixture(scope="session")
def params() -> Params:
    return load_params(DEFAULT_PARAMS)


@pytest.fixture(scope="session")
def fixture_render(params: Params) -> Rendered:
    return render(fixture_inputs(), params)


@pytest.fixture(scope="session")
def single_render(params: Params) -> Rendered:
    """The frozen model of LAB_REDIS_TOPOLOGY=single: one Redis node, no Sentinel."""
    return render(fixture_inputs(model="compose-single.json"), params)


@pytest.fixture(scope="session")
def live_inputs() -> Inputs:
    return load_inputs(DASHBOARDS_DIR)


@pytest.fixture(scope="session")
def live_render(live_inputs: Inputs, params: Params) -> Rendered:
    return render(live_inputs, params)


@pytest.fixture(params=["fixture", "live"])
def rendered(request: pytest.FixtureRequest) -> Rendered:
    """Both renders: every structural test runs on the frozen and on the current compose model."""
    return request.getfixturevalue(f"{request.param}_render")


@pytest.fixture
def objects(rendered: Rendered) -> list[dict[str, Any]]:
    """A deep copy, so a test may break one object without touching the shared render."""
    return copy.deepcopy([obj for _, obj in rendered.objects])
