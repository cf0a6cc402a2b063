"""The conversion summary: every compose service and every key it sets, and what became of it.

The builder (model.py) records what it made of each key (notes.py); this module only lays those
notes out. Nothing is dropped silently: a key no note covers is listed as "review" with its
value, so a new compose feature shows up in CONVERSION.md (and the CLI table) until mapped.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from rich.table import Table

from srelab.export.compose import EMPTY
from srelab.export.model import NS_DATA, Context
from srelab.export.notes import (
    COMMON,
    DROPPED,
    MAPPED,
    NOT_EXPORTED,
    REPLACED,
    REVIEW,
    REVIEW_TEXT,
    SERVICE_KEY,
    Note,
)

UNKNOWN_SERVICE = Note("unknown service: not exported, review", REVIEW)
UNKNOWN_KEY = Note(REVIEW_TEXT, REVIEW)
# Compose keys listed one entry a row (each variable, volume, secret file), unless one note covers the key.
SPLIT_KEYS = ("environment", "volumes", "secrets")


@dataclass(frozen=True)
class Row:
    service: str
    key: str
    compose: str
    kubernetes: str
    status: str


def _short(value: Any, limit: int = 60) -> str:
    if isinstance(value, dict):
        text = ", ".join(f"{k}={v}" if not isinstance(v, dict | list) else k for k, v in value.items())
    elif isinstance(value, list):
        text = ", ".join(
            str(v.get("target") or v.get("source") or v) if isinstance(v, dict) else str(v) for v in value
        )
    else:
        text = str(value)
    text = text.replace("|", "\\|").replace("\n", " ")
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _redact(value: Any, secrets: dict[str, str]) -> Any:
    if isinstance(value, dict):
        return {k: _redact(v, secrets) for k, v in value.items()}
    if isinstance(value, list):
        return [_redact(v, secrets) for v in value]
    if isinstance(value, str) and value in secrets:
        return f"${{{secrets[value]}}}"
    return value


def _relative(value: Any, base: str) -> Any:
    """Absolute paths under the repository, shown relative (the summary must not vary by checkout)."""
    if not base:
        return value
    if isinstance(value, dict):
        return {k: _relative(v, base) for k, v in value.items()}
    if isinstance(value, list):
        return [_relative(v, base) for v in value]
    if isinstance(value, str) and value.startswith(base.rstrip("/") + "/"):
        return value[len(base.rstrip("/")) + 1 :]
    return value


def _row(service: str, key: str, note: Note, shown: str) -> Row:
    return Row(service, key, shown if note.compose is None else note.compose, note.text, note.status)


def _split_rows(name: str, key: str, value: Any, notes: dict[str, Note]) -> list[Row]:
    """One row per variable (sorted), volume or secret file, each with the note recorded for it."""
    rows = []
    if key == "environment":
        for var in sorted(value):
            note = notes.get(f"environment.{var}", UNKNOWN_KEY)
            # The group row shows the first replica's value of what differs per replica.
            shown = _short(value[var], 30) + (" (per replica)" if note.per_replica and "," in name else "")
            rows.append(_row(name, f"environment.{var}", note, shown))
    elif key == "volumes":
        for vol in value:
            target = vol.get("target", "")
            note = notes.get(f"volumes:{target}", UNKNOWN_KEY)
            rows.append(_row(name, f"volumes:{target}", note, str(vol.get("type", "volume"))))
    else:
        for entry in value:
            secret = str(entry.get("source") if isinstance(entry, dict) else entry)
            rows.append(_row(name, f"secrets.{secret}", notes.get(f"secrets.{secret}", UNKNOWN_KEY), "file"))
    return rows


def _key_rows(name: str, key: str, value: Any, notes: dict[str, Note]) -> list[Row]:
    """The rows of one compose key: its note, then the notes recorded for parts of it
    (`labels.<label>`, `deploy.resources.limits`); a key no note covers: COMMON, else review."""
    note = notes.get(key)
    # Secret files are always named one a row: each is a Secret key someone has to create.
    split = key == "secrets" or any(k.startswith((f"{key}.", f"{key}:")) for k in notes)
    if key in SPLIT_KEYS and note is None and split:
        return _split_rows(name, key, value, notes)
    rows = [] if note is None else [_row(name, key, note, _short(value))]
    if key not in SPLIT_KEYS:
        for child, part in notes.items():
            if child.startswith(f"{key}.") and not part.trailing:
                sub = child[len(key) + 1 :]
                shown = _short(value.get(sub)) if isinstance(value, dict) and sub in value else ""
                rows.append(_row(name, child, part, shown))
    if rows:
        return rows
    return [_row(name, key, COMMON.get(key, UNKNOWN_KEY), _short(value))]


def _service_rows(name: str, svc: dict[str, Any], notes: dict[str, Note]) -> list[Row]:
    keys = [k for k, v in svc.items() if v not in EMPTY]
    head = notes.get(SERVICE_KEY, UNKNOWN_SERVICE if not notes else None)
    if head is not None and head.compose is None:
        # One row stands for the whole service (not exported, or a further pod of a StatefulSet).
        return [Row(name, SERVICE_KEY, f"keys: {', '.join(keys)}", head.text, head.status)]
    rows = [] if head is None else [_row(name, SERVICE_KEY, head, "")]
    for key in keys:
        if head is None or key != "profiles":  # a service row names the profiles already
            rows += _key_rows(name, key, svc[key], notes)
    rows += [Row(name, key, "", n.text, n.status) for key, n in sorted(notes.items()) if n.trailing]
    return rows


def conversion_rows(
    services: dict[str, dict[str, Any]], ctx: Context, secrets: dict[str, str], base: str = ""
) -> list[Row]:
    """Rows for every compose service; the identical web replicas share one set of rows (first)."""
    webs = sorted(ctx.values["web"]["compose_services"])
    order = [(", ".join(webs), webs[0])] + [(n, n) for n in sorted(services) if n not in webs]
    rows: list[Row] = []
    for shown_name, name in order:
        svc = _relative(_redact(services[name], secrets), base)
        rows += _service_rows(shown_name, svc, ctx.notes.of(name))
    return rows


def markdown(rows: list[Row], ctx: Context, secret_keys: dict[str, list[str]], charts: list[dict]) -> str:
    p = ctx.params
    lines = [
        "# Compose -> GKE conversion",
        "",
        "Rendered by `srelab export k8s` from the compose model and `k8s-export/params.yaml`. Every "
        "compose key is listed: `mapped` (same meaning), `replaced` (another mechanism does the job), "
        "`dropped` (no Kubernetes meaning), `not exported` (profile left out), `review` (unknown).",
        "",
        f"- Kubernetes schema: v{p.kubernetes_version}; region {p.gcp.region}; zones "
        + ", ".join(f"{k} -> {z}" for k, z in p.zones.items()),
        f"- Hosts: items `{p.items_host}`, Grafana `{p.grafana_host}`"
        + (f" (TLS secret `{p.tls_secret}`)" if p.tls_secret else " (plain HTTP; set tls_secret for TLS)"),
        f"- Images: items `{ctx.values['web']['image']}`",
        "",
        "## Secrets to create (`create-secrets.sh`, from repository secrets in CI)",
        "",
        "| namespace | Secret | keys |",
        "|---|---|---|",
    ]
    for ns, keys in secret_keys.items():
        lines.append(f"| {ns} | {p.secret_name} | {', '.join(keys)} |")
    lines += [
        "",
        "## Helm charts (`helm/install.sh`)",
        "",
        "| chart | version | namespace |",
        "|---|---|---|",
    ]
    for c in charts:
        lines.append(f"| {c['chart']} | {c['version']} | {c['namespace']} |")
    lines += _redis_ha_notes(ctx)
    lines += _detection_notes(ctx)
    lines += [
        "",
        "## Compose features",
        "",
        "| service | compose key | compose | Kubernetes | status |",
        "|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(f"| {r.service} | {r.key} | {r.compose} | {r.kubernetes} | {r.status} |")
    return "\n".join(lines) + "\n"


def _redis_ha_notes(ctx: Context) -> list[str]:
    """What changed from compose's Redis HA topology, and why."""
    r = ctx.values["redis"]
    s = r["sentinel"]
    if not r["ha"] or not s:
        return []
    pods = ", ".join(m["pod"] for m in r["members"])
    return [
        "",
        "## Redis high availability (LAB_REDIS_TOPOLOGY=ha)",
        "",
        f"- Nodes: StatefulSet `redis` ({pods}; compose "
        f"{', '.join(m['compose'] for m in r['members'])}), Sentinels: StatefulSet `sentinel` "
        f"({s['replicas']} pods), both in `{NS_DATA}` on the data pool, one pod of each per zone "
        "(topologySpreadConstraints on topology.kubernetes.io/zone, DoNotSchedule, minDomains). Each "
        "node keeps its AOF on its own PVC (data-redis-<n>); a zonal disk keeps its pod in that zone.",
        "- Addresses: compose gives nodes and Sentinels fixed backend addresses because Docker's DNS on "
        "an internal network takes 20 s to fail for a stopped container. On the cluster every pod has "
        "a stable DNS name (headless Services `redis` and `sentinel-headless`, publishNotReadyAddresses: "
        "a pod is named as soon as it has an address); the compose addresses in the environment "
        f"become those names (e.g. `{r['members'][0]['dns']}`), and sentinel.conf turns on "
        "`sentinel resolve-hostnames yes` and `sentinel announce-hostnames yes` (Sentinel 6.2+), so "
        "nodes announce (replica-announce-ip) and Sentinels report names, not pod IPs that change on "
        "every restart.",
        "- Start logic: compose's own scripts (ConfigMaps redis-config and sentinel-config): a node asks "
        "the Sentinels for the primary, else pod 0 is primary; masteruser/masterauth from the Secret "
        "file; min-replicas-to-write 1, min-replicas-max-lag 3. All pods start at once "
        "(podManagementPolicy Parallel); a Sentinel started before pod 0 has a name exits "
        "(it cannot resolve the monitored host) and is restarted.",
        "- Sentinel state: compose's tmpfs -> an emptyDir (medium Memory). Sentinel rewrites its copy of "
        "the config there; it is not kept across restarts, a restarted Sentinel learns the current "
        "epoch and primary from its peers.",
        "- Probes: readiness = compose's healthcheck (primary, or replica with its link up); startup and "
        "liveness are TCP only, so a replica that cannot reach a primary is unready, never restarted.",
        "- Disruption: PodDisruptionBudget redis maxUnavailable 1, sentinel minAvailable "
        f"{s['min_available']}.",
        "- NetworkPolicies: items -> sentinel:26379 and redis:6379; sentinel <-> redis; sentinel <-> "
        "sentinel; redis <-> redis (replication); Prometheus -> each pod's exporter. The exporter is a "
        "sidecar of every node (REDIS_ADDR localhost): compose's one multi-target exporter becomes one "
        "exporter per pod, scraped by ServiceMonitor redis (`instance` = the pod name).",
        "- The items Deployments: REDIS_SENTINELS lists the three Sentinel pod names (compose lists the "
        "three addresses); REDIS_MASTER_NAME, REDIS_MIN_REPLICA_ACKS, REDIS_WAIT_TIMEOUT_MS and "
        "REDIS_SENTINEL_PASSWORD_FILE as in compose.",
    ]


def _detection_notes(ctx: Context) -> list[str]:
    """What the alert and SLO rules read on the cluster, and where that differs from compose."""
    if not ctx.values.get("alerting") and not ctx.values.get("blackbox"):
        return []
    entry = ctx.values["label_maps"].get("entrypoint", {}).get("web", ["web"])[0]
    lines = [
        "",
        "## Detection: rules on the cluster",
        "",
        "- `job` matchers: compose job -> the cluster's job ("
        + ", ".join(f"{k} -> {'|'.join(v)}" for k, v in sorted(ctx.values["label_maps"]["job"].items()))
        + "); the Probes set `job` with `spec.jobName: blackbox` and keep compose's `module` label.",
        '- `traefik_service_server_up{service="items@docker"}` -> `kube_deployment_status_replicas_ready` '
        "of the items Deployments: Traefik's CRD provider has no health checks, so on the cluster that "
        "series does not exist; the sum of ready pods is what the sum of up servers counts on compose "
        "(the pods' readinessProbe is Traefik's readiness check there). kube-state-metrics refreshes it "
        "from the API and is scraped at Prometheus' scrapeInterval (its ServiceMonitor sets none), so "
        "NoReplicaReady can fire up to one such interval later than on compose.",
        f'- `entrypoint="web"` -> `entrypoint="{entry}"`, the entrypoint the items routers listen on. '
        f"Differs: Grafana (`{ctx.params.grafana_host}`) is routed on the same entrypoint, so the SLO "
        "ratios (rules/slo.yml) count its requests too; Traefik's entrypoint metrics have no host label "
        "to leave them out.",
        "- Differs: thresholds written for compose's 3 web replicas (WebReplicasMissing: fewer than 3 "
        "scraped) count items pods there, at least one READ and one WRITE per zone (HPA-scaled), so "
        "they fire later; review them when the zones or HPA bounds change.",
        "- Alertmanager: AlertmanagerConfig `srelab` routes every alert of the PrometheusRule by name to "
        "compose's webhook receiver (`alert-sink`); the chart's own alerts keep the chart's routing. "
        "- Cadence: rule groups keep compose's intervals, and the items, Redis and Traefik ServiceMonitors "
        "and the Probes compose's scrape intervals, so the 10 s rate windows and `detection_delay_s` hold "
        "(kube-state-metrics: Prometheus' scrapeInterval, the chart's ServiceMonitor sets none).",
    ]
    return lines


def table(rows: list[Row], everything: bool = False) -> Table:
    """What did not carry over as is (replaced, dropped, not exported, review); `everything` adds
    the one-to-one mappings, which CONVERSION.md always lists."""
    colours = {MAPPED: "green", REPLACED: "cyan", DROPPED: "yellow", NOT_EXPORTED: "dim", REVIEW: "bold red"}
    shown = rows if everything else [r for r in rows if r.status != MAPPED]
    mapped = len(rows) - len(shown)
    out = Table(
        title="compose -> GKE conversion",
        caption=f"{mapped} more compose keys mapped one to one: see CONVERSION.md" if mapped else None,
    )
    out.add_column("service", overflow="fold", ratio=2)
    out.add_column("compose key", overflow="fold", ratio=3)
    out.add_column("Kubernetes", overflow="fold", ratio=6)
    out.add_column("status", no_wrap=True)
    for r in shown:
        out.add_row(
            r.service,
            r.key,
            r.kubernetes.replace("\\|", "|"),
            f"[{colours.get(r.status, 'white')}]{r.status}[/]",
        )
    return out
