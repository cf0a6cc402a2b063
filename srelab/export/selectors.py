"""Label selectors of compose's dashboards and rules, rewritten for the labels the cluster has.

On compose, Prometheus' `job` is the scrape job name (prometheus.yml: web, redis, traefik) and
Promtail's Loki label `service` is the compose service name (web-a, web-b, ...). On the cluster
the ServiceMonitors set `job` (prometheus-operator: the Service's jobLabel value, else the Service
name) and Alloy sets `service` from the pod label app.kubernetes.io/name. A matcher on either label
is evaluated against compose's values and replaced by a matcher selecting what those values
became; a matcher selecting no compose value (a template variable, a stream pushed from outside
the cluster) is left as it is.
"""

from __future__ import annotations

import copy
import json
import re
from typing import Any

from srelab.errors import LabError

# label op "value" inside a PromQL or LogQL selector (values are Go-style double-quoted strings).
MATCHER = re.compile(
    r'\b(?P<label>[A-Za-z_][A-Za-z0-9_]*)\s*(?P<op>=~|!~|!=|=)\s*"(?P<value>(?:[^"\\]|\\.)*)"'
)
CLUSTER_VALUE = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
# Datasource type -> the label whose values differ between compose and the cluster.
LABEL_BY_DATASOURCE = {"prometheus": "job", "loki": "service"}


def _selected(op: str, value: str, known: list[str]) -> set[str]:
    if op in ("=", "!="):
        hit = {value} & set(known)
    else:
        try:
            pattern = re.compile(value)
        except re.error as exc:
            raise LabError(f"selector regex {value!r} does not compile: {exc}") from None
        hit = {k for k in known if pattern.fullmatch(k)}
    return hit if op in ("=", "=~") else set(known) - hit


def _matcher(label: str, op_positive: bool, values: list[str]) -> str:
    for v in values:
        if not CLUSTER_VALUE.match(v):
            raise LabError(f"cluster label value {v!r} would need regex escaping")
    if len(values) == 1:
        return f'{label}{"=" if op_positive else "!="}"{values[0]}"'
    return f'{label}{"=~" if op_positive else "!~"}"{"|".join(values)}"'


def translate(expr: str, label: str, mapping: dict[str, list[str]]) -> str:
    """Rewrite every matcher on `label` in a PromQL/LogQL expression; `mapping` is compose value
    -> cluster values."""
    known = sorted(mapping)

    def replace(match: re.Match[str]) -> str:
        if match.group("label") != label or "$" in match.group("value"):
            return match.group(0)
        op = match.group("op")
        chosen = _selected(op, match.group("value"), known)
        if not chosen:
            return match.group(0)
        wanted = sorted({c for k in chosen for c in mapping[k]})
        if op in ("=", "=~"):
            return _matcher(label, True, wanted)
        # A negative matcher keeps what it did not exclude; that must be expressible on the cluster.
        unwanted = sorted({c for k in set(known) - chosen for c in mapping[k]})
        if set(wanted) & set(unwanted):
            raise LabError(f"{match.group(0)!r} cannot be expressed on the cluster's {label} values")
        return _matcher(label, False, unwanted) if unwanted else match.group(0)

    return MATCHER.sub(replace, expr)


# A series name not preceded by a label/function character, and the matchers in braces after it.
SERIES = re.compile(
    r"(?<![A-Za-z0-9_:])(?P<metric>[A-Za-z_:][A-Za-z0-9_:]*)(?P<rest>\s*\{(?P<body>[^{}]*)\})?"
)
SERVER_UP = "traefik_service_server_up"


def replace_server_up(expr: str, rewrites: dict[str, str]) -> str:
    """Replace each `traefik_service_server_up{service="<compose service>"}` with the cluster's
    selector for the same count (rewrites: compose Traefik service -> selector). That series does
    not exist on the cluster (no Traefik health checks there), so any other use of it is refused:
    a rule on it would always see "no replica up"."""

    def replace(match: re.Match[str]) -> str:
        if match.group("metric") != SERVER_UP:
            return match.group(0)
        found = MATCHER.findall(match.group("body") or "")
        if len(found) == 1 and found[0][:2] == ("service", "=") and found[0][2] in rewrites:
            return rewrites[found[0][2]]
        raise LabError(
            f"{match.group(0)!r}: on the cluster {SERVER_UP} exists for no service (Traefik's CRD provider "
            f'has no health checks); only {SERVER_UP}{{service="<the items router\'s service>"}} is rewritten'
        )

    return SERIES.sub(replace, expr)


def translate_rule_group(
    group: dict[str, Any], maps: dict[str, dict[str, list[str]]], server_up: dict[str, str] | None = None
) -> dict[str, Any]:
    out = copy.deepcopy(group)
    for rule in out.get("rules") or []:
        if isinstance(rule.get("expr"), str):
            expr = translate(rule["expr"], "job", maps["job"])
            if "entrypoint" in maps:
                expr = translate(expr, "entrypoint", maps["entrypoint"])
            rule["expr"] = replace_server_up(expr, server_up or {})
    return out


def _walk(node: Any, ds_type: str | None, maps: dict[str, dict[str, list[str]]]) -> Any:
    if isinstance(node, list):
        return [_walk(v, ds_type, maps) for v in node]
    if not isinstance(node, dict):
        return node
    ds = node.get("datasource")
    if isinstance(ds, dict) and isinstance(ds.get("type"), str):
        ds_type = ds["type"]
    out = {}
    for key, value in node.items():
        label = LABEL_BY_DATASOURCE.get(ds_type or "")
        if key in ("expr", "query") and isinstance(value, str) and label:
            out[key] = translate(value, label, maps[label])
        else:
            out[key] = _walk(value, ds_type, maps)
    return out


def translate_dashboard(text: str, maps: dict[str, dict[str, list[str]]]) -> str:
    """The dashboard JSON with its selectors rewritten; the text unchanged when nothing changes."""
    data = json.loads(text)
    translated = _walk(data, None, maps)
    if translated == data:
        return text
    return json.dumps(translated, indent=2, ensure_ascii=False) + "\n"


def matchers(expr: str, label: str) -> list[tuple[str, str]]:
    """(op, value) of every matcher on `label` (for the checks)."""
    return [(m.group("op"), m.group("value")) for m in MATCHER.finditer(expr) if m.group("label") == label]
