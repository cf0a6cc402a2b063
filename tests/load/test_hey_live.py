"""A short real hey through the live proxy (the session's `lab`): GET and keyless POST summaries.

Needs hey (apt-get install -y hey): skipped without it, failed under LAB_REQUIRE_DOCKER=1, like
the stack itself. Each run is a few hundred requests, a few seconds.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from srelab.chaos.audit import audit_keyless
from srelab.load import EP_LIST, EP_POST, LoadSpec
from srelab.load.hey import HeyOptions, run_hey
from tests.lab import Lab
from tests.load.heytools import require_hey

pytestmark = [pytest.mark.live, pytest.mark.timeout(180)]


@pytest.fixture(scope="session", autouse=True)
def _hey_installed() -> None:
    """Checked before the session's stack comes up: no point starting it for a missing binary."""
    require_hey()


def test_hey_get_through_the_proxy(lab: Lab, tmp_path: Path) -> None:
    spec = LoadSpec(scenario="hey-get", users=5, requests=300, duration_s=60, host=lab.proxy_url)
    result = run_hey(spec, tmp_path)
    assert result.tool == "hey" and result.stop_reason == "requests" and result.valid
    assert result.requests == 300 and result.failed == 0, result.failures
    assert result.hey is not None and result.hey.status_codes == {"200": 300} and result.hey.unanswered == 0
    assert sum(b.requests for b in result.timeline) == 300 == result.endpoints[EP_LIST].requests
    assert result.served_by == {} and result.latency.p95_ms is not None
    assert result.duration_s < 30


def test_hey_keyless_post_is_stored_once_per_answer(lab: Lab, tmp_path: Path) -> None:
    name = f"hey-live-{time.time_ns()}"
    spec = LoadSpec(scenario="hey-post", users=5, requests=200, duration_s=60, host=lab.proxy_url)
    started = time.time()
    result = run_hey(spec, tmp_path, options=HeyOptions(item_name=name))
    assert result.requests == 200 and result.failed == 0, result.failures
    assert result.hey is not None and result.hey.acknowledged == 200
    assert result.hey.status_codes == {"201": 200}
    assert result.endpoints[EP_POST].successes == 200
    hey = result.hey
    audit = audit_keyless(name, lab.proxy_url, started, sent=hey.planned, answered=200, acknowledged=200)
    k = audit.keyless
    assert k is not None and k.error is None and k.list_complete
    assert (k.stored, k.duplicates, k.lost) == (200, 0, 0)
