"""What the pinned upstream programs really do, as facts for the static tests.

None of Filebeat, Logstash, Loki or Elasticsearch can run here (no registry), so their behaviour
that our files depend on is written down once, with where each fact was read (repository, path,
tag or stored commit, or documentation URL). The models below are ours, a few lines each,
re-stating that behaviour so a test can apply it to our files; none is upstream code.
When a pin in compose/lab.env moves, re-check the facts of that program (docs/observability.md,
"How the pins and upstream facts were checked").
"""

from __future__ import annotations

import re
from typing import Any

# --- Docker Compose: the labels it puts on every container ------------------------------------
# docker/compose pkg/api/labels.go (stored commit 078c836f14428de70758c60b9997bad04ccedd1d):
# ProjectLabel, ServiceLabel, ConfigHashLabel, ContainerNumberLabel, OneoffLabel, WorkingDirLabel,
# ConfigFilesLabel, EnvironmentFileLabel (set with --env-file, which srelab/stack/lifecycle.py always
# passes), ImageDigestLabel, DependenciesLabel, VersionLabel.
COMPOSE_CONTAINER_LABELS: dict[str, str] = {
    "com.docker.compose.project": "{project}",
    "com.docker.compose.project.working_dir": "/home/someone/srelab/compose",
    "com.docker.compose.project.config_files": "/home/someone/srelab/compose/compose.yaml",
    "com.docker.compose.project.environment_file": "/home/someone/srelab/compose/lab.env",
    "com.docker.compose.service": "{service}",
    "com.docker.compose.config-hash": "0f3c",
    "com.docker.compose.container-number": "1",
    "com.docker.compose.oneoff": "False",
    "com.docker.compose.image": "sha256:9b1e",
    "com.docker.compose.depends_on": "",
    "com.docker.compose.version": "5.6.1",
}
# The ones whose values are paths on the host (the checkout, its files): kept out of the index.
COMPOSE_HOST_PATH_LABELS = frozenset(
    {
        "com.docker.compose.project.working_dir",
        "com.docker.compose.project.config_files",
        "com.docker.compose.project.environment_file",
    }
)


def container_labels(project: str, service: str, own: dict[str, str]) -> dict[str, str]:
    """The labels of a compose container: compose's own plus the service's `labels:`."""
    base = {k: v.format(project=project, service=service) for k, v in COMPOSE_CONTAINER_LABELS.items()}
    return {**base, **own}


# --- Filebeat 8.19 (ELASTIC_VERSION): the Docker autodiscover provider ------------------------
# elastic/beats libbeat/autodiscover/providers/docker/docker.go, generateMetaDocker() (stored
# version id 208491493, the 7.x/8.x shape with ports; the 8.x integration test
# docker_integration_test.go at stored commit 1577fbb48d86f912b1e51ea8bb97803b77fa68f6 checks the
# same nesting with labels.dedot=true): the event that templates and conditions see has
#   docker.container.{id,name,image,labels} and container.{id,name,image.name,labels}
# with labels put by safemapstr.Put, NOT dedotted ("Don't dedot selectors"); the fields added
# to every published event ("meta", Metadata) are
#   container.{id,name,image.name} and docker.container.labels, dedotted when labels.dedot.
# Known upstream: elastic/beats#49814 (Filebeat 8.19.13, conditions need the dotted form).
# labels.dedot defaults to true: libbeat/autodiscover/providers/docker/config.go defaultConfig().
# safemapstr.Put (elastic/elastic-agent-libs safemapstr/safemapstr.go, stored id 6789962579):
# a key that also has children keeps its own value under the child key "value".
# DeDot: libbeat/common, strings.Replace(s, ".", "_", -1).
SAFEMAPSTR_ALTERNATIVE_KEY = "value"


def dedot(key: str) -> str:
    return key.replace(".", "_")


def safemapstr_put(data: dict[str, Any], key: str, value: Any) -> None:
    """Put a dotted key into nested dicts, moving a value that gains children to `value`."""
    head, _, rest = key.partition(".")
    if not rest:
        if isinstance(data.get(head), dict):
            data[head][SAFEMAPSTR_ALTERNATIVE_KEY] = value
        else:
            data[head] = value
        return
    child = data.get(head)
    if not isinstance(child, dict):
        child = {} if child is None else {SAFEMAPSTR_ALTERNATIVE_KEY: child}
        data[head] = child
    safemapstr_put(child, rest, value)


def docker_selector_event(container_id: str, name: str, image: str, labels: dict[str, str]) -> dict[str, Any]:
    """The autodiscover event the provider's templates are matched against."""
    nested: dict[str, Any] = {}
    for key, value in labels.items():
        safemapstr_put(nested, key, value)
    return {
        "docker": {"container": {"id": container_id, "name": name, "image": image, "labels": nested}},
        "container": {"id": container_id, "name": name, "image": {"name": image}, "labels": nested},
    }


def docker_event_metadata(
    container_id: str, name: str, image: str, labels: dict[str, str], dedot_labels: bool = True
) -> dict[str, Any]:
    """The fields the provider adds to every event of a container it started an input for."""
    if dedot_labels:
        meta_labels: dict[str, Any] = {dedot(k): v for k, v in labels.items()}
    else:
        meta_labels = {}
        for key, value in labels.items():
            safemapstr_put(meta_labels, key, value)
    return {
        "container": {"id": container_id, "name": name, "image": {"name": image}},
        "docker": {"container": {"labels": meta_labels}},
    }


# Fields the filestream input and its `container` parser put on an event, and those libbeat adds
# (filebeat/input/filestream; libbeat/publisher/processing): the rest of what Logstash receives.
FILESTREAM_EVENT_FIELDS: dict[str, Any] = {
    "message": "",
    "stream": "stdout",
    "log": {"file": {"path": "/var/lib/docker/containers/<id>/<id>-json.log"}, "offset": 0},
    "input": {"type": "filestream"},
    "agent": {"type": "filebeat", "version": "8.19.6"},
    "ecs": {"version": "8.0.0"},
    "host": {"name": "filebeat"},
}


def get_path(event: dict[str, Any], dotted: str) -> tuple[bool, Any]:
    """libbeat's mapstr GetValue: walk the nested maps one dotted part at a time."""
    node: Any = event
    for part in dotted.split("."):
        if not isinstance(node, dict) or part not in node:
            return False, None
        node = node[part]
    return True, node


def condition_matches(condition: dict[str, Any], event: dict[str, Any]) -> bool:
    """libbeat/conditions for the forms our files use: equals, contains, regexp, has_fields,
    and, or, not (a field that is missing, or not a string where one is compared, never matches)."""
    ((kind, arg),) = condition.items()
    if kind in ("or", "and"):
        results = [condition_matches(c, event) for c in arg]
        return any(results) if kind == "or" else all(results)
    if kind == "not":
        return not condition_matches(arg, event)
    if kind == "has_fields":
        return all(get_path(event, field)[0] for field in arg)
    for field, expected in arg.items():
        found, value = get_path(event, field)
        if not found or isinstance(value, dict):
            return False
        if kind == "equals" and str(value) != str(expected):
            return False
        if kind == "contains" and str(expected) not in str(value):
            return False
        if kind == "regexp" and not re.search(str(expected), str(value)):
            return False
        if kind not in ("equals", "contains", "regexp"):
            raise ValueError(f"condition {kind} is not modelled: add it from libbeat/conditions")
    return True


# Filebeat's HTTP endpoint (http.enabled): GET /stats returns the monitoring registry as compact
# JSON (libbeat/api/routes.go: mapstr.M.String(), i.e. json.Marshal, unless ?pretty); docs:
# (Filebeat "Configure an HTTP endpoint for metrics", elastic.co/guide/en/beats/filebeat/8.x/
# http-endpoint.html). filebeat.harvester is a flat registry of counters: started, closed,
# running, open_files (filebeat/input/log/harvester.go) and skipped (filebeat/input/log/input.go);
# filestream updates the same started/closed/running/open_files (filebeat/input/filestream/
# internal/input-logfile/metrics.go, from 2023, stored commit 9e2c121a; still so at its stored
# 9.x version) and increments running while a reader is open (filestream.go). Another
# `running` lives elsewhere: libbeat.config.module.running (libbeat/cfgfile/cfgfile.go).
FILEBEAT_HARVESTER_KEYS = ("closed", "open_files", "running", "skipped", "started")


def filebeat_stats(harvesters_running: int, modules_running: int = 1) -> dict[str, Any]:
    """A /stats document of Filebeat's shape (Go's encoding/json sorts map keys)."""
    harvester = dict.fromkeys(FILEBEAT_HARVESTER_KEYS, 0)
    harvester.update(running=harvesters_running, open_files=harvesters_running, started=harvesters_running)
    return {
        "beat": {"info": {"uptime": {"ms": 1000}}},
        "filebeat": {"events": {"active": 0, "added": 3, "done": 3}, "harvester": harvester},
        "libbeat": {
            "config": {"module": {"running": modules_running, "starts": 1, "stops": 0}, "reloads": 1}
        },
        "registrar": {"states": {"current": 1}},
    }


# filestream close.on_state_change.inactive: "The default is 5m" (elastic/beats
# filebeat/docs/inputs/input-filestream-file-options.asciidoc, stored commit 07c55112).
FILESTREAM_CLOSE_INACTIVE_DEFAULT_S = 300


# --- Loki: what each published image can run as a healthcheck ---------------------------------
# grafana/loki, `git show vX.Y.Z:cmd/loki/Dockerfile` for every tag (the release workflow,
# .github/workflows/images.yml job loki-image, builds release/cmd/loki/Dockerfile of the tag):
# - v3.4.0 .. v3.5.12: FROM gcr.io/distroless/static:debug, SHELL /busybox/sh: busybox wget.
#   (The upgrade guide says busybox went in 3.5.8; the 3.5.x Dockerfiles say otherwise: the
#   removal, commit f2ba692f76 "remove busybox from dockerfile" (#19502), is in no 3.5.x tag.)
# - v3.6.0 and later: FROM gcr.io/distroless/static:nonroot: no shell, no wget, no curl.
# - cmd/loki/health.go (`loki -health [-health.url=...]`, GET, 5 s timeout, exit 0 on 200;
#   checked in cmd/loki/main.go before any config is parsed): from v3.6.5 and v3.7.0 on.
# Newest tag of each line in the grafana/loki snapshot of 2026-08-22 (`git tag -l 'v3.*'`).
LOKI_BUSYBOX_UNTIL = (3, 5, 12)
LOKI_DISTROLESS_NONROOT_FROM = (3, 6, 0)
LOKI_HEALTH_COMMAND_FROM = {(3, 6): (3, 6, 5), (3, 7): (3, 7, 0)}
LOKI_NEWEST_PATCH = {(3, 5): (3, 5, 12), (3, 6): (3, 6, 15), (3, 7): (3, 7, 6)}


def loki_image_can_run(version: tuple[int, int, int], program: str) -> bool:
    """Whether grafana/loki:<version> has `program` (a healthcheck's first word) to exec."""
    if program == "wget":
        return version <= LOKI_BUSYBOX_UNTIL
    if program in ("/usr/bin/loki", "loki"):
        if version[:2] > max(LOKI_HEALTH_COMMAND_FROM):
            return True  # a later line: it kept health.go (re-check when such a pin is made)
        first = LOKI_HEALTH_COMMAND_FROM.get(version[:2])
        return first is not None and version >= first
    return False


# --- Loki 3.7.6: configuration keys ------------------------------------------------------------
# grafana/loki docs/sources/shared/configuration.md at v3.7.6 (generated from the config
# structs), every key srelab's loki.yaml sets, by block; a key not here must be checked there
# first. The whole file was also checked against that reference (all keys known).
LOKI_CONFIG_KEYS: dict[str, frozenset[str]] = {
    "": frozenset(
        {"auth_enabled", "server", "common", "schema_config", "limits_config", "compactor", "query_range"}
        | {"analytics", "storage_config", "ingester", "querier", "ruler", "table_manager", "target"}
    ),
    "server": frozenset({"http_listen_port", "grpc_listen_port", "log_level", "log_format"}),
    "common": frozenset({"instance_addr", "path_prefix", "storage", "replication_factor", "ring"}),
    "common.storage": frozenset({"filesystem", "s3", "gcs", "azure"}),
    "common.storage.filesystem": frozenset({"chunks_directory", "rules_directory"}),
    "common.ring": frozenset({"kvstore", "instance_addr"}),
    "common.ring.kvstore": frozenset({"store", "prefix"}),
    "schema_config": frozenset({"configs"}),
    "schema_config.configs[]": frozenset({"from", "store", "object_store", "schema", "index", "chunks"}),
    "schema_config.configs[].index": frozenset({"prefix", "period", "path_prefix", "tags"}),
    "limits_config": frozenset(
        {"retention_period", "reject_old_samples", "reject_old_samples_max_age"}
        | {"allow_structured_metadata", "volume_enabled"}
    ),
    "compactor": frozenset(
        {"working_directory", "retention_enabled", "delete_request_store", "compaction_interval"}
        | {"retention_delete_delay"}
    ),
    # cache_results: `[cache_results: <boolean> | default = false]`; the results cache
    # middleware is only built `if cfg.CacheResults` (pkg/querier/queryrange/roundtrip.go).
    "query_range": frozenset({"cache_results", "results_cache", "align_queries_with_step", "max_retries"}),
    "query_range.results_cache": frozenset({"cache", "compression"}),
    "query_range.results_cache.cache": frozenset({"embedded_cache", "default_validity", "memcached"}),
    "query_range.results_cache.cache.embedded_cache": frozenset({"enabled", "max_size_mb", "ttl"}),
    "analytics": frozenset({"reporting_enabled"}),
}
LOKI_CONFIG_KEYS_VERIFIED_FOR = (3, 7, 6)
LOKI_CACHE_RESULTS_DEFAULT = False
# pkg/compactor/config.go Validate() at v3.7.6: "compactor.delete-request-store should be
# configured when retention is enabled".
LOKI_RETENTION_NEEDS_DELETE_REQUEST_STORE = True
