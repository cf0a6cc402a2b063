"""Log shipping configuration: Promtail -> Loki and Filebeat -> Logstash -> Elasticsearch.

None of these programs can run here (no registry): their files are parsed and cross-checked
against each other and against compose; the two setup scripts run for real against a fake
Elasticsearch / Kibana on loopback, so their HTTP calls and their failure handling are tested.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from tests.observability import _upstream as up
from tests.observability._obs import (
    CONFIG,
    KIBANA_OBJECTS,
    compose_model,
    image_version,
    load_yaml,
    request_log_fields,
)

PIPELINE = CONFIG / "logstash" / "pipeline" / "srelab.conf"
ES_SETUP = CONFIG / "elasticsearch" / "setup"


def services() -> dict[str, dict[str, Any]]:
    return compose_model(("monitoring", "elk"))["services"]


# --- Promtail and Loki ------------------------------------------------------------------------


def test_promtail_discovers_only_this_compose_project_through_the_socket_proxy() -> None:
    config = load_yaml(CONFIG / "promtail" / "promtail.yaml")
    (job,) = config["scrape_configs"]
    (sd,) = job["docker_sd_configs"]
    assert sd["host"] == "tcp://socket-proxy:2375"
    assert sd["filters"] == [{"name": "label", "values": ["com.docker.compose.project=${LAB_PROJECT}"]}]
    promtail = services()["promtail"]
    assert "-config.expand-env=true" in promtail["command"]
    assert promtail["environment"]["LAB_PROJECT"]
    # No Docker socket: the read-only API of socket-proxy, on its network (docs/security.md).
    assert not [v for v in promtail["volumes"] if "docker.sock" in str(v.get("source"))]
    assert "dockerapi" in promtail["networks"] and "socket-proxy" in promtail["depends_on"]
    assert config["positions"]["filename"].startswith("/tmp/")
    assert any(v["target"] == "/tmp" and v["type"] == "volume" for v in promtail["volumes"])


def test_promtail_parses_the_json_request_line_into_labels() -> None:
    (job,) = load_yaml(CONFIG / "promtail" / "promtail.yaml")["scrape_configs"]
    stages = job["pipeline_stages"]
    (json_stage,) = [s["json"] for s in stages if "json" in s]
    (labels_stage,) = [s["labels"] for s in stages if "labels" in s]
    assert set(json_stage["expressions"]) == set(labels_stage) == {"level", "replica", "zone"}
    assert set(json_stage["expressions"].values()) <= request_log_fields()
    relabels = {r["target_label"]: r["source_labels"] for r in job["relabel_configs"]}
    assert relabels["service"] == ["__meta_docker_container_label_com_docker_compose_service"]
    assert relabels["zone"] == ["__meta_docker_container_label_srelab_zone"]


def test_promtail_ships_to_the_loki_service_and_loki_listens_there() -> None:
    promtail = load_yaml(CONFIG / "promtail" / "promtail.yaml")
    loki = load_yaml(CONFIG / "loki" / "loki.yaml")
    (client,) = promtail["clients"]
    port = loki["server"]["http_listen_port"]
    assert client["url"] == f"http://loki:{port}/loki/api/v1/push"
    svc = services()
    assert set(svc["promtail"]["networks"]) & set(svc["loki"]["networks"])
    published = {int(p["target"]) for p in svc["loki"]["ports"]}
    assert published == {port}
    assert svc["promtail"]["healthcheck"]["test"][-1].count(str(promtail["server"]["http_listen_port"])) == 1


def test_loki_stores_on_its_volume_with_retention() -> None:
    loki = load_yaml(CONFIG / "loki" / "loki.yaml")
    assert loki["auth_enabled"] is False
    assert loki["common"]["path_prefix"] == "/loki"
    (schema,) = loki["schema_config"]["configs"]
    assert schema["store"] == "tsdb" and schema["schema"] == "v13"
    assert loki["compactor"]["retention_enabled"] is True
    assert re.fullmatch(r"\d+h", loki["limits_config"]["retention_period"])
    volumes = {v["target"]: v for v in services()["loki"]["volumes"]}
    assert volumes["/loki"]["type"] == "volume"
    assert volumes["/etc/loki/loki.yaml"]["read_only"] is True


def config_paths(value: Any, prefix: str = "") -> Iterator[tuple[str, str]]:
    """(block, key) for every key of a YAML config; list items are the block `name[]`."""
    if isinstance(value, dict):
        for key, child in value.items():
            yield prefix, key
            path = f"{prefix}.{key}" if prefix else key
            if isinstance(child, list):
                for item in child:
                    yield from config_paths(item, f"{path}[]")
            else:
                yield from config_paths(child, path)


def test_loki_config_uses_only_keys_of_the_pinned_release() -> None:
    """Every key of loki.yaml exists in the configuration reference of the pinned Loki."""
    assert image_version("LOKI_IMAGE") == up.LOKI_CONFIG_KEYS_VERIFIED_FOR, (
        "LOKI_IMAGE moved: check loki.yaml against that release's configuration reference first"
    )
    loki = load_yaml(CONFIG / "loki" / "loki.yaml")
    unknown = [
        f"{b}.{k}" if b else k for b, k in config_paths(loki) if k not in up.LOKI_CONFIG_KEYS.get(b, ())
    ]
    assert not unknown, f"not keys of Loki {'.'.join(map(str, image_version('LOKI_IMAGE')))}: {unknown}"
    # The checker sees a misspelt key (a test of the test).
    assert ("query_range", "cache_result") in set(config_paths({"query_range": {"cache_result": True}}))


def test_loki_caches_what_its_config_says_and_can_apply_retention() -> None:
    loki = load_yaml(CONFIG / "loki" / "loki.yaml")
    query_range = loki.get("query_range") or {}
    if "results_cache" in query_range:
        assert query_range.get("cache_results", up.LOKI_CACHE_RESULTS_DEFAULT) is True, (
            "query_range.results_cache is configured but cache_results is off (Loki's default): unused"
        )
    compactor = loki.get("compactor") or {}
    if compactor.get("retention_enabled") and up.LOKI_RETENTION_NEEDS_DELETE_REQUEST_STORE:
        assert compactor.get("delete_request_store"), "Loki refuses retention without delete_request_store"


def test_no_service_uses_the_loki_log_driver() -> None:
    for name, svc in services().items():
        assert svc.get("logging", {}).get("driver", "json-file") == "json-file", name


# --- Filebeat and Logstash --------------------------------------------------------------------


def blank_literals(text: str) -> str:
    """Strings, regex literals and comments blanked out, every offset kept (they may hold braces)."""

    def blank(match: re.Match[str]) -> str:
        return match.group(0)[0] + " " * (len(match.group(0)) - 2) + match.group(0)[-1]

    stripped = re.sub(r'"(?:\\.|[^"\\])*"', blank, text)
    stripped = re.sub(r"(?<=[=!]~)\s*/(?:\\.|[^/\\\n])*/", blank, stripped)
    return re.sub(r"#[^\n]*", lambda m: " " * len(m.group(0)), stripped)


def logstash_sections(text: str) -> dict[str, str]:
    """Top-level `input`, `filter`, `output` blocks of a Logstash config (comments, strings aware)."""
    stripped = blank_literals(text)
    assert stripped.count("{") == stripped.count("}"), "unbalanced braces"
    sections: dict[str, str] = {}
    depth, name, start = 0, "", 0
    for match in re.finditer(r"[{}]|\b(input|filter|output)\b", stripped):
        token = match.group(0)
        if token == "{":
            if depth == 0:
                start = match.end()
            depth += 1
        elif token == "}":
            depth -= 1
            assert depth >= 0, "unbalanced braces"
            if depth == 0:
                sections[name] = text[start : match.start()]
        elif depth == 0:
            name = token
    return sections


def test_logstash_pipeline_structure() -> None:
    text = PIPELINE.read_text()
    sections = logstash_sections(text)
    assert set(sections) == {"input", "filter", "output"}
    assert re.search(r"beats\s*\{\s*port\s*=>\s*5044\s*\}", sections["input"])
    out = sections["output"]
    assert 'hosts => ["http://elasticsearch:9200"]' in out
    assert 'user => "logstash_internal"' in out
    assert 'password => "${LOGSTASH_INTERNAL_PASSWORD}"' in out
    assert re.search(r'index => "srelab-logs-%\{\+YYYY\.MM\.dd\}"', out)
    assert "manage_template => false" in out  # es-setup owns the template


def test_logstash_parses_only_the_replicas_json_and_keeps_contract_fields() -> None:
    text = PIPELINE.read_text()
    assert '[docker][container][labels][srelab_role] == "web"' in text
    assert 'source => "message"' in text and 'target => "[@metadata][app]"' in text
    copied = set(re.findall(r'"\[@metadata\]\[app\]\[(\w+)\]" => "(\w+)"', text))
    assert copied, "no fields copied out of the parsed line"
    assert {src for src, _ in copied} <= request_log_fields()
    assert all(src == dst for src, dst in copied)
    template = json.loads((ES_SETUP / "index-template.json").read_text())
    mapped = set(template["template"]["mappings"]["properties"])
    assert {dst for _, dst in copied} | {"compose_service"} <= mapped
    assert template["template"]["mappings"]["properties"]["status"]["type"] == "integer"
    assert re.search(r'date \{\s*match => \["\[@metadata\]\[app\]\[time\]", "ISO8601"\]', text)


def test_filebeat_autodiscovers_this_project_and_ships_to_logstash() -> None:
    config = load_yaml(CONFIG / "filebeat" / "filebeat.yml")
    (provider,) = config["filebeat.autodiscover"]["providers"]
    assert provider["type"] == "docker" and provider["labels.dedot"] is True
    assert provider["host"] == "tcp://socket-proxy:2375"
    (template,) = provider["templates"]
    (inp,) = template["config"]
    assert inp["type"] == "filestream" and "${data.docker.container.id}" in inp["id"]
    assert inp["paths"] == ["/var/lib/docker/containers/${data.docker.container.id}/*.log"]
    assert config["output.logstash"]["hosts"] == ["logstash:5044"]
    filebeat = services()["filebeat"]
    assert filebeat["environment"]["LAB_PROJECT"]
    mounts = {v["target"]: v for v in filebeat["volumes"]}
    for path in ("/var/lib/docker/containers", "/usr/share/filebeat/filebeat.yml"):
        assert mounts[path]["read_only"] is True, path
    assert "/var/run/docker.sock" not in mounts and "dockerapi" in filebeat["networks"]
    # Root for the root-only log files, but no capability and a read-only root filesystem.
    assert filebeat["cap_drop"] == ["ALL"] and filebeat["read_only"] is True
    assert set(filebeat["networks"]) & set(services()["logstash"]["networks"])
    # The healthcheck probes the HTTP endpoint filebeat.yml enables.
    assert config["http.enabled"] is True
    assert f":{config['http.port']}/" in " ".join(filebeat["healthcheck"]["test"])


# --- Filebeat and Logstash against what Filebeat's Docker provider really emits (_upstream.py) -


def filebeat_template() -> dict[str, Any]:
    (provider,) = load_yaml(CONFIG / "filebeat" / "filebeat.yml")["filebeat.autodiscover"]["providers"]
    (template,) = provider["templates"]
    return template


def with_env(value: Any, env: dict[str, str]) -> Any:
    """Filebeat's ${VAR} expansion of a config value (conditions included)."""
    if isinstance(value, dict):
        return {with_env(k, env): with_env(v, env) for k, v in value.items()}
    if isinstance(value, list):
        return [with_env(v, env) for v in value]
    if isinstance(value, str):
        return re.sub(r"\$\{([A-Z_][A-Z0-9_]*)\}", lambda m: env[m.group(1)], value)
    return value


def project_containers() -> dict[str, dict[str, str]]:
    """service -> the labels of its container, as compose sets them for this project."""
    model = compose_model(("monitoring", "elk"))
    return {
        name: up.container_labels(model["name"], name, dict(svc.get("labels") or {}))
        for name, svc in model["services"].items()
    }


def test_safemapstr_model_follows_upstreams_documented_examples() -> None:
    # safemapstr.go's doc comment, in both insertion orders; the 8.x integration test's labels.
    puts = [
        ("com.docker.swarm.task", "x"),
        ("com.docker.swarm.task.id", 1),
        ("com.docker.swarm.task.name", "foobar"),
    ]
    for order in (puts, puts[::-1]):
        data: dict[str, Any] = {}
        for key, value in order:
            up.safemapstr_put(data, key, value)
        assert data == {"com": {"docker": {"swarm": {"task": {"id": 1, "name": "foobar", "value": "x"}}}}}
    event = up.docker_selector_event("c1", "n", "busybox:latest", {"label": "foo", "label.child": "bar"})
    assert event["container"]["labels"] == {"label": {"value": "foo", "child": "bar"}}


def test_filebeat_condition_matches_every_container_of_this_project_and_no_other() -> None:
    """The condition, applied to the autodiscover event the Docker provider builds (labels nested
    by dots, never dedotted): it must start an input for each compose container of the lab."""
    project = compose_model(("monitoring", "elk"))["name"]
    condition = with_env(filebeat_template()["condition"], {"LAB_PROJECT": project})
    for service, labels in project_containers().items():
        event = up.docker_selector_event("c0ffee", f"{project}-{service}-1", "img:1", labels)
        assert up.condition_matches(condition, event), f"{service}: no input would start"
        other = up.container_labels("someone-else", service, {})
        assert not up.condition_matches(condition, up.docker_selector_event("f00d", "x", "img:1", other))
    # What the provider does not do: a dedotted name in a condition never matches (beats#49814).
    labels = project_containers()["web-a"]
    event = up.docker_selector_event("c0ffee", "x", "img:1", labels)
    assert not up.condition_matches(
        {"equals": {"docker.container.labels.com_docker_compose_project": project}}, event
    )


def filebeat_event(service: str, message: str) -> dict[str, Any]:
    """What Logstash's beats input receives for one line of `service`'s container."""
    project = compose_model(("monitoring", "elk"))["name"]
    meta = up.docker_event_metadata(
        "c0ffee", f"{project}-{service}-1", "img:1", project_containers()[service]
    )
    return {**up.FILESTREAM_EVENT_FIELDS, **meta, "message": message}


def field_refs(text: str) -> set[str]:
    """Every [a][b] field reference in Logstash config text, as a dotted path (comments out)."""
    text = re.sub(r"#[^\n]*", "", text)
    return {
        ".".join(re.findall(r"\[([^\]]+)\]", ref))
        for ref in re.findall(r"(?:\[[\w@.-]+\])+", text)
        if not ref.startswith("[@metadata]")
    }


def test_logstash_reads_only_fields_filebeat_sends() -> None:
    """Every event field the filter refers to exists in what Filebeat 8.19 sends for a replica's
    line, and the replica test (`[...][srelab_role] == "web"`) holds for it."""
    event = filebeat_event("web-a", '{"level": "INFO", "request_id": "r1"}')
    filter_text = logstash_sections(PIPELINE.read_text())["filter"]
    refs = field_refs(filter_text)
    assert any("labels" in ref for ref in refs), "the pipeline reads no container label"
    for ref in sorted(refs):
        found, _ = up.get_path(event, ref)
        assert found, f"{PIPELINE.name} reads [{ref.replace('.', '][')}]: Filebeat sends no such field"
    for ref, expected in re.findall(r"((?:\[[\w@.-]+\])+)\s*==\s*\"([^\"]*)\"", filter_text):
        dotted = ".".join(re.findall(r"\[([^\]]+)\]", ref))
        assert up.get_path(event, dotted) == (True, expected), f"{ref} == {expected!r} is false for web-a"
    # And a container that is not a replica does not pass it.
    found, role = up.get_path(filebeat_event("redis", "x"), "docker.container.labels.srelab_role")
    assert not found or role != "web"


def enclosing_blocks(text: str, at: int) -> list[str]:
    """The headers (`filter`, `if [x] == "y"`, `mutate`, ...) of the blocks around offset `at`."""
    stripped, stack, last = blank_literals(text), [], 0
    for match in re.finditer(r"[{}]", stripped[:at]):
        if match.group(0) == "{":
            stack.append(stripped[last : match.start()].strip().split("\n")[-1].strip())
        else:
            stack.pop()
        last = match.end()
    return stack


def test_logstash_drops_the_labels_that_carry_host_paths() -> None:
    text = PIPELINE.read_text()
    removed: set[str] = set()
    for match in re.finditer(r'remove_field\s*=>\s*\[((?:\s*"[^"]*"\s*,?)*)\s*\]', text):
        assert not any(h.startswith(("if", "else")) for h in enclosing_blocks(text, match.start())), (
            "the host-path labels are removed only under a condition"
        )
        removed |= {
            ".".join(re.findall(r"\[([^\]]+)\]", ref)) for ref in re.findall(r'"([^"]+)"', match.group(1))
        }
    event = filebeat_event("web-a", "x")
    for label in sorted(up.COMPOSE_HOST_PATH_LABELS):
        path = f"docker.container.labels.{up.dedot(label)}"
        assert up.get_path(event, path)[0], f"the model lost {path}"
        assert path in removed, f"{label} (a host path) would be indexed as [{path.replace('.', '][')}]"


def test_filebeat_keeps_harvesters_open_while_the_lab_is_quiet() -> None:
    """The healthcheck needs a running harvester; filestream closes an idle one after
    close.on_state_change.inactive (default 5m upstream), so that must be long."""
    (inp,) = filebeat_template()["config"]
    value = str(inp.get("close.on_state_change.inactive", f"{up.FILESTREAM_CLOSE_INACTIVE_DEFAULT_S}s"))
    match = re.fullmatch(r"(\d+)([smh])", value)
    assert match, value
    seconds = int(match.group(1)) * {"s": 1, "m": 60, "h": 3600}[match.group(2)]
    assert seconds >= 3600, f"close.on_state_change.inactive {value}: an idle hour makes Filebeat unhealthy"


def run_healthcheck(test: list[str], replace: dict[str, str]) -> int:
    """Run a compose healthcheck (CMD or CMD-SHELL) here, with `replace` applied to its words."""

    def fix(word: str) -> str:
        for old, new in replace.items():
            word = word.replace(old, new)
        return word

    kind, *words = test
    argv = ["sh", "-c", fix(words[0])] if kind == "CMD-SHELL" else [fix(w) for w in words]
    return subprocess.run(argv, capture_output=True, timeout=30, check=False).returncode


def test_filebeat_healthcheck_fails_without_a_running_harvester(fake: Any) -> None:
    """The real healthcheck command (curl, grep) against Filebeat-shaped /stats documents."""
    config = load_yaml(CONFIG / "filebeat" / "filebeat.yml")
    test = services()["filebeat"]["healthcheck"]["test"]
    here = f"{config['http.host']}:{config['http.port']}"
    # libbeat/api/routes.go: /stats is mapstr.M.String(), json.Marshal: compact, keys sorted.
    reading = fake(reply=up.filebeat_stats(harvesters_running=2), compact=True)
    idle = fake(reply=up.filebeat_stats(harvesters_running=0, modules_running=3), compact=True)
    assert run_healthcheck(test, {here: reading.url.removeprefix("http://")}) == 0
    assert run_healthcheck(test, {here: idle.url.removeprefix("http://")}) != 0, (
        "healthy with no harvester running: an autodiscover condition matching nothing goes unseen"
    )
    idle.close()
    assert run_healthcheck(test, {here: idle.url.removeprefix("http://")}) != 0


def env_needed(text: str) -> set[str]:
    """Upper-case ${NAME} a file reads from its environment: not assigned in the file itself and
    not always given a non-empty default (${NAME:-default})."""
    used = set(re.findall(r"\$\{([A-Z][A-Z0-9_]*)", text))
    assigned = set(re.findall(r"^\s*(?:local\s+)?([A-Z][A-Z0-9_]*)=", text, re.M))
    defaulted = {
        name for name in used if not re.search(rf"\$\{{{name}(?!:-[^}}])", text)
    }  # every use is ${NAME:-something}
    return used - assigned - defaulted - {"BASH_SOURCE"}


def test_env_needed_sees_required_and_skips_defaulted_variables() -> None:
    text = 'A="${X:-http://x}"\nB=1\necho "${B}" "${Y}" "${Z:-}" "${X}x"\n'
    assert env_needed(text) == {"Y", "Z", "X"}
    assert env_needed('echo "${X:-http://x}"') == set()


def test_env_variables_used_in_config_files_are_given_to_their_service() -> None:
    uses = {
        "logstash": [PIPELINE],
        "kibana": [CONFIG / "kibana" / "kibana.yml"],
        "filebeat": [CONFIG / "filebeat" / "filebeat.yml"],
        "promtail": [CONFIG / "promtail" / "promtail.yaml"],
        "grafana": [Path("grafana/provisioning/datasources/datasources.yaml")],
        "es-setup": [ES_SETUP / "setup.sh"],
        "kibana-setup": [CONFIG / "kibana" / "setup.sh"],
    }
    svc = services()
    root = CONFIG.parents[1]
    for name, files in uses.items():
        env = svc[name].get("environment") or {}
        for path in files:
            text = (root / path).read_text()
            missing = env_needed(text) - set(env)
            assert not missing, f"{path.name} uses {sorted(missing)} but compose does not give them to {name}"


# --- setup scripts against a fake server -----------------------------------------------------


class FakeServer:
    """Records requests; answers 200 `{}` (or `fail` status for paths matching `fail_on`)."""

    def __init__(
        self, reply: dict[str, Any] | None = None, fail_on: str | None = None, compact: bool = False
    ) -> None:
        self.requests: list[dict[str, Any]] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length).decode(errors="replace") if length else ""
                outer.requests.append(
                    {"method": self.command, "path": self.path, "body": body, "headers": dict(self.headers)}
                )
                failing = fail_on is not None and re.search(fail_on, f"{self.command} {self.path}")
                # compact: as Go's encoding/json writes it (no spaces, keys sorted).
                separators = (",", ":") if compact else None
                body = {"error": "forbidden"} if failing else (reply or {})
                payload = json.dumps(body, separators=separators, sort_keys=compact).encode()
                self.send_response(403 if failing else 200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            do_GET = do_POST = do_PUT = _handle

            def log_message(self, *args: object) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, args=(0.05,), daemon=True).start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def fake() -> Iterator[type[FakeServer]]:
    if shutil.which("curl") is None:
        pytest.fail("curl not found: the setup scripts run curl (apt-get install curl)", pytrace=False)
    servers: list[FakeServer] = []

    def make(**kw: Any) -> FakeServer:
        server = FakeServer(**kw)
        servers.append(server)
        return server

    yield make  # type: ignore[misc]
    for server in servers:
        server.close()


SECRETS = {
    "ELASTIC_PASSWORD": "el-pw",
    "KIBANA_SYSTEM_PASSWORD": "kib-pw",
    "LOGSTASH_INTERNAL_PASSWORD": 'ls-"pw',  # a quote must reach Elasticsearch as valid JSON
    "GRAFANA_ELASTIC_PASSWORD": "graf-pw",
}


def run_script(script: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", str(script)],
        env={"PATH": "/usr/bin:/bin", **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_es_setup_creates_users_roles_and_template_from_env(fake: Any) -> None:
    es = fake()
    result = run_script(ES_SETUP / "setup.sh", {**SECRETS, "ELASTICSEARCH_URL": es.url})
    assert result.returncode == 0, result.stdout + result.stderr
    calls = {(r["method"], r["path"].split("?")[0]): r for r in es.requests}
    body = json.loads(calls[("POST", "/_security/user/kibana_system/_password")]["body"])
    assert body == {"password": "kib-pw"}
    for role_file in (ES_SETUP / "roles").glob("*.json"):
        sent = json.loads(calls[("PUT", f"/_security/role/{role_file.stem}")]["body"])
        assert sent == json.loads(role_file.read_text())
    logstash = json.loads(calls[("PUT", "/_security/user/logstash_internal")]["body"])
    assert logstash["password"] == 'ls-"pw' and logstash["roles"] == ["logstash_writer"]
    grafana = json.loads(calls[("PUT", "/_security/user/grafana_reader")]["body"])
    assert grafana["password"] == "graf-pw" and grafana["roles"] == ["srelab_logs_reader"]
    template = json.loads(calls[("PUT", "/_index_template/srelab-logs")]["body"])
    assert template["index_patterns"] == ["srelab-logs-*"]
    # Every call authenticates as the elastic superuser.
    assert all(r["headers"]["Authorization"].startswith("Basic ") for r in es.requests)


def test_es_setup_fails_loudly_when_elasticsearch_refuses(fake: Any) -> None:
    es = fake(fail_on=r"PUT /_security/role/")
    result = run_script(ES_SETUP / "setup.sh", {**SECRETS, "ELASTICSEARCH_URL": es.url})
    assert result.returncode != 0
    assert "HTTP 403" in result.stderr and "forbidden" in result.stderr


def test_es_setup_refuses_to_run_without_passwords(fake: Any) -> None:
    es = fake()
    env = {**SECRETS, "ELASTICSEARCH_URL": es.url, "LOGSTASH_INTERNAL_PASSWORD": ""}
    result = run_script(ES_SETUP / "setup.sh", env)
    assert result.returncode != 0 and "logstash_internal" in result.stderr


def test_kibana_setup_imports_every_ndjson_file(fake: Any) -> None:
    kibana = fake(reply={"success": True, "successCount": 4})
    env = {
        "ELASTIC_PASSWORD": "el-pw",
        "KIBANA_URL": kibana.url,
        "OBJECTS_DIR": str(KIBANA_OBJECTS[0].parent),
    }
    result = run_script(CONFIG / "kibana" / "setup.sh", env)
    assert result.returncode == 0, result.stdout + result.stderr
    imports = [r for r in kibana.requests if r["path"].startswith("/api/saved_objects/_import")]
    assert len(imports) == len(KIBANA_OBJECTS)
    for request in imports:
        assert request["method"] == "POST" and "overwrite=true" in request["path"]
        assert request["headers"]["kbn-xsrf"]
        assert "multipart/form-data" in request["headers"]["Content-Type"]
        assert '"type":"dashboard"' in request["body"]


def test_kibana_setup_fails_when_the_import_reports_errors(fake: Any) -> None:
    kibana = fake(reply={"success": False, "errors": [{"id": "x", "error": {"type": "missing_references"}}]})
    env = {
        "ELASTIC_PASSWORD": "el-pw",
        "KIBANA_URL": kibana.url,
        "OBJECTS_DIR": str(KIBANA_OBJECTS[0].parent),
    }
    result = run_script(CONFIG / "kibana" / "setup.sh", env)
    assert result.returncode != 0 and "missing_references" in result.stderr
