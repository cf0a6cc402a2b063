"""The items pods' probes: liveness from the web services' srelab.liveness.* labels (or a compose
healthcheck, which they override), readiness and the startup cadence from Traefik's healthcheck
labels, the liveness timing from params."""

from __future__ import annotations

import copy
import re

import pytest

from srelab.errors import LabError
from srelab.export.model import LIVENESS_PATH_LABEL, LIVENESS_START_LABEL, duration_seconds
from srelab.export.render import render
from tests.export.helpers import fixture_inputs, with_services

# The check compose ran on the replicas before the liveness labels replaced it.
OLD_HEALTHCHECK = {
    "test": [
        "CMD",
        "python3",
        "-c",
        "import urllib.request as u; u.urlopen('http://127.0.0.1:8000/healthz')",
    ],
    "interval": "1s",
    "timeout": "2s",
    "retries": 3,
    "start_period": "10s",
}


def webs(services):
    return {n: s for n, s in services.items() if (s.get("labels") or {}).get("srelab.role") == "web"}


def items_container(rendered, name="items-write-a"):
    obj = next(o for _, o in rendered.objects if o["kind"] == "Deployment" and o["metadata"]["name"] == name)
    return obj["spec"]["template"]["spec"]["containers"][0]


def changed(edit) -> object:
    """The frozen model with `edit(service)` applied to every web replica."""
    inputs = fixture_inputs()
    services = copy.deepcopy(inputs.services)
    for svc in webs(services).values():
        edit(svc)
    return with_services(inputs, services)


def traefik_check(services) -> tuple[str, float, float]:
    labels = next(iter(webs(services).values()))["labels"]
    value = {k.rsplit(".", 1)[-1]: v for k, v in labels.items() if ".loadbalancer.healthcheck." in k}
    return value["path"], duration_seconds(value["interval"]), duration_seconds(value["timeout"])


@pytest.mark.parametrize("which", ["fixture", "live"])
def test_liveness_from_labels_startup_at_traefiks_cadence(request, params, which):
    rendered = request.getfixturevalue(f"{which}_render")
    services = (fixture_inputs() if which == "fixture" else request.getfixturevalue("live_inputs")).services
    first = next(iter(webs(services).values()))
    assert "healthcheck" not in first or not first["healthcheck"], "compose has a web healthcheck again"
    live_path = first["labels"][LIVENESS_PATH_LABEL]
    start = duration_seconds(first["labels"][LIVENESS_START_LABEL])
    ready_path, every, timeout = traefik_check(services)
    c = items_container(rendered)
    assert c["readinessProbe"]["httpGet"]["path"] == ready_path != live_path
    assert c["readinessProbe"]["periodSeconds"] == every and c["readinessProbe"]["timeoutSeconds"] == timeout
    startup = c["startupProbe"]
    assert startup["httpGet"]["path"] == live_path
    assert (startup["periodSeconds"], startup["timeoutSeconds"]) == (every, timeout)
    # The start period is the startup probe's whole budget.
    assert startup["periodSeconds"] * startup["failureThreshold"] == start
    liveness = c["livenessProbe"]
    assert liveness["httpGet"]["path"] == live_path
    assert liveness["periodSeconds"] == params.liveness.period_seconds
    assert liveness["timeoutSeconds"] == params.liveness.timeout_seconds
    assert liveness["failureThreshold"] == params.liveness.failure_threshold


def test_conversion_notes_say_where_each_timing_comes_from(fixture_render, params):
    rows = {r.key: r for r in fixture_render.rows if r.service.startswith("web-a")}
    path_row = rows[f"labels.{LIVENESS_PATH_LABEL}"]
    assert "livenessProbe" in path_row.kubernetes and "params liveness" in path_row.kubernetes
    assert f"every {params.liveness.period_seconds} s" in path_row.kubernetes
    start_row = rows[f"labels.{LIVENESS_START_LABEL}"]
    assert (
        "startupProbe 30 x 1 s" in start_row.kubernetes
        and "Traefik's healthcheck labels" in start_row.kubernetes
    )
    assert start_row.status == path_row.status == "mapped"


def test_labels_win_over_a_healthcheck(params):
    rendered = render(changed(lambda svc: svc.update(healthcheck=copy.deepcopy(OLD_HEALTHCHECK))), params)
    c = items_container(rendered)
    assert c["livenessProbe"]["httpGet"]["path"] == "/livez"
    assert c["startupProbe"]["httpGet"]["path"] == "/livez"
    assert c["startupProbe"]["failureThreshold"] == 30  # the label's 30 s, not start_period 10 s
    (row,) = [r for r in rendered.rows if r.service.startswith("web-a") and r.key == "healthcheck"]
    assert "labels srelab.liveness.* say otherwise (they win)" in row.kubernetes


def test_a_healthcheck_alone_still_gives_liveness(params):
    def old_style(svc):
        svc["healthcheck"] = copy.deepcopy(OLD_HEALTHCHECK)
        for label in (LIVENESS_PATH_LABEL, LIVENESS_START_LABEL):
            svc["labels"].pop(label)

    rendered = render(changed(old_style), params)
    c = items_container(rendered)
    assert c["livenessProbe"]["httpGet"]["path"] == c["startupProbe"]["httpGet"]["path"] == "/healthz"
    assert c["startupProbe"]["failureThreshold"] == 10  # start_period 10 s at Traefik's 1 s
    assert c["livenessProbe"]["timeoutSeconds"] == params.liveness.timeout_seconds  # not the 2 s of Docker
    (row,) = [r for r in rendered.rows if r.service.startswith("web-a") and r.key == "healthcheck"]
    assert (
        row.status == "mapped"
        and "livenessProbe every" in row.kubernetes
        and "startupProbe 10 x" in row.kubernetes
    )


def test_no_liveness_path_is_an_error_naming_service_and_label(params):
    with pytest.raises(
        LabError, match=rf"^web-a: no liveness path: set the label {re.escape(LIVENESS_PATH_LABEL)}"
    ):
        render(changed(lambda svc: svc["labels"].pop(LIVENESS_PATH_LABEL)), params)


@pytest.mark.parametrize(
    ("label", "value", "message"),
    [
        (
            LIVENESS_PATH_LABEL,
            "/readyz",
            r"web-a: liveness \(/readyz\) must differ from readiness \(/readyz\)",
        ),
        (
            LIVENESS_PATH_LABEL,
            "livez",
            rf"web-a: label {re.escape(LIVENESS_PATH_LABEL)}='livez' is not an HTTP path",
        ),
        (
            LIVENESS_START_LABEL,
            "thirty",
            rf"web-a: label {re.escape(LIVENESS_START_LABEL)}='thirty' is not a duration",
        ),
    ],
)
def test_bad_liveness_labels_are_refused(params, label, value, message):
    with pytest.raises(LabError, match=message):
        render(changed(lambda svc: svc["labels"].update({label: value})), params)


def test_without_a_start_period_the_startup_probe_allows_three_failures(params):
    rendered = render(changed(lambda svc: svc["labels"].pop(LIVENESS_START_LABEL)), params)
    assert items_container(rendered)["startupProbe"]["failureThreshold"] == 3
