"""Grafana Alloy v1.18.1 (ALLOY_IMAGE), as facts for the static tests, and a reader of its syntax.

Alloy cannot run here (no image, no binary), so what services/config/alloy/config.alloy relies on
is written down from upstream's source at the pinned tag (grafana/alloy snapshot of 2026-08-21,
`git show v1.18.1:<path>`): each component's arguments are the `alloy:"name,attr|block[,optional]"`
struct tags of its Arguments type, its exports those of its Exports type. The reader below is
ours, for the subset of the syntax the file uses (blocks, attributes, strings, numbers, lists,
objects, references, calls, `+`); it is no upstream code. When ALLOY_IMAGE moves, re-read them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

ALLOY_VERIFIED_FOR = "v1.18.1"

# operations/helm/charts/alloy/Chart.yaml at tag helm-chart/1.11.1: `appVersion: "v1.18.1"` (the
# chart's image tag defaults to it: values.yaml `image.tag` "When empty, the Chart's appVersion").
CHART_APP_VERSION = {"1.11.1": "v1.18.1"}


@dataclass(frozen=True)
class Args:
    """A block's arguments: attribute names (required ones apart), nested blocks by name."""

    required: frozenset[str] = frozenset()
    optional: frozenset[str] = frozenset()
    blocks: dict[str, Args] = field(default_factory=dict)

    @property
    def attrs(self) -> frozenset[str]:
        return self.required | self.optional


def _args(required: str = "", optional: str = "", **blocks: Args) -> Args:
    return Args(frozenset(required.split()), frozenset(optional.split()), dict(blocks))


# internal/component/common/relabel/relabel.go, type Config (every attribute optional).
RELABEL_RULE = _args(optional="source_labels separator regex modulus target_label replacement action")

# loki.process stages: internal/component/loki/process/stages/pipeline.go, StageConfig, whose
# fields are the `stage.<name>` blocks (an enum, in order); the arguments of the ones used here
# from json.go (JSONConfig), template.go (TemplateConfig) and labels.go (LabelsConfig).
PROCESS_STAGES: frozenset[str] = frozenset(
    [
        "cri",
        "decolorize",
        "docker",
        "drop",
        "eventlogmessage",
        "geoip",
        "json",
        "label_keep",
        "label_drop",
        "labels",
        "limit",
        "logfmt",
        "luhn",
        "match",
        "metrics",
        "multiline",
        "output",
        "pack",
        "pattern",
        "regex",
        "replace",
        "static_labels",
        "structured_metadata",
        "structured_metadata_drop",
        "sampling",
        "template",
        "tenant",
        "truncate",
        "timestamp",
        "windowsevent",
    ]
)
STAGE_ARGS: dict[str, Args] = {
    "json": _args(optional="expressions regex source drop_malformed"),
    "template": _args(required="source template"),
    "labels": _args(required="values", optional="source_type"),
}

COMPONENTS: dict[str, Args] = {
    # internal/component/discovery/docker/docker.go: Arguments (plus the squashed HTTP client
    # config, not used here), Filter; Convert() builds Prometheus's moby.DockerSDConfig, so the
    # targets carry Prometheus's __meta_docker_container_label_<name, sanitised> labels, as
    # Promtail's docker_sd_configs (the same Prometheus code) does.
    "discovery.docker": _args(
        "host",
        "port host_networking_host refresh_interval match_first_network",
        filter=_args("name values"),
    ),
    # internal/component/discovery/relabel/relabel.go: Arguments (targets, `rule` blocks).
    "discovery.relabel": _args("targets", rule=RELABEL_RULE),
    # internal/component/loki/source/docker/docker.go: Arguments. `labels` is optional in the
    # struct tag (its doc table says "yes"; the file sets it to {} to satisfy both).
    "loki.source.docker": _args(
        "host targets forward_to",
        "labels relabel_rules refresh_interval",
        http_client_config=_args(),
    ),
    # internal/component/loki/process/process.go: forward_to, and `stage.*` (enum) blocks.
    "loki.process": _args(
        "forward_to", **{f"stage.{name}": STAGE_ARGS.get(name, _args()) for name in PROCESS_STAGES}
    ),
    # internal/component/loki/write/write.go (Arguments, WalArguments) and types.go
    # (EndpointOptions, QueueConfig; the squashed HTTP client config is not used here).
    "loki.write": _args(
        "",
        "external_labels max_streams",
        endpoint=_args(
            "url",
            "name batch_wait batch_size remote_timeout headers min_backoff_period max_backoff_period "
            "max_backoff_retries tenant_id retry_on_http_429",
            queue_config=_args(optional="capacity min_shards drain_timeout block_on_overflow"),
        ),
        wal=_args(optional="enabled max_segment_age min_read_frequency max_read_frequency drain_timeout"),
    ),
}

# Exports: discovery.Exports (internal/component/discovery/discovery.go: targets), relabel.Exports
# (output, rules), loki.process and loki.write Exports (receiver); loki.source.docker exports none.
EXPORTS: dict[str, frozenset[str]] = {
    "discovery.docker": frozenset({"targets"}),
    "discovery.relabel": frozenset({"output", "rules"}),
    "loki.source.docker": frozenset(),
    "loki.process": frozenset({"receiver"}),
    "loki.write": frozenset({"receiver"}),
}

# syntax/internal/stdlib/stdlib.go: the `sys` namespace has `env` (os.Getenv; docs/sources/
# reference/stdlib/sys.md: an unset variable gives "").
STDLIB_FUNCTIONS = frozenset({"sys.env"})

# internal/component/loki/process/stages/template.go, extraFunctionMap (beside Go's own).
TEMPLATE_FUNCTIONS = frozenset(
    [
        "ToLower",
        "ToUpper",
        "Replace",
        "Trim",
        "TrimLeft",
        "TrimRight",
        "TrimPrefix",
        "TrimSuffix",
        "TrimSpace",
        "Hash",
        "Sha2Hash",
    ]
)

# Behaviour the pipeline relies on:
# - loki.source.docker (docker.go, Update): a target without __meta_docker_container_id is
#   skipped, so its targets must come from discovery.docker (or keep that label);
# - its tailer (tailer.go, getStreamLabels) applies `relabel_rules` to each stream's labels and
#   then drops every label starting with "__", as Promtail does with relabel_configs;
# - stage.labels (labels.go, validateLabelsConfig): an empty value means "the extracted key of
#   the same name" (Promtail: a null value); a key absent from the extracted map sets no label;
# - stage.template (template.go, Process): a template giving "" removes the key.
SOURCE_DOCKER_NEEDS_LABEL = "__meta_docker_container_id"

# Dockerfile at v1.18.1: FROM ubuntu:noble (so bash, no curl/wget), ENTRYPOINT ["/bin/alloy"],
# CMD ["run", "/etc/alloy/config.alloy", "--storage.path=/var/lib/alloy/data"]; user `alloy`
# uid/gid 473 created (not the default user) and owner of /var/lib/alloy (mode 770).
IMAGE_USER_UID = 473
IMAGE_STORAGE_PATH = "/var/lib/alloy/data"
IMAGE_HAS = frozenset({"bash", "head", "grep"})
# internal/alloycli/cmd_run.go: flags of `alloy run` used here; the HTTP server listens on
# 127.0.0.1:12345 by default (httpListenAddr), internal/service/http/http.go serves /-/ready
# (200 "Alloy is ready." once the component graph is loaded, else 503).
RUN_FLAGS = frozenset(
    {"--storage.path", "--server.http.listen-addr", "--disable-reporting", "--stability.level"}
)
DEFAULT_HTTP_ADDR = "127.0.0.1:12345"
READY_PATH = "/-/ready"


# --- a reader for the subset of Alloy syntax config.alloy uses --------------------------------
@dataclass
class Block:
    name: str
    label: str | None
    attrs: dict[str, Any] = field(default_factory=dict)
    blocks: list[Block] = field(default_factory=list)


@dataclass(frozen=True)
class Ref:
    """A reference such as discovery.docker.containers.targets."""

    path: str


@dataclass(frozen=True)
class Call:
    name: str
    args: tuple[Any, ...]


@dataclass(frozen=True)
class Concat:
    parts: tuple[Any, ...]


_TOKEN = re.compile(
    r"""\s*(?:(?P<comment>//[^\n]*)|(?P<string>"(?:[^"\\]|\\.)*")|(?P<number>\d+(?:\.\d+)?)"""
    r"""|(?P<ident>[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*)|(?P<punct>[{}\[\](),=+]))""",
)


def _tokens(text: str) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    pos = 0
    while pos < len(text):
        if text[pos:].strip() == "":
            break
        match = _TOKEN.match(text, pos)
        if match is None:
            raise ValueError(f"cannot read Alloy syntax at {text[pos : pos + 30]!r}")
        pos = match.end()
        kind = match.lastgroup or ""
        if kind != "comment":
            out.append((kind, match.group(kind)))
    return out


class _Parser:
    def __init__(self, text: str) -> None:
        self.tokens = _tokens(text)
        self.i = 0

    def peek(self, offset: int = 0) -> tuple[str, str]:
        j = self.i + offset
        return self.tokens[j] if j < len(self.tokens) else ("eof", "")

    def take(self, value: str | None = None) -> tuple[str, str]:
        token = self.peek()
        if value is not None and token[1] != value:
            raise ValueError(f"expected {value!r}, got {token[1]!r}")
        self.i += 1
        return token

    def body(self, end: str | None) -> Block:
        block = Block("", None)
        while self.peek()[1] != (end or "") and self.peek()[0] != "eof":
            kind, name = self.take()
            if kind != "ident":
                raise ValueError(f"expected a name, got {name!r}")
            if self.peek()[1] == "=":
                self.take("=")
                if name in block.attrs:
                    raise ValueError(f"attribute {name} set twice")
                block.attrs[name] = self.expr()
                continue
            label = None
            if self.peek()[0] == "string":
                label = _unquote(self.take()[1])
            self.take("{")
            child = self.body("}")
            self.take("}")
            child.name, child.label = name, label
            block.blocks.append(child)
        return block

    def expr(self) -> Any:
        parts = [self.term()]
        while self.peek()[1] == "+":
            self.take("+")
            parts.append(self.term())
        return parts[0] if len(parts) == 1 else Concat(tuple(parts))

    def term(self) -> Any:
        kind, value = self.take()
        if kind == "string":
            return _unquote(value)
        if kind == "number":
            return float(value) if "." in value else int(value)
        if value == "[":
            items = []
            while self.peek()[1] != "]":
                items.append(self.expr())
                if self.peek()[1] == ",":
                    self.take(",")
            self.take("]")
            return items
        if value == "{":
            obj: dict[str, Any] = {}
            while self.peek()[1] != "}":
                key_kind, key = self.take()
                key = _unquote(key) if key_kind == "string" else key
                self.take("=")
                obj[key] = self.expr()
                if self.peek()[1] == ",":
                    self.take(",")
            self.take("}")
            return obj
        if kind == "ident":
            if value in ("true", "false"):
                return value == "true"
            if self.peek()[1] == "(":
                self.take("(")
                args = []
                while self.peek()[1] != ")":
                    args.append(self.expr())
                    if self.peek()[1] == ",":
                        self.take(",")
                self.take(")")
                return Call(value, tuple(args))
            return Ref(value)
        raise ValueError(f"unexpected {value!r}")


def _unquote(token: str) -> str:
    return bytes(token[1:-1], "utf-8").decode("unicode_escape")


def parse(text: str) -> list[Block]:
    """The top-level blocks of an Alloy configuration."""
    parser = _Parser(text)
    root = parser.body(None)
    if root.attrs:
        raise ValueError(f"attributes outside any block: {sorted(root.attrs)}")
    return root.blocks
