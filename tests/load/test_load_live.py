"""A short Locust run through the live proxy: every replica serves, the write log reads back."""

from __future__ import annotations

from pathlib import Path

import pytest
import requests

from srelab.load import EP_POST, LoadSpec, run_load
from tests.lab import Lab

pytestmark = [pytest.mark.live, pytest.mark.timeout(180)]


def test_load_through_the_proxy_reaches_every_replica(lab: Lab, tmp_path: Path) -> None:
    from srelab.stack.compose_model import web_services
    from srelab.stack.settings import get_settings

    replicas = set(web_services(get_settings()))
    assert len(replicas) == 3
    spec = LoadSpec(scenario="mixed", users=6, spawn_rate=6, duration_s=6, reader_weight=2, writer_weight=1)
    result = run_load(spec.model_copy(update={"host": lab.proxy_url}), tmp_path, html=False)

    assert result.requests > 30
    assert result.failed == 0, result.failures
    assert set(result.served_by) == replicas  # round-robin over the three replicas
    assert min(result.served_by.values()) > 0
    assert sum(b.requests for b in result.timeline) == result.requests
    acked = result.acknowledged_writes()
    assert len(acked) == result.endpoints[EP_POST].successes > 0
    with requests.Session() as session:
        for w in acked[:50]:
            assert session.get(f"{lab.proxy_url}/items/{w.id}", timeout=5).status_code == 200
