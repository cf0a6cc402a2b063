"""Settings of the items service, read once from the environment at app creation."""

from __future__ import annotations

import os
import socket
from collections.abc import Mapping
from dataclasses import dataclass

SERVICE_NAME = "items"

# Request and listing limits (part of the API contract, see openapi.py).
MAX_BODY_BYTES = 16 * 1024
MAX_NAME_LENGTH = 200
DEFAULT_PAGE_LIMIT = 50
MAX_PAGE_LIMIT = 500
IDEMPOTENCY_KEY_MAX_LENGTH = 128
IDEMPOTENCY_TTL_SECONDS = 24 * 60 * 60
# Header in which the proxy stamps each request with a fresh id before its retry middleware
# (services/config/traefik/dynamic.yml): the implicit Idempotency-Key of a keyless POST.
PROXY_REQUEST_ID_HEADER = "X-Proxy-Request-Id"


def drain_marker(env: Mapping[str, str] | None = None) -> str | None:
    """File that exists while the replica drains after SIGTERM; /readyz answers 503 meanwhile so
    the proxy stops sending new requests before the server closes. server.py names it per
    supervisor process (DRAIN_MARKER); without it (tests, flask run) there is no drain and no marker."""
    env = os.environ if env is None else env
    return env.get("DRAIN_MARKER") or None


class ConfigError(ValueError):
    """An environment variable holds a value the service cannot use."""


def default_replica(env: Mapping[str, str] | None = None) -> str:
    """Replica name for headers, metrics and logs: REPLICA, else the host name."""
    env = os.environ if env is None else env
    return env.get("REPLICA") or socket.gethostname()


def default_zone(env: Mapping[str, str] | None = None) -> str:
    env = os.environ if env is None else env
    return env.get("ZONE") or "unknown"


def env_float(env: Mapping[str, str], name: str, default: float, *, minimum: float) -> float:
    raw = env.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = float(raw)
    except ValueError as exc:
        raise ConfigError(f"{name}={raw!r} is not a number") from exc
    if not value >= minimum:  # also rejects NaN
        raise ConfigError(f"{name}={raw!r} must be >= {minimum}")
    return value


def env_int(env: Mapping[str, str], name: str, default: int, *, minimum: int, maximum: int) -> int:
    raw = env.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = int(raw)
    except ValueError as exc:
        raise ConfigError(f"{name}={raw!r} is not an integer") from exc
    if not minimum <= value <= maximum:
        raise ConfigError(f"{name}={raw!r} must be between {minimum} and {maximum}")
    return value


def redis_password(env: Mapping[str, str]) -> str | None:
    """REDIS_PASSWORD_FILE's content (compose mounts it from a secret: no password in the
    environment or `docker inspect`), else REDIS_PASSWORD; one trailing newline is dropped."""
    if not env.get("REDIS_PASSWORD_FILE"):
        return env.get("REDIS_PASSWORD") or None
    return secret_file(env, "REDIS_PASSWORD_FILE")


def secret_file(env: Mapping[str, str], variable: str) -> str | None:
    """The content of the file named by `variable` (one line; one trailing newline dropped)."""
    path = env.get(variable)
    if not path:
        return None
    try:
        with open(path, encoding="utf-8") as f:
            value = f.read().removesuffix("\n")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{variable}={path!r} cannot be read: {exc.strerror or exc}") from None
    if not value or "\n" in value:
        raise ConfigError(f"{variable}={path!r} must hold one password on one line")
    return value


def sentinel_addresses(env: Mapping[str, str]) -> tuple[tuple[str, int], ...]:
    """REDIS_SENTINELS, `host:port,host:port`: the Sentinels that name the primary (HA)."""
    raw = (env.get("REDIS_SENTINELS") or "").strip()
    if not raw:
        return ()
    found = []
    for part in raw.split(","):
        host, sep, port = part.strip().rpartition(":")
        if not sep or not host or not port.isdigit() or not 1 <= int(port) <= 65535:
            raise ConfigError(f"REDIS_SENTINELS={raw!r}: each entry must be host:port")
        found.append((host, int(port)))
    return tuple(found)


@dataclass(frozen=True)
class Settings:
    """Everything the app needs from its environment (see compose/compose.yaml)."""

    redis_host: str = "localhost"
    redis_port: int = 6379
    # The ACL user (compose: `items`, least privilege); None authenticates as `default`.
    redis_username: str | None = None
    redis_password: str | None = None
    redis_db: int = 0
    # Bounded waits: Redis down or frozen must yield a 503 quickly, never a hung worker thread.
    redis_connect_timeout: float = 0.25
    redis_socket_timeout: float = 1.0
    redis_max_connections: int = 64
    # HA: the Sentinels to ask for the primary of `redis_master_name` (empty: REDIS_HOST directly).
    redis_sentinels: tuple[tuple[str, int], ...] = ()
    redis_master_name: str = "items"
    redis_sentinel_password: str | None = None
    # A create is acknowledged once this many replicas have it (WAIT), else 503 outcome unknown.
    redis_min_replica_acks: int = 0
    redis_wait_timeout_ms: int = 500
    replica: str = "local"
    zone: str = "unknown"
    log_level: str = "INFO"
    # Set by compose (PROMETHEUS_MULTIPROC_DIR); None means a plain in-process registry.
    multiproc_dir: str | None = None
    idempotency_ttl_seconds: int = IDEMPOTENCY_TTL_SECONDS
    max_body_bytes: int = MAX_BODY_BYTES
    # "" turns implicit keys off (a deployment whose proxy does not stamp requests).
    proxy_request_id_header: str = PROXY_REQUEST_ID_HEADER

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if env is None else env
        log_level = (env.get("LOG_LEVEL") or cls.log_level).strip().upper()
        if log_level not in {"DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"}:
            raise ConfigError(f"LOG_LEVEL={log_level!r} is not a logging level")
        d = cls()  # the defaults are the dataclass fields; each is written once, above
        return cls(
            redis_host=env.get("REDIS_HOST") or d.redis_host,
            redis_port=env_int(env, "REDIS_PORT", d.redis_port, minimum=1, maximum=65535),
            redis_username=env.get("REDIS_USERNAME") or None,
            redis_password=redis_password(env),
            redis_db=env_int(env, "REDIS_DB", d.redis_db, minimum=0, maximum=15),
            redis_connect_timeout=env_float(
                env, "REDIS_CONNECT_TIMEOUT", d.redis_connect_timeout, minimum=0.01
            ),
            redis_socket_timeout=env_float(env, "REDIS_SOCKET_TIMEOUT", d.redis_socket_timeout, minimum=0.01),
            redis_max_connections=env_int(
                env, "REDIS_MAX_CONNECTIONS", d.redis_max_connections, minimum=1, maximum=10_000
            ),
            redis_sentinels=sentinel_addresses(env),
            redis_master_name=(env.get("REDIS_MASTER_NAME") or d.redis_master_name).strip(),
            redis_sentinel_password=secret_file(env, "REDIS_SENTINEL_PASSWORD_FILE"),
            redis_min_replica_acks=env_int(
                env, "REDIS_MIN_REPLICA_ACKS", d.redis_min_replica_acks, minimum=0, maximum=16
            ),
            # Below the socket timeout (1 s): WAIT must answer before the read gives up.
            redis_wait_timeout_ms=env_int(
                env, "REDIS_WAIT_TIMEOUT_MS", d.redis_wait_timeout_ms, minimum=1, maximum=900
            ),
            replica=default_replica(env),
            zone=default_zone(env),
            log_level=log_level,
            multiproc_dir=env.get("PROMETHEUS_MULTIPROC_DIR") or None,
            idempotency_ttl_seconds=env_int(
                env, "IDEMPOTENCY_TTL_SECONDS", d.idempotency_ttl_seconds, minimum=1, maximum=30 * 86400
            ),
            proxy_request_id_header=env.get("PROXY_REQUEST_ID_HEADER", d.proxy_request_id_header).strip(),
        )
