"""Live proof of the stack's least-privilege controls (docs/security.md, part 2): the Docker
socket proxy, Host rules and basic auth at Traefik, the proxy's body limit, Redis ACL users.

Real Docker, real Traefik, real Redis: the shared live stack of tests/lab.py."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import pytest
import requests
from python_on_whales import docker as docker_cli

from tests.lab import Lab, wait_until

pytestmark = pytest.mark.live

# Run inside a throwaway container on the socket proxy's network, like Traefik's own calls.
PROBE = r"""
import http.client, json, sys, time
def call(method, path, body=None):
    conn = http.client.HTTPConnection("socket-proxy", 2375, timeout=5)
    conn.request(method, path, body=body, headers={"Content-Type": "application/json"} if body else {})
    response = conn.getresponse()
    raw = response.read()
    names = None
    if path.endswith("/containers/json") and response.status == 200:
        names = [c["Names"][0].lstrip("/") for c in json.loads(raw)]
    return [response.status, raw[:300].decode(errors="replace"), names]
now = int(time.time())
calls = {
    "containers": ("GET", "/v1.41/containers/json", None),
    "events": ("GET", f"/v1.41/events?since={now - 30}&until={now}", None),
    "ping": ("GET", "/_ping", None),
    "create": ("POST", "/v1.41/containers/create", b'{"Image": "none", "Cmd": ["id"]}'),
    "exec": ("POST", "/v1.41/containers/" + sys.argv[1] + "/exec", b'{"Cmd": ["id"]}'),
    "kill": ("POST", "/containers/" + sys.argv[1] + "/kill", None),
    "delete": ("DELETE", "/containers/" + sys.argv[1], None),
    "images": ("GET", "/images/json", None),
    "info": ("GET", "/info", None),
    "escape": ("GET", "/containers/json/../../images/json", None),
    "encoded-escape": ("GET", "/containers/x%2F..%2F..%2Fimages/json", None),
}
print(json.dumps({name: call(*args) for name, args in calls.items()}))
"""


@pytest.fixture(scope="module")
def socket_calls(lab: Lab) -> dict[str, Any]:
    """Status and body of each Docker API call made through socket-proxy from its network."""
    redis = lab.container("redis")
    victim, started_at = redis.id, str(redis.state.started_at)
    network = f"{lab.settings.project}_dockerapi"  # type: ignore[attr-defined]
    out = docker_cli.run(
        lab.settings.web_image,  # type: ignore[attr-defined]
        ["/opt/venv/bin/python", "-c", PROBE, victim],
        remove=True,
        networks=[network],
        user="65534:65534",
        entrypoint="",
    )
    calls = json.loads(str(out).strip().splitlines()[-1])
    return {**calls, "_redis_started_at": started_at}


def test_socket_proxy_forwards_the_read_only_calls(socket_calls: dict[str, Any]) -> None:
    status, _, names = socket_calls["containers"]
    assert status == 200
    assert any(name.endswith("-redis-1") for name in names), names
    assert socket_calls["events"][0] == 200
    assert socket_calls["ping"][:2] == [200, "OK"]


@pytest.mark.parametrize(
    "call", ["create", "exec", "kill", "delete", "images", "info", "escape", "encoded-escape"]
)
def test_socket_proxy_refuses_everything_else(socket_calls: dict[str, Any], call: str) -> None:
    status, body, _ = socket_calls[call]
    assert status == 403, (status, body)


def test_the_refused_calls_did_not_reach_the_engine(lab: Lab, socket_calls: dict[str, Any]) -> None:
    """The kill and delete aimed at Redis: it still runs, started when it was before them."""
    redis = lab.container("redis")
    started_before = socket_calls["_redis_started_at"]
    redis.reload()
    assert redis.state.running and str(redis.state.started_at) == started_before


def test_only_the_socket_proxy_mounts_the_docker_socket(lab: Lab) -> None:
    holders = sorted(
        c.config.labels["com.docker.compose.service"]
        for c in lab.stack.containers()  # type: ignore[attr-defined]
        if any("docker.sock" in (m.source or "") for m in c.mounts)
    )
    assert holders == ["socket-proxy"]
    proxy = lab.container("socket-proxy")
    (network,) = proxy.network_settings.networks
    assert network.endswith("_dockerapi")
    assert not proxy.network_settings.ports, "the socket proxy publishes nothing"
    assert proxy.config.user.split(":")[0] not in ("", "0", "root")
    assert proxy.host_config.cap_drop == ["ALL"] and proxy.host_config.readonly_rootfs


def _dashboard(lab: Lab, path: str, **kw: Any) -> requests.Response:
    settings: Any = lab.settings
    return requests.get(settings.url(settings.lab_dashboard_port, path), timeout=5, **kw)


def _credentials(lab: Lab) -> tuple[str, str]:
    settings: Any = lab.settings
    assert settings.traefik_dashboard_password, "compose/.env has TRAEFIK_DASHBOARD_PASSWORD"
    return settings.traefik_dashboard_user, settings.traefik_dashboard_password


@pytest.mark.parametrize("path", ["/dashboard/", "/api/rawdata", "/api/overview"])
def test_dashboard_and_api_need_the_password(lab: Lab, path: str) -> None:
    anonymous = _dashboard(lab, path)
    assert anonymous.status_code == 401
    assert anonymous.headers.get("WWW-Authenticate", "").startswith("Basic")
    user, password = _credentials(lab)
    assert _dashboard(lab, path, auth=(user, password + "x")).status_code == 401
    assert _dashboard(lab, path, auth=(user, password)).status_code == 200


@pytest.mark.parametrize("host", ["attacker.example", "rebind.attacker.example:80", "localhost.evil"])
def test_a_foreign_host_header_gets_404(lab: Lab, host: str) -> None:
    """DNS rebinding: a page whose name now resolves to 127.0.0.1 still sends its own Host."""
    assert lab.get("/items?limit=1", headers={"Host": host}).status_code == 404
    user, password = _credentials(lab)
    assert _dashboard(lab, "/api/rawdata", headers={"Host": host}, auth=(user, password)).status_code == 404


def test_every_configured_host_name_is_served(lab: Lab) -> None:
    settings: Any = lab.settings
    assert "traefik" in settings.hosts, "internal callers (blackbox probes) use Host: traefik"
    for host in settings.hosts:
        response = lab.get("/items?limit=1", headers={"Host": f"{host}:{settings.lab_http_port}"})
        assert response.status_code == 200, (host, response.status_code)


@pytest.mark.parametrize("path", ["/metrics", "/metrics/", "/metrics?x=1"])
def test_replica_metrics_are_not_served_to_clients(lab: Lab, path: str) -> None:
    response = lab.get(path)
    assert response.status_code == 404
    assert "items_http_requests_total" not in response.text
    assert "X-Served-By" not in response.headers, "Traefik answered, no replica"


def test_declared_body_over_the_limit_is_413_at_the_proxy(lab: Lab) -> None:
    response = lab.post("/items", data=b"x" * 20_000, headers={"Content-Type": "application/json"})
    assert response.status_code == 413
    assert "X-Served-By" not in response.headers, "refused by the proxy, before any replica"
    assert response.json()["error"] == "payload too large"


def test_chunked_body_over_the_limit_is_413_from_the_replica(lab: Lab) -> None:
    def chunks() -> Iterator[bytes]:
        for _ in range(64):
            yield b"x" * 1024

    response = lab.post("/items", data=chunks(), headers={"Content-Type": "application/json"})
    assert response.status_code == 413
    assert response.headers.get("X-Served-By") in {"web-a", "web-b", "web-c"}
    assert response.json()["error"] == "payload too large"


def test_a_body_within_the_limit_still_passes(lab: Lab) -> None:
    name = "n" * 200
    started = time.monotonic()
    response = lab.post("/items", json={"name": name})
    assert response.status_code == 201, response.text
    assert response.json()["name"] == name and time.monotonic() - started < 5


# Run in a replica with its own settings (REDIS_USERNAME, REDIS_PASSWORD_FILE): the app's user.
APP_USER_PROBE = r"""
import json, redis
from items_service.config import Settings
from items_service.store import make_redis
client = make_redis(Settings.from_env())
out = {}
calls = [["PING"], ["FLUSHALL"], ["FLUSHDB"], ["CONFIG", "GET", "*"], ["CONFIG", "SET", "appendfsync", "no"],
         ["KEYS", "*"], ["EVAL", "return 1", "0"], ["GET", "not-an-items-key"], ["ACL", "LIST"],
         ["SHUTDOWN", "NOSAVE"], ["HGET", "items:data", "nothing"]]
for args in calls:
    try:
        out[" ".join(args[:2])] = ["ok", str(client.execute_command(*args))]
    except redis.RedisError as exc:
        out[" ".join(args[:2])] = [type(exc).__name__, str(exc)]
print(json.dumps(out))
"""


@pytest.fixture(scope="module")
def app_user_calls(lab: Lab) -> dict[str, list[str]]:
    replica = lab.container("web-a")
    out = docker_cli.container.execute(replica, ["/opt/venv/bin/python", "-c", APP_USER_PROBE])
    return json.loads(str(out).strip().splitlines()[-1])


def test_the_app_connects_as_its_own_user(app_user_calls: dict[str, list[str]]) -> None:
    assert app_user_calls["PING"] == ["ok", "True"]
    assert app_user_calls["HGET items:data"] == ["ok", "None"]


@pytest.mark.parametrize(
    "command",
    [
        "FLUSHALL",
        "FLUSHDB",
        "CONFIG GET",
        "CONFIG SET",
        "KEYS *",
        "EVAL return 1",
        "ACL LIST",
        "SHUTDOWN NOSAVE",
    ],
)
def test_the_app_user_cannot_run_admin_commands(app_user_calls: dict[str, list[str]], command: str) -> None:
    kind, message = app_user_calls[command]
    assert kind == "NoPermissionError", (kind, message)


def test_the_app_user_cannot_touch_other_keys(app_user_calls: dict[str, list[str]]) -> None:
    kind, message = app_user_calls["GET not-an-items-key"]
    assert kind == "NoPermissionError" and "keys" in message


def test_redis_refuses_clients_that_do_not_authenticate(lab: Lab) -> None:
    out = docker_cli.container.execute(lab.container("redis"), ["redis-cli", "PING"])
    assert "NOAUTH" in str(out)


def test_no_password_in_any_command_line_or_environment(lab: Lab) -> None:
    from srelab.stack.secrets import read_env

    values = [v for k, v in read_env().items() if k.endswith(("PASSWORD", "_KEY")) and len(v) >= 16]
    assert values, "compose/.env holds the lab's passwords"
    for container in lab.stack.containers():  # type: ignore[attr-defined]
        if container.config.labels.get("com.docker.compose.service") not in {
            "traefik",
            "redis",
            "web-a",
            "web-b",
            "web-c",
            "redis-exporter",
            "socket-proxy",
        }:
            continue  # Grafana and the Elastic stack still take theirs from the environment
        exposed = " ".join(
            [*(container.config.cmd or []), *(container.config.env or []), *(container.args or [])]
        )
        leaked = sum(v in exposed for v in values)
        assert not leaked, f"{container.name}: {leaked} password(s) in its command line or environment"


def test_the_exporter_reads_redis_as_its_own_user(lab: Lab) -> None:
    settings: Any = lab.settings
    query = settings.url(settings.lab_prometheus_port, "/api/v1/query")

    def up() -> bool:
        result = requests.get(query, params={"query": "redis_up"}, timeout=5).json()["data"]["result"]
        return bool(result) and result[0]["value"][1] == "1"

    wait_until(up, 60, 1.0, "redis_up == 1 from the exporter's ACL user")
    scrape = requests.get(query, params={"query": "redis_exporter_last_scrape_error"}, timeout=5).json()
    assert all(r["value"][1] == "0" for r in scrape["data"]["result"]), scrape


def test_items_survive_a_redis_restart_under_the_acl(lab: Lab) -> None:
    """Redis 7.0 replays its AOF as `default`: with `default` stripped of permissions every stored
    create was refused on restart (NOPERM) and the items were gone. Last: it restarts Redis."""
    item = lab.post("/items", json={"name": "survives-restart"}).json()
    lab.container("redis").restart()
    wait_until(lambda: lab.get("/readyz").status_code == 200, 60, 0.5, "a ready replica after the restart")
    fetched = wait_until(
        lambda: (r := lab.get(f"/items/{item['id']}")).status_code == 200 and r, 30, 0.5, "the item again"
    )
    assert fetched.json() == item
