"""Redis HA on the cluster (issue 11, LAB_REDIS_TOPOLOGY=ha, the default): three Redis pods and
three Sentinels spread over the zones, their PodDisruptionBudgets, NetworkPolicy edges, probes, the
items service's Sentinel settings, and the Sentinel/Redis config keys the start scripts rely on.
LAB_REDIS_TOPOLOGY=single still exports the one-node shape (fixtures/compose-single.json).
"""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from srelab.export import validate as v
from tests.export.helpers import FIXTURES

ZONE = "topology.kubernetes.io/zone"
ITEMS = {"app.kubernetes.io/name": "items", "app.kubernetes.io/part-of": "srelab"}
NODES = {"app.kubernetes.io/name": "redis"}
SENTINELS = {"app.kubernetes.io/name": "sentinel"}
PART_OF = {"app.kubernetes.io/part-of": "srelab"}


def find(objects: list[dict[str, Any]], kind: str, name: str) -> dict[str, Any]:
    (obj,) = [o for o in objects if o["kind"] == kind and o["metadata"]["name"] == name]
    return obj


def container(obj: dict[str, Any], name: str) -> dict[str, Any]:
    (c,) = [c for c in obj["spec"]["template"]["spec"]["containers"] if c["name"] == name]
    return c


def compose(model: str = "compose.json") -> dict[str, Any]:
    return json.loads((FIXTURES / model).read_text())["services"]


@pytest.fixture
def ha_objects(rendered) -> list[dict[str, Any]]:
    return [obj for _, obj in rendered.objects]


def test_three_redis_pods_one_per_zone_each_on_its_pvc(ha_objects, params):
    sts = find(ha_objects, "StatefulSet", "redis")
    spec = sts["spec"]
    nodes = [n for n, s in compose().items() if s.get("labels", {}).get("srelab.role") == "redis"]
    assert spec["replicas"] == len(nodes) == 3
    assert spec["podManagementPolicy"] == "Parallel"
    pod = spec["template"]["spec"]
    (spread,) = pod["topologySpreadConstraints"]
    assert spread == {
        "maxSkew": 1,
        "minDomains": 3,
        "topologyKey": ZONE,
        "whenUnsatisfiable": "DoNotSchedule",
        "labelSelector": {"matchLabels": NODES},
    }
    terms = pod["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]
    (expr,) = terms["nodeSelectorTerms"][0]["matchExpressions"]
    assert expr["key"] == ZONE and sorted(expr["values"]) == sorted(params.zones.values())
    (claim,) = spec["volumeClaimTemplates"]
    assert claim["metadata"]["name"] == "data" and claim["spec"]["accessModes"] == ["ReadWriteOnce"]
    # The governing headless Service names every pod, ready or not (a syncing replica too).
    svc = find(ha_objects, "Service", "redis")
    assert svc["spec"]["clusterIP"] == "None" and svc["spec"]["publishNotReadyAddresses"] is True
    assert spec["serviceName"] == "redis"


def test_redis_pods_run_compose_start_script_with_pod_dns_names(ha_objects):
    sts = find(ha_objects, "StatefulSet", "redis")
    redis = container(sts, "redis")
    assert redis["command"] == ["sh", "/etc/redis/ha-node.sh"]
    env = {e["name"]: e.get("value") for e in redis["env"]}
    # POD_NAME first: Kubernetes expands $(VAR) only from variables defined before it.
    assert redis["env"][0] == {"name": "POD_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}}
    assert env["REDIS_NODE"] == "$(POD_NAME)"
    assert env["REDIS_NODE_IP"] == "$(POD_NAME).redis.data.svc.cluster.local"  # replica-announce-ip
    assert env["REDIS_INITIAL_PRIMARY"] == "redis-0.redis.data.svc.cluster.local"
    assert env["SENTINELS"].split() == [
        f"sentinel-{i}.sentinel-headless.data.svc.cluster.local" for i in range(3)
    ]
    assert not re.search(r"\b10\.\d+\.\d+\.\d+\b", json.dumps(redis["env"])), "a compose address is left"
    config = find(ha_objects, "ConfigMap", "redis-config")["data"]
    script = (FIXTURES / "files/services/config/redis/ha-node.sh").read_text()
    assert config["ha-node.sh"].rstrip("\n") == script.rstrip("\n")
    for line in ("masteruser replica", "min-replicas-to-write 1", "min-replicas-max-lag 3"):
        assert line in script
    assert "/run/secrets/redis-replica-password" in script  # masterauth from the Secret file
    mounts = {m["mountPath"]: m for m in redis["volumeMounts"]}
    assert mounts["/etc/redis/ha-node.sh"]["subPath"] == "ha-node.sh"
    items = [i["key"] for i in sts["spec"]["template"]["spec"]["volumes"][1]["secret"]["items"]]
    assert {"redis-replica-password", "sentinel-password", "redis-users.acl"} <= set(items)


@pytest.mark.parametrize("name,main", [("redis", "redis"), ("sentinel", "sentinel")])
def test_non_root_read_only_drop_all(ha_objects, name, main):
    sts = find(ha_objects, "StatefulSet", name)
    pod = sts["spec"]["template"]["spec"]
    assert pod["securityContext"]["runAsUser"] == 999 and pod["securityContext"]["runAsNonRoot"] is True
    c = container(sts, main)
    assert c["securityContext"]["readOnlyRootFilesystem"] is True
    assert c["securityContext"]["capabilities"] == {"drop": ["ALL"]}
    assert c["securityContext"]["allowPrivilegeEscalation"] is False


def test_redis_probes_primary_or_replica_link_up(ha_objects):
    redis = container(find(ha_objects, "StatefulSet", "redis"), "redis")
    ready = " ".join(redis["readinessProbe"]["exec"]["command"])
    assert "role:master|master_link_status:up" in ready and "--user healthcheck" in ready
    # compose's `$$` escape is gone: an exec probe is not expanded by Kubernetes.
    assert "$$" not in ready and '"$(cat /run/secrets/redis-health-password)"' in ready
    # A replica without a primary is unready, never restarted for it.
    assert redis["livenessProbe"]["tcpSocket"] == {"port": "redis"}
    assert redis["startupProbe"]["tcpSocket"] == {"port": "redis"}


def test_sentinel_statefulset_config_copied_to_emptydir(ha_objects, params):
    sts = find(ha_objects, "StatefulSet", "sentinel")
    spec = sts["spec"]
    assert spec["replicas"] == 3 and spec["serviceName"] == "sentinel-headless"
    (spread,) = spec["template"]["spec"]["topologySpreadConstraints"]
    assert spread["topologyKey"] == ZONE and spread["whenUnsatisfiable"] == "DoNotSchedule"
    assert spread["labelSelector"] == {"matchLabels": SENTINELS}
    c = container(sts, "sentinel")
    assert c["command"] == ["sh", "/etc/redis/sentinel.sh"]
    env = {e["name"]: e.get("value") for e in c["env"]}
    assert env["SENTINEL_IP"] == "$(POD_NAME).sentinel-headless.data.svc.cluster.local"  # announce-ip
    assert env["REDIS_NODES"].split() == [f"redis-{i}.redis.data.svc.cluster.local" for i in range(3)]
    # Quorum and timings from compose, not from the export.
    sentinel_a = compose()["sentinel-a"]["environment"]
    for key in (
        "SENTINEL_QUORUM",
        "SENTINEL_DOWN_AFTER_MS",
        "SENTINEL_FAILOVER_TIMEOUT_MS",
        "REDIS_MASTER_NAME",
    ):
        assert env[key] == sentinel_a[key]
    volumes = {vol["name"]: vol for vol in spec["template"]["spec"]["volumes"]}
    assert volumes["config"]["configMap"]["name"] == "sentinel-config"
    assert volumes["tmp"]["emptyDir"]["medium"] == "Memory"
    assert [i["key"] for i in volumes["secrets"]["secret"]["items"]] == [
        "redis-sentinel-password",
        "sentinel-password",
    ]
    script = find(ha_objects, "ConfigMap", "sentinel-config")["data"]["sentinel.sh"]
    assert 'cp /etc/redis/sentinel.conf "$conf"' in script and "conf=/tmp/sentinel.conf" in script
    assert 'echo "requirepass $sentinel_pw"' in script  # requirepass from the Secret file
    assert " ".join(c["readinessProbe"]["exec"]["command"]).count("PONG") == 1
    assert c["livenessProbe"]["tcpSocket"] == {"port": "sentinel"}
    client = find(ha_objects, "Service", "sentinel")
    assert client["spec"]["ports"][0]["port"] == 26379 and client["spec"].get("clusterIP") != "None"
    headless = find(ha_objects, "Service", "sentinel-headless")
    assert headless["spec"]["clusterIP"] == "None" and headless["spec"]["publishNotReadyAddresses"] is True


def test_pod_disruption_budgets(ha_objects):
    redis = find(ha_objects, "PodDisruptionBudget", "redis")["spec"]
    assert redis["maxUnavailable"] == 1 and redis["selector"] == {"matchLabels": NODES}
    sentinel = find(ha_objects, "PodDisruptionBudget", "sentinel")["spec"]
    assert sentinel["minAvailable"] == 2 and sentinel["selector"] == {"matchLabels": SENTINELS}
    assert v.check_stateful_disruption(ha_objects) == []
    without = [
        o
        for o in ha_objects
        if not (o["kind"] == "PodDisruptionBudget" and o["metadata"]["name"] == "sentinel")
    ]
    assert any("StatefulSet/data/sentinel" in p for p in v.check_stateful_disruption(without))


# (source namespace, source pods, destination pods, port): every flow HA needs.
EDGES = [
    ("backend", ITEMS, SENTINELS, 26379),
    ("backend", ITEMS, NODES, 6379),
    ("data", SENTINELS, NODES, 6379),
    ("data", NODES, SENTINELS, 26379),
    ("data", SENTINELS, SENTINELS, 26379),
    ("data", NODES, NODES, 6379),
    ("monitoring", {"app.kubernetes.io/name": "prometheus"}, NODES, 9121),
]


def test_network_policy_edges(ha_objects):
    policies = [o for o in ha_objects if o["kind"] == "NetworkPolicy"]
    for src_ns, src, dst, port in EDGES:
        assert v._admits(policies, "data", dst | PART_OF, src_ns, src | PART_OF, port), (
            src_ns,
            src,
            dst,
            port,
        )
    # And nothing else in: not the items pods to the exporter, nor Traefik or Prometheus to Sentinel.
    assert not v._admits(policies, "data", NODES, "backend", ITEMS, 9121)
    assert not v._admits(policies, "data", SENTINELS, "traefik", {"app.kubernetes.io/name": "traefik"}, 26379)
    assert not v._admits(
        policies, "data", SENTINELS, "monitoring", {"app.kubernetes.io/name": "prometheus"}, 26379
    )
    assert not v._admits(policies, "data", SENTINELS, "backend", ITEMS, 6379)


def test_items_get_the_sentinel_settings_from_compose(ha_objects):
    web = compose()["web-a"]["environment"]
    for name in ("items-read-a", "items-write-c"):
        env = {
            e["name"]: e.get("value") for e in container(find(ha_objects, "Deployment", name), "items")["env"]
        }
        sentinels = env["REDIS_SENTINELS"].split(",")
        assert sentinels == [f"sentinel-{i}.sentinel-headless.data.svc.cluster.local:26379" for i in range(3)]
        assert len(sentinels) == len(web["REDIS_SENTINELS"].split(","))
        for key in (
            "REDIS_MASTER_NAME",
            "REDIS_SENTINEL_PASSWORD_FILE",
            "REDIS_MIN_REPLICA_ACKS",
            "REDIS_WAIT_TIMEOUT_MS",
        ):
            assert env[key] == web[key], key


def test_create_secrets_writes_the_ha_secrets(rendered):
    script = rendered.files["create-secrets.sh"]
    for key, variable in (
        ("redis-replica-password", "REDIS_REPLICA_PASSWORD"),
        ("redis-sentinel-password", "REDIS_SENTINEL_PASSWORD"),
        ("sentinel-password", "SENTINEL_PASSWORD"),
    ):
        assert f'"${{{variable}:?{variable} is not set}}" >"$workdir/data/{key}"' in script
    assert '>"$workdir/backend/sentinel-password"' in script  # the items pods ask the Sentinels


def test_exporter_per_redis_pod(ha_objects):
    sts = find(ha_objects, "StatefulSet", "redis")
    exporter = container(sts, "exporter")
    assert {e["name"]: e.get("value") for e in exporter["env"]}["REDIS_ADDR"] == "redis://localhost:6379"
    (endpoint,) = find(ha_objects, "ServiceMonitor", "redis")["spec"]["endpoints"]
    assert endpoint["relabelings"] == [
        {"sourceLabels": ["__meta_kubernetes_pod_name"], "targetLabel": "instance"},
        # The rules' writable-primary count needs it, as compose's file_sd targets give it.
        {"targetLabel": "min_replicas_to_write", "replacement": "1"},
    ]


def test_single_redis_scrape_says_no_replica_is_needed(single_render):
    objects = [obj for _, obj in single_render.objects]
    (endpoint,) = find(objects, "ServiceMonitor", "redis")["spec"]["endpoints"]
    # Without the label the rule would require a replica and RedisNoWritablePrimary would fire.
    assert {"targetLabel": "min_replicas_to_write", "replacement": "0"} in endpoint["relabelings"]


# Config keys the Sentinels are started with (sentinel.conf + the lines sentinel.sh appends) and the
# ones ha-node.sh adds to redis.conf, each with where Redis 7.0 documents it:
# SENTINEL_DOCS = https://redis.io/docs/latest/operate/oss_and_stack/management/sentinel/ and the
# example https://github.com/redis/redis/blob/7.0/sentinel.conf; REDIS_CONF =
# https://github.com/redis/redis/blob/7.0/redis.conf (Sentinel is redis-server --sentinel and takes
# the server's general directives as well).
SENTINEL_KEYS = {
    "port": "redis 7.0 sentinel.conf: port <sentinel-port>",
    "dir": "redis 7.0 sentinel.conf: dir <working-directory>",
    "protected-mode": "redis 7.0 sentinel.conf header: protected-mode no",
    "loglevel": "redis 7.0 redis.conf GENERAL: loglevel",
    "requirepass": "7.0 sentinel.conf: requirepass <password> (Sentinel docs: Sentinel authentication)",
    "sentinel resolve-hostnames": "Sentinel docs: IP Addresses and DNS names (6.2+)",
    "sentinel announce-hostnames": "Sentinel docs: IP Addresses and DNS names (6.2+)",
    "sentinel announce-ip": "7.0 sentinel.conf: sentinel announce-ip <ip> (a name with announce-hostnames)",
    "sentinel monitor": "7.0 sentinel.conf: sentinel monitor <master-name> <ip> <redis-port> <quorum>",
    "sentinel auth-user": "7.0 sentinel.conf: sentinel auth-user <master-name> <username> (Sentinel ACL)",
    "sentinel auth-pass": "redis 7.0 sentinel.conf: sentinel auth-pass <master-name> <password>",
    "sentinel down-after-milliseconds": "7.0 sentinel.conf: down-after-milliseconds <master-name> <ms>",
    "sentinel failover-timeout": "redis 7.0 sentinel.conf: sentinel failover-timeout <master-name> <ms>",
    "sentinel parallel-syncs": "7.0 sentinel.conf: sentinel parallel-syncs <master-name> <numreplicas>",
}
NODE_KEYS = {
    "replica-announce-ip": "7.0 redis.conf REPLICATION: replica-announce-ip (Sentinel docs: may be a name)",
    "masteruser": "redis 7.0 redis.conf REPLICATION: masteruser <username>",
    "masterauth": "redis 7.0 redis.conf REPLICATION: masterauth <master-password>",
    "min-replicas-to-write": "7.0 redis.conf REPLICATION: min-replicas-to-write <number of replicas>",
    "min-replicas-max-lag": "7.0 redis.conf REPLICATION: min-replicas-max-lag <number of seconds>",
    "repl-diskless-sync-delay": "7.0 redis.conf REPLICATION: repl-diskless-sync-delay <seconds> (default 5)",
    "replicaof": "redis 7.0 redis.conf REPLICATION: replicaof <masterip> <masterport>",
}


def _directive(line: str) -> str:
    words = line.split()
    return " ".join(words[:2]).lower() if words[0].lower() == "sentinel" else words[0].lower()


def _echoed(script: str) -> list[str]:
    """The config lines a start script appends: the `echo "<directive> ..."` lines of its
    `{ ... } >>"$conf"` block."""
    (block,) = re.findall(r'^\{\n(.*?)^\} >>"\$conf"', script, re.S | re.M)
    return [m.group(1) for m in re.finditer(r'echo "([a-z][a-z-]*(?: [a-z][a-z-]*)?)[ "$]', block)]


def test_sentinel_config_keys_are_redis_7_0_directives(ha_objects):
    data = find(ha_objects, "ConfigMap", "sentinel-config")["data"]
    conf = [ln for ln in data["sentinel.conf"].splitlines() if ln.strip() and not ln.lstrip().startswith("#")]
    used = {_directive(ln) for ln in conf} | {_directive(ln) for ln in _echoed(data["sentinel.sh"])}
    assert used <= set(SENTINEL_KEYS), sorted(used - set(SENTINEL_KEYS))
    assert {"sentinel monitor", "sentinel announce-ip", "requirepass", "sentinel auth-user"} <= used
    # Hostnames on, and before the `sentinel monitor` the script appends (a hostname monitor target
    # is refused unless resolve-hostnames is already on when the line is read).
    assert "sentinel resolve-hostnames yes" in conf and "sentinel announce-hostnames yes" in conf
    node = find(ha_objects, "ConfigMap", "redis-config")["data"]["ha-node.sh"]
    node_used = {_directive(ln) for ln in _echoed(node)}
    assert node_used == set(NODE_KEYS), node_used ^ set(NODE_KEYS)


def test_single_topology_keeps_the_one_node_shape(single_render, params):
    objects = [obj for _, obj in single_render.objects]
    sts = find(objects, "StatefulSet", "redis")
    assert sts["spec"]["replicas"] == 1 and "podManagementPolicy" not in sts["spec"]
    pod = sts["spec"]["template"]["spec"]
    assert "topologySpreadConstraints" not in pod
    (expr,) = pod["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"][
        "nodeSelectorTerms"
    ][0]["matchExpressions"]
    assert expr["values"] == [params.zones[params.node_pools.data.zone]]
    redis = container(sts, "redis")
    assert redis["args"] == ["redis-server", "/etc/redis/redis.conf"] and "command" not in redis
    assert not [o for o in objects if o["metadata"]["name"].startswith("sentinel")]
    assert not [
        o for o in objects if o["kind"] == "PodDisruptionBudget" and o["metadata"]["namespace"] == "data"
    ]
    names = {o["metadata"]["name"] for o in objects if o["kind"] == "NetworkPolicy"}
    assert "allow-items-to-sentinel" not in names and "allow-redis-to-redis" not in names
    env = {e["name"] for e in container(find(objects, "Deployment", "items-read-a"), "items")["env"]}
    assert "REDIS_SENTINELS" not in env
    assert "Redis high availability" not in single_render.files["CONVERSION.md"]
    assert v.problems(objects, params.kubernetes_version, params.zones) == []


def test_conversion_says_what_changed_for_ha(fixture_render):
    text = fixture_render.files["CONVERSION.md"]
    assert "## Redis high availability (LAB_REDIS_TOPOLOGY=ha)" in text
    assert "20 s to fail" in text and "resolve-hostnames yes" in text and "emptyDir" in text
    for name in ("redis-b", "redis-c", "sentinel-b", "sentinel-c"):
        assert f"| {name} | (service) |" in text
    assert "| review |" not in "\n".join(ln for ln in text.splitlines() if "redis" in ln or "sentinel" in ln)
