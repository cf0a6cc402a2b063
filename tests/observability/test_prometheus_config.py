"""Prometheus configuration, rules and their unit tests, checked offline with promtool."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.observability._obs import (
    PROM_DIR,
    alert_names,
    compose_model,
    contract_metrics,
    load_yaml,
    recording_rule_names,
)

RULE_FILES = sorted((PROM_DIR / "rules").glob("*.yml"))

# Series the rules read from other programs than the items service. Each is also looked up in
# the live Prometheus (tests/observability/test_prometheus_live.py), so a renamed series fails there.
EXPORTER_SERIES = {
    "up",  # Prometheus itself, per target
    # oliver006/redis_exporter v1.45, per node (exporter/exporter.go, exporter/info.go).
    "redis_up",
    "redis_instance_info",  # labels role (master | slave), redis_version, run_id, ...
    "redis_connected_slave_lag_seconds",  # on a primary, per replica: seconds since its last ACK
    "redis_master_link_up",  # on a replica
    "probe_success",  # blackbox_exporter: 1 when the probe passed
    # Traefik v3 (docs: observability/metrics/overview, "Entrypoint Metrics" and "Service Metrics").
    "traefik_entrypoint_requests_total",
    "traefik_entrypoint_request_duration_seconds_bucket",
    "traefik_entrypoint_request_duration_seconds_count",
    "traefik_service_server_up",
}
TEST_FILES = sorted((PROM_DIR / "tests").glob("*.yml"))


@pytest.fixture(scope="module")
def promtool() -> str:
    path = shutil.which("promtool")
    if path is None:
        pytest.fail("promtool not found: apt-get install prometheus (it ships promtool)", pytrace=False)
    return path


def run(cmd: list[str], cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=60, check=False)


def test_promtool_check_config_with_the_rule_files(promtool: str, tmp_path: Path) -> None:
    # rule_files point at the container path /etc/prometheus/rules; check a copy that points at
    # the repository's rules, so the rules are loaded and checked together with the config.
    config = load_yaml(PROM_DIR / "prometheus.yml")
    assert config["rule_files"] == ["/etc/prometheus/rules/*.yml"]
    text = (PROM_DIR / "prometheus.yml").read_text().replace("/etc/prometheus/rules", str(PROM_DIR / "rules"))
    (tmp_path / "prometheus.yml").write_text(text)
    result = run([promtool, "check", "config", str(tmp_path / "prometheus.yml")])
    assert result.returncode == 0, result.stdout + result.stderr
    for rule_file in RULE_FILES:
        assert rule_file.name in result.stdout, f"{rule_file.name} not loaded: {result.stdout}"


def test_promtool_check_rules(promtool: str) -> None:
    assert RULE_FILES, "no rule files"
    result = run([promtool, "check", "rules", *map(str, RULE_FILES)])
    assert result.returncode == 0, result.stdout + result.stderr


def test_promtool_unit_tests_pass(promtool: str) -> None:
    assert TEST_FILES, "no rule unit tests in services/config/prometheus/tests"
    result = run([promtool, "test", "rules", *(p.name for p in TEST_FILES)], cwd=PROM_DIR / "tests")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


def test_every_alert_has_a_unit_test_that_expects_it_to_fire() -> None:
    fired: set[str] = set()
    quiet: set[str] = set()
    for path in TEST_FILES:
        for case in load_yaml(path)["tests"]:
            for check in case.get("alert_rule_test", []):
                (fired if check.get("exp_alerts") else quiet).add(check["alertname"])
    alerts = alert_names()
    assert {"ItemsHighErrorRate", "WebReplicaDown", "RedisDown", "ItemsHighLatency"} <= alerts
    assert alerts - fired == set(), f"alerts never shown to fire in a unit test: {sorted(alerts - fired)}"
    assert alerts - quiet == set(), f"alerts never shown to stay quiet: {sorted(alerts - quiet)}"


def test_unit_tests_load_every_rule_file() -> None:
    for path in TEST_FILES:
        loaded = {(path.parent / f).resolve() for f in load_yaml(path)["rule_files"]}
        assert loaded == {p.resolve() for p in RULE_FILES}, path


def test_every_alert_has_severity_and_summary() -> None:
    for path in RULE_FILES:
        for group in load_yaml(path)["groups"]:
            for rule in group["rules"]:
                if "alert" in rule:
                    assert rule["labels"]["severity"] in {"page", "ticket", "warn", "info"}, rule["alert"]
                    assert rule["annotations"]["summary"], rule["alert"]


def test_recording_rules_follow_the_naming_convention_and_cover_routes_and_replicas() -> None:
    names = recording_rule_names()
    for name in names:
        assert re.fullmatch(r"[a-z_]+:[a-z_]+:[a-z0-9_]+", name), f"{name}: not level:metric:operation"
    for level in ("replica_route", "route", "job"):
        assert f"{level}:items_http_requests:rate1m" in names
        assert f"{level}:items_http_error_ratio:rate1m" in names
        assert f"{level}:items_http_request_duration_seconds:p95_1m" in names
    assert {f"replica_route:items_http_request_duration_seconds:p{q}_1m" for q in (50, 95, 99)} <= names


def test_rules_only_use_contract_metrics() -> None:
    import promql_parser

    allowed = _contract_series() | recording_rule_names() | EXPORTER_SERIES
    for path in RULE_FILES:
        for group in load_yaml(path)["groups"]:
            for rule in group["rules"]:
                names = metric_names(promql_parser.parse(rule["expr"]))
                assert names <= allowed, f"{rule.get('record') or rule.get('alert')}: {names - allowed}"


def test_scrape_jobs_match_the_compose_services() -> None:
    config = load_yaml(PROM_DIR / "prometheus.yml")
    jobs = {job["job_name"]: job for job in config["scrape_configs"]}
    assert set(jobs) == {"web", "traefik", "redis", "redis-exporter", "blackbox", "alertmanager"} | {
        "prometheus"
    }
    model = compose_model(("monitoring",))
    services = model["services"]

    # Web replicas: DNS service discovery on the alias every replica has on Prometheus' network.
    (dns,) = jobs["web"]["dns_sd_configs"]
    assert dns["type"] == "A" and dns["port"] == 8000
    prom_networks = set(services["prometheus"]["networks"])
    web = [s for s in services.values() if (s.get("labels") or {}).get("srelab.role") == "web"]
    assert len(web) == 3
    for replica in web:
        aliases = {
            alias
            for net, cfg in replica["networks"].items()
            if net in prom_networks
            for alias in ((cfg or {}).get("aliases") or [])
        }
        assert set(dns["names"]) <= aliases, f"replica not reachable as {dns['names']} from Prometheus"
        assert replica["labels"]["traefik.http.services.items.loadbalancer.server.port"] == str(dns["port"])

    # Traefik's metrics entrypoint and the exporter's port, on a network shared with Prometheus.
    (traefik_target,) = jobs["traefik"]["static_configs"][0]["targets"]
    host, port = traefik_target.split(":")
    assert f"--entryPoints.metrics.address=:{port}" in services[host]["command"]
    (exporter_target,) = jobs["redis-exporter"]["static_configs"][0]["targets"]
    host, port = exporter_target.split(":")
    assert port == "9121" and host in services
    # The node job asks that same exporter (multi-target) for the node in __param_target.
    relabel = jobs["redis"]["relabel_configs"]
    assert jobs["redis"]["metrics_path"] == "/scrape"
    assert {"source_labels": ["__address__"], "target_label": "__param_target"} in relabel
    assert relabel[-1] == {"target_label": "__address__", "replacement": exporter_target}
    for name in ("traefik", "redis-exporter"):
        assert prom_networks & set(services[name]["networks"]), f"{name} not on Prometheus' network"
    # The exporter reaches Redis on the internal backend network.
    assert "backend" in services["redis-exporter"]["networks"]
    # Multi-target only: /metrics (job redis-exporter) scrapes no node of its own.
    assert services["redis-exporter"]["environment"]["REDIS_ADDR"] == ""


def test_replica_count_in_alert_matches_compose() -> None:
    from srelab.stack.compose_model import web_services
    from srelab.stack.settings import get_settings

    replicas = len(web_services(get_settings()))
    (rule,) = [
        r
        for path in RULE_FILES
        for g in load_yaml(path)["groups"]
        for r in g["rules"]
        if r.get("alert") == "WebReplicasMissing"
    ]
    assert re.search(rf"<\s*{replicas}\s*$", rule["expr"].strip()), (rule["expr"], replicas)
    assert f"of {replicas} web replicas" in rule["annotations"]["summary"]


def _contract_series() -> set[str]:
    """Contract metric names plus the series a histogram and a counter expose."""
    out = set()
    for name in contract_metrics():
        out.add(name)
        if name.endswith("_seconds"):
            out |= {f"{name}_bucket", f"{name}_sum", f"{name}_count"}
    return out


def metric_names(ast: object) -> set[str]:
    import promql_parser

    names: set[str] = set()

    def visit(node: object) -> None:
        if isinstance(node, promql_parser.VectorSelector) and node.name:
            names.add(node.name)

    promql_parser.walk(ast, visit)
    return names


def parse_duration_s(text: str) -> float:
    """A Prometheus duration of one unit (1500ms, 2s, 1m) in seconds."""
    match = re.fullmatch(r"(\d+(?:\.\d+)?)(ms|s|m|h)", text)
    assert match, text
    return float(match.group(1)) * {"ms": 0.001, "s": 1, "m": 60, "h": 3600}[match.group(2)]


def _intervals() -> tuple[dict[str, float], float]:
    """Scrape interval per job and the default, in seconds."""
    config = load_yaml(PROM_DIR / "prometheus.yml")
    default = parse_duration_s(config["global"]["scrape_interval"])
    jobs = {
        j["job_name"]: parse_duration_s(j.get("scrape_interval", config["global"]["scrape_interval"]))
        for j in config["scrape_configs"]
    }
    return jobs, default


def test_each_alerts_stated_detection_delay_covers_scrape_evaluation_and_for() -> None:
    """detection_delay_s >= scrape interval of every job the rule reads + 2 evaluations + for."""
    import promql_parser

    jobs, _ = _intervals()
    for path in RULE_FILES:
        for group in load_yaml(path)["groups"]:
            interval = parse_duration_s(group.get("interval", "5s"))
            for rule in group["rules"]:
                if "alert" not in rule:
                    continue
                stated = float(rule["annotations"]["detection_delay_s"])
                read = {m for m in re.findall(r'job="([a-z-]+)"', rule["expr"])}
                names = metric_names(promql_parser.parse(rule["expr"]))
                if any(n.startswith(("traefik_", "slo:")) for n in names):
                    read.add("traefik")
                if any(n.startswith(("redis_", "instance:redis_", "job:redis_")) for n in names):
                    read.add("redis")
                scrape = max((jobs[j] for j in read), default=5.0)
                floor = scrape + 2 * interval + parse_duration_s(rule.get("for", "0s"))
                assert stated >= floor, f"{rule['alert']}: states {stated:g} s, at least {floor:g} s"
                # Short enough to catch a 10 s fault, except the slow-window and service-side ones.
                if rule["labels"]["severity"] == "page" and not rule["alert"].startswith("ItemsHigh"):
                    assert stated <= 15, rule["alert"]


def test_blackbox_probes_go_through_the_proxy_with_modules_that_exist() -> None:
    config = load_yaml(PROM_DIR / "prometheus.yml")
    (job,) = [j for j in config["scrape_configs"] if j["job_name"] == "blackbox"]
    modules = load_yaml(PROM_DIR.parent / "blackbox" / "blackbox.yml")["modules"]
    services = compose_model(("monitoring",))["services"]
    web_entrypoint = next(
        a.split(":")[-1] for a in services["traefik"]["command"] if a.startswith("--entryPoints.web.address=")
    )
    probed = set()
    for static in job["static_configs"]:
        module = static["labels"]["module"]
        assert module in modules, module
        for target in static["targets"]:
            assert target.startswith(f"http://traefik:{web_entrypoint}/"), target
            probed.add(
                (modules[module]["http"]["method"], target.split("?")[0].split(":", 2)[2].split("/", 1)[1])
            )
    assert probed == {("GET", "items"), ("POST", "items"), ("GET", "health")}
    # The POST carries the probe marker the items service keeps out of the listing.
    assert modules["items_post"]["http"]["headers"]["X-Srelab-Probe"]
    # The exporter reaches Traefik and Prometheus reaches the exporter.
    assert set(services["blackbox"]["networks"]) & set(services["traefik"]["networks"])
    assert set(services["blackbox"]["networks"]) & set(services["prometheus"]["networks"])


def test_prometheus_sends_alerts_to_alertmanager_which_routes_all_to_the_webhook() -> None:
    config = load_yaml(PROM_DIR / "prometheus.yml")
    (am,) = config["alerting"]["alertmanagers"]
    (target,) = am["static_configs"][0]["targets"]
    assert target == "alertmanager:9093"
    alertmanager = load_yaml(PROM_DIR.parent / "alertmanager" / "alertmanager.yml")
    route = alertmanager["route"]
    assert "matchers" not in route and route["receiver"] == "lab-webhook"
    (receiver,) = [r for r in alertmanager["receivers"] if r["name"] == "lab-webhook"]
    (hook,) = receiver["webhook_configs"]
    assert hook["url"].startswith("http://alert-sink:") and hook["send_resolved"] is True
    services = compose_model(("monitoring",))["services"]
    port = hook["url"].split(":")[2].split("/")[0]
    assert port in services["alert-sink"]["entrypoint"]
    assert "ports" not in services["alert-sink"] and "ports" not in services["blackbox"]
    (published,) = services["alertmanager"]["ports"]
    assert str(published.get("host_ip", published)).startswith("127.0.0.1"), published


# --- Redis nodes: which ones the exporter scrapes, per topology -----------------------------------
TARGETS_DIR = PROM_DIR / "targets"


def _topology_model(topology: str, monkeypatch: pytest.MonkeyPatch) -> dict:
    """`docker compose config` of the core + monitoring with LAB_REDIS_TOPOLOGY=topology (compose
    and srelab's settings read the same variable)."""
    from srelab.stack.engine import compose_client
    from srelab.stack.settings import get_settings

    monkeypatch.setenv("LAB_REDIS_TOPOLOGY", topology)
    model = compose_client(get_settings(), ("monitoring",)).compose.config(return_json=True)
    assert isinstance(model, dict)
    return model


def _node_targets(topology: str) -> list[dict]:
    return load_yaml(TARGETS_DIR / topology / "redis.yml")


@pytest.mark.parametrize("topology", ["ha", "single"])
def test_prometheus_scrapes_exactly_the_redis_nodes_of_the_topology(
    topology: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """One source of truth: the compose files say which nodes run; targets/<topology>/redis.yml
    (mounted by compose for that topology) lists exactly those, with their zones."""
    model = _topology_model(topology, monkeypatch)
    services = model["services"]
    nodes = {
        name: svc["labels"]["srelab.zone"]
        for name, svc in services.items()
        if (svc.get("labels") or {}).get("srelab.role") == "redis"
    }
    assert nodes and ("redis" in nodes)
    targets = _node_targets(topology)
    listed = {}
    for group in targets:
        (target,) = group["targets"]
        node = group["labels"]["node"]
        assert target == f"redis://{node}:6379", target
        listed[node] = group["labels"]["zone"]
    assert listed == nodes, f"{topology}: targets {listed} != compose's Redis nodes {nodes}"
    # The node names resolve for the exporter: it shares the backend network with each node.
    exporter_nets = set(services["redis-exporter"]["networks"])
    for node in nodes:
        assert exporter_nets & set(services[node]["networks"]), node
    # Compose mounts this topology's directory where prometheus.yml's file_sd reads it.
    (job,) = [j for j in load_yaml(PROM_DIR / "prometheus.yml")["scrape_configs"] if j["job_name"] == "redis"]
    (sd,) = job["file_sd_configs"]
    (path,) = sd["files"]
    mounts = {v["target"]: v["source"] for v in services["prometheus"]["volumes"] if v["type"] == "bind"}
    mounted = Path(mounts[str(Path(path).parent)]) / Path(path).name
    assert mounted.resolve() == (TARGETS_DIR / topology / "redis.yml").resolve()


def test_min_replicas_to_write_label_is_the_nodes_setting() -> None:
    """RedisNoWritablePrimary reads `min_replicas_to_write` from the target labels: it must be what
    the nodes of that topology are configured with."""
    ha_node = (PROM_DIR.parent / "redis" / "ha-node.sh").read_text()
    match = re.search(r"min-replicas-to-write (\d+)", ha_node)
    assert match, "ha-node.sh sets no min-replicas-to-write"
    assert {g["labels"]["min_replicas_to_write"] for g in _node_targets("ha")} == {match.group(1)}
    assert "min-replicas-to-write" not in (PROM_DIR.parent / "redis" / "redis.conf").read_text()
    assert {g["labels"]["min_replicas_to_write"] for g in _node_targets("single")} == {"0"}


def test_exporter_password_file_has_every_address_prometheus_names() -> None:
    from srelab.stack.secrets import exporter_addresses

    topologies = [d.name for d in TARGETS_DIR.iterdir() if d.is_dir()]
    every = {t for topology in topologies for g in _node_targets(topology) for t in g["targets"]}
    assert set(exporter_addresses()) == every
    assert {d.name for d in TARGETS_DIR.iterdir() if d.is_dir()} == {"ha", "single"}
