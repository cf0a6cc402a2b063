"""Grafana provisioning and dashboards: valid, unique, wired to provisioned datasources, and every
query written against what the stack really exports (metrics) or labels (Loki)."""

from __future__ import annotations

import json
import re
from functools import cache
from pathlib import Path
from typing import Any

import pytest

from tests.observability._obs import (
    CONFIG,
    DASHBOARDS,
    GRAFANA_DIR,
    compose_model,
    contract_loki_labels,
    contract_metrics,
    exporter_metrics,
    load_yaml,
    recording_rule_names,
    request_log_fields,
)
from tests.observability.test_prometheus_config import metric_names

BUILTIN_GRAFANA_DS = "-- Grafana --"
# Prometheus' own series and the synthetic ones it writes (alerts, scrape metadata).
PROMETHEUS_OWN = re.compile(r"(up|ALERTS|ALERTS_FOR_STATE|scrape_\w+|prometheus_\w+|go_\w+|process_\w+)")
GRAFANA_TIME_VARS = re.compile(r"\$__(rate_interval|interval|range|auto)\b")
TEMPLATE_VAR = re.compile(r"\$\{[^}]+\}|\$\w+")
# Loki stream labels of lines not shipped by Promtail: the chaos runner's (srelab/chaos/annotate.py).
CHAOS_RUNNER_LABELS = {"service", "experiment", "event", "severity", "logger"}


def dashboards() -> dict[Path, dict[str, Any]]:
    return {path: json.loads(path.read_text()) for path in DASHBOARDS}


def provisioned_datasources() -> dict[str, dict[str, Any]]:
    config = load_yaml(GRAFANA_DIR / "provisioning" / "datasources" / "datasources.yaml")
    return {ds["uid"]: ds for ds in config["datasources"]}


def panels(dashboard: dict[str, Any]) -> list[dict[str, Any]]:
    out = []
    for panel in dashboard["panels"]:
        out.append(panel)
        out.extend(panel.get("panels", []))  # collapsed rows
    return out


def targets(ds_type: str) -> list[tuple[str, str, dict[str, Any]]]:
    """(dashboard file, panel title, target) for every query of a datasource type."""
    found = []
    for path, dash in dashboards().items():
        for panel in panels(dash):
            for target in panel.get("targets", []):
                ds = target.get("datasource") or panel.get("datasource") or {}
                if ds.get("type") == ds_type:
                    found.append((path.name, panel.get("title", ""), target))
    return found


def substitute(expr: str) -> str:
    """Grafana variables replaced by values a query could get (time ranges, `All` regexes)."""
    return TEMPLATE_VAR.sub(".*", GRAFANA_TIME_VARS.sub("1m", expr))


@cache
def allowed_metrics() -> frozenset[str]:
    contract = set()
    for name in contract_metrics():
        contract.add(name)
        if name.endswith("_seconds"):
            contract |= {f"{name}_bucket", f"{name}_sum", f"{name}_count"}
    return frozenset(contract | recording_rule_names())


def is_allowed_metric(name: str) -> bool:
    return name in allowed_metrics() or name in exporter_metrics() or bool(PROMETHEUS_OWN.fullmatch(name))


def promtail_labels() -> set[str]:
    config = load_yaml(CONFIG / "promtail" / "promtail.yaml")
    (job,) = config["scrape_configs"]
    labels = {r["target_label"] for r in job["relabel_configs"] if "target_label" in r}
    for stage in job["pipeline_stages"]:
        if "labels" in stage:
            labels |= set(stage["labels"])
    return labels


# --- provisioning -----------------------------------------------------------------------------


def test_datasources_have_fixed_uids_and_point_at_compose_services() -> None:
    datasources = provisioned_datasources()
    assert {ds["type"]: uid for uid, ds in datasources.items()} == {
        "prometheus": "prometheus",
        "loki": "loki",
        "elasticsearch": "elasticsearch",
    }
    services = compose_model(("monitoring", "elk"))["services"]
    for ds in datasources.values():
        host = re.match(r"http://([\w-]+):\d+$", ds["url"])
        assert host and host.group(1) in services, ds["url"]
        # Grafana reaches it on a shared network.
        assert set(services["grafana"]["networks"]) & set(services[host.group(1)]["networks"]), ds["name"]
    assert sum(bool(ds.get("isDefault")) for ds in datasources.values()) == 1


def test_elasticsearch_datasource_uses_the_read_only_user_with_a_password_from_env() -> None:
    es = provisioned_datasources()["elasticsearch"]
    assert es["basicAuth"] is True and es["basicAuthUser"] == "grafana_reader"
    assert es["secureJsonData"]["basicAuthPassword"] == "${GRAFANA_ELASTIC_PASSWORD}"
    grafana_env = compose_model(("monitoring",))["services"]["grafana"]["environment"]
    assert "GRAFANA_ELASTIC_PASSWORD" in grafana_env
    setup = (CONFIG / "elasticsearch" / "setup" / "setup.sh").read_text()
    assert "[grafana_reader]=srelab_logs_reader" in setup
    # The index pattern it reads is the one Logstash writes.
    pipeline = (CONFIG / "logstash" / "pipeline" / "srelab.conf").read_text()
    prefix = es["jsonData"]["index"].rstrip("*")
    assert f'index => "{prefix}' in pipeline


def test_grafana_admin_password_is_required_and_anonymous_access_is_off() -> None:
    env = compose_model(("monitoring",))["services"]["grafana"]["environment"]
    assert env["GF_AUTH_ANONYMOUS_ENABLED"] == "false"
    assert env["GF_USERS_ALLOW_SIGN_UP"] == "false"
    raw = load_yaml(GRAFANA_DIR.parent / "compose" / "monitoring.yaml")["services"]["grafana"]["environment"]
    assert raw["GF_SECURITY_ADMIN_PASSWORD"].startswith("${GRAFANA_ADMIN_PASSWORD:?"), "must never default"
    template = (GRAFANA_DIR.parent / "compose" / ".env.example").read_text()
    assert re.search(r"^GRAFANA_ADMIN_PASSWORD=$", template, re.M), "left empty so it is generated at random"


def test_dashboard_provider_reads_the_mounted_dashboards() -> None:
    provider = load_yaml(GRAFANA_DIR / "provisioning" / "dashboards" / "srelab.yaml")["providers"][0]
    grafana = compose_model(("monitoring",))["services"]["grafana"]
    mounts = {v["target"]: v for v in grafana["volumes"]}
    path = provider["options"]["path"]
    assert path in mounts and mounts[path]["read_only"] is True
    assert Path(mounts[path]["source"]).resolve() == (GRAFANA_DIR / "dashboards").resolve()
    home = grafana["environment"]["GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH"]
    assert (GRAFANA_DIR / "dashboards" / Path(home).name).exists() and home.startswith(path)


# --- dashboards -------------------------------------------------------------------------------


def test_dashboards_are_valid_json_with_unique_uids_and_titles() -> None:
    found = dashboards()
    assert {p.stem for p in found} >= {"items", "logs", "traefik", "redis", "chaos"}
    uids = [d["uid"] for d in found.values()]
    titles = [d["title"] for d in found.values()]
    assert len(set(uids)) == len(uids), uids
    assert len(set(titles)) == len(titles), titles
    for path, dash in found.items():
        assert re.fullmatch(r"[a-z0-9-]{1,40}", dash["uid"]), path
        assert "id" not in dash or dash["id"] is None, f"{path}: instance-specific id"
        ids = [p["id"] for p in panels(dash)]
        assert len(set(ids)) == len(ids), f"{path}: duplicate panel ids"


def test_dashboards_refer_only_to_provisioned_datasources() -> None:
    known = set(provisioned_datasources())
    types = {uid: ds["type"] for uid, ds in provisioned_datasources().items()}

    def check(ref: Any, where: str) -> None:
        if isinstance(ref, dict) and "uid" in ref:
            if ref["uid"] == BUILTIN_GRAFANA_DS:
                return
            assert ref["uid"] in known, f"{where}: unknown datasource uid {ref['uid']!r}"
            assert ref.get("type") == types[ref["uid"]], f"{where}: type/uid mismatch {ref}"
        elif ref is not None:
            pytest.fail(f"{where}: datasource must be a {{type, uid}} reference, got {ref!r}")

    for path, dash in dashboards().items():
        for panel in panels(dash):
            if panel["type"] == "row":
                continue
            check(panel.get("datasource"), f"{path.name}/{panel['title']}")
            for target in panel.get("targets", []):
                check(target.get("datasource"), f"{path.name}/{panel['title']}")
        for var in dash["templating"]["list"]:
            check(var.get("datasource"), f"{path.name}/${var['name']}")
        for ann in dash["annotations"]["list"]:
            check(ann.get("datasource"), f"{path.name}/annotation {ann['name']}")


def test_every_promql_expression_parses_and_names_only_exported_metrics() -> None:
    import promql_parser

    found = targets("prometheus")
    assert len(found) > 40
    for dash, title, target in found:
        expr = substitute(target["expr"])
        try:
            ast = promql_parser.parse(expr)
        except Exception as exc:  # the parser raises ValueError-like errors
            pytest.fail(f"{dash}/{title}: {target['expr']!r} does not parse: {exc}")
        unknown = {n for n in metric_names(ast) if not is_allowed_metric(n)}
        assert not unknown, f"{dash}/{title}: metrics the stack does not export: {unknown}"


def test_prometheus_template_variables_use_exported_metrics() -> None:
    for path, dash in dashboards().items():
        for var in dash["templating"]["list"]:
            if var["datasource"]["type"] != "prometheus":
                continue
            match = re.fullmatch(r"label_values\((\w+), (\w+)\)", var["query"]["query"])
            assert match, f"{path.name}: ${var['name']} query {var['query']}"
            assert is_allowed_metric(match.group(1)), f"{path.name}: ${var['name']}"


def test_metric_allow_list_rejects_unknown_names() -> None:
    """The check above can fail: a misspelt or invented metric is not allowed."""
    assert not is_allowed_metric("items_http_request_total")  # missing s
    assert not is_allowed_metric("http_requests_total")
    assert not is_allowed_metric("redis_conected_clients")  # exporters' names are listed, not prefixed
    assert is_allowed_metric("redis_connected_clients") and is_allowed_metric("traefik_open_connections")
    assert is_allowed_metric("items_http_request_duration_seconds_bucket")
    assert is_allowed_metric("route:items_http_error_ratio:rate1m")


def test_promtail_sets_exactly_the_contract_loki_labels() -> None:
    assert promtail_labels() == contract_loki_labels() == {"service", "replica", "zone", "level"}


def test_logql_uses_only_labels_promtail_sets() -> None:
    stream_labels = promtail_labels()
    extracted = request_log_fields()  # after `| json`
    found = targets("loki")
    assert len(found) >= 5
    for dash, title, target in found:
        expr = target["expr"]
        selectors = re.findall(r"(?<!\{)\{(?!\{)([^{}]*)\}(?!\})", expr)
        assert selectors, f"{dash}/{title}: no stream selector in {expr!r}"
        for selector in selectors:
            names = set(re.findall(r'(\w+)\s*(?:=~|!~|!=|=)\s*"', selector))
            allowed = CHAOS_RUNNER_LABELS if 'service="srelab-chaos"' in selector else stream_labels
            assert names and names <= allowed, f"{dash}/{title}: stream labels {names - allowed}"
        for group in re.findall(r"\bby\s*\(([^)]*)\)", expr):
            names = {n.strip() for n in group.split(",")}
            assert names <= stream_labels | extracted, f"{dash}/{title}: by ({group})"
        # Request fields exist only once the JSON line is parsed.
        for field in ("status", "request_id", "duration_ms"):
            if re.search(rf"\|\s*[^|]*\b{field}\b", expr):
                assert "| json" in expr, f"{dash}/{title}: {field} used without | json"
        assert expr.count("(") == expr.count(")"), f"{dash}/{title}: unbalanced parentheses"


def test_loki_template_variables_are_promtail_labels() -> None:
    for path, dash in dashboards().items():
        for var in dash["templating"]["list"]:
            if var["datasource"]["type"] == "loki":
                assert var["query"]["label"] in promtail_labels(), f"{path.name}: ${var['name']}"


def test_request_dashboard_covers_route_method_replica_zone() -> None:
    items = json.loads((GRAFANA_DIR / "dashboards" / "items.json").read_text())
    variables = {v["name"] for v in items["templating"]["list"]}
    assert variables == {"replica", "zone", "route", "method"}
    exprs = " ".join(t["expr"] for p in panels(items) for t in p.get("targets", []))
    for dimension in ("route", "method", "replica", "zone"):
        assert f"by (le, {dimension})" in exprs, f"no latency by {dimension}"
        assert re.search(rf"sum by \([^)]*\b{dimension}\b[^)]*\) \(rate\(items_http_requests_total", exprs)


def test_chaos_dashboard_shows_load_errors_and_fault_annotations() -> None:
    chaos = json.loads((GRAFANA_DIR / "dashboards" / "chaos.json").read_text())
    (annotation,) = [a for a in chaos["annotations"]["list"] if not a.get("builtIn")]
    assert annotation["datasource"]["uid"] == BUILTIN_GRAFANA_DS  # Grafana's own annotations API
    assert annotation["target"]["type"] == "tags" and "chaos" in annotation["target"]["tags"]
    assert annotation["enable"] is True
    exprs = [t["expr"] for p in panels(chaos) for t in p.get("targets", [])]
    assert any("rate(items_http_requests_total" in e and "status" not in e for e in exprs), "no load panel"
    assert any('status=~"5.."' in e for e in exprs), "no error panel"
    assert any("srelab-chaos" in e for e in exprs), "no chaos runner log panel"
    # The chaos runner tags its annotations `chaos` and pushes service=srelab-chaos to Loki.
    annotate = (GRAFANA_DIR.parent / "srelab" / "chaos" / "annotate.py").read_text()
    assert '"chaos"' in annotate and '"service": "srelab-chaos"' in annotate
    # Every dashboard shows the same fault markers.
    for path, dash in dashboards().items():
        tags = [a.get("target", {}).get("tags") for a in dash["annotations"]["list"]]
        assert ["chaos"] in tags, f"{path.name}: no chaos annotations"


# Core panel plugin ids of the pinned Grafana (GRAFANA_IMAGE grafana/grafana:12.2.1): the plugin.json
# `id` of each folder under public/app/plugins/panel/ of grafana/grafana (state-timeline: core since
# 8.0; its options showValue, rowHeight, mergeValues, alignValue, legend, tooltip are those of
# state-timeline/panelcfg.cue). A third-party or misspelt type renders as "panel plugin not found".
GRAFANA_CORE_PANELS = {
    "row", "timeseries", "stat", "gauge", "bargauge", "barchart", "table", "text", "logs", "heatmap",
    "histogram", "piechart", "state-timeline", "status-history", "news", "dashlist", "alertlist",
    "annolist", "nodeGraph", "traces", "flamegraph", "geomap", "canvas", "xychart", "trend",
    "candlestick", "datagrid", "welcome", "gettingstarted", "live", "debug",
}  # fmt: skip
STATE_TIMELINE_OPTIONS = {
    "showValue",
    "rowHeight",
    "mergeValues",
    "alignValue",
    "legend",
    "tooltip",
    "perPage",
}


def test_dashboards_use_only_core_panel_types() -> None:
    for path, dash in dashboards().items():
        for panel in panels(dash):
            assert panel["type"] in GRAFANA_CORE_PANELS, f"{path.name}/{panel.get('title')}: {panel['type']}"
            if panel["type"] == "state-timeline":
                unknown = set(panel.get("options") or {}) - STATE_TIMELINE_OPTIONS
                assert not unknown, f"{path.name}/{panel['title']}: state-timeline options {unknown}"


def test_alert_and_slo_series_are_allowed_and_invented_ones_are_not() -> None:
    assert is_allowed_metric("ALERTS")
    slo = {n for n in recording_rule_names() if n.startswith("slo:")}
    assert {"slo:items_errors:ratio_rate1m", "slo:items_availability:objective"} <= slo
    assert all(is_allowed_metric(n) for n in slo)
    assert not is_allowed_metric("slo:items_errors:ratio_rate5m")


def test_chaos_dashboard_shows_alert_state_and_slo_burn_beside_the_faults() -> None:
    chaos = json.loads((GRAFANA_DIR / "dashboards" / "chaos.json").read_text())
    timelines = [p for p in panels(chaos) if p["type"] == "state-timeline"]
    (timeline,) = timelines
    (target,) = timeline["targets"]
    assert 'ALERTS{alertstate="firing"}' in target["expr"] and "by (alertname)" in target["expr"]
    assert target["legendFormat"] == "{{alertname}}"
    # The fault annotations are dashboard-wide, so they are drawn on this panel too.
    assert any(a.get("target", {}).get("tags") == ["chaos"] for a in chaos["annotations"]["list"])
    burn = next(p for p in panels(chaos) if "burn" in p["title"].lower())
    exprs = [t["expr"] for t in burn["targets"]]
    used = {n for e in exprs for n in re.findall(r"slo:[\w:]+", e)}
    assert used <= recording_rule_names() and any("objective" in n for n in used)
    # The panel's thresholds are the burn-rate multipliers the alerts use.
    alerts = (CONFIG / "prometheus" / "rules" / "alerts.yml").read_text()
    multipliers = {float(m) for m in re.findall(r">\s*([0-9.]+)\s*\*\s*\(1 - slo:", alerts)}
    steps = {
        s["value"] for s in burn["fieldConfig"]["defaults"]["thresholds"]["steps"] if s["value"] is not None
    }
    assert multipliers and steps == multipliers
