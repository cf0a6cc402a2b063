"""Settings from the environment."""

from __future__ import annotations

import socket

import pytest
from items_service.config import ConfigError, Settings


def test_defaults() -> None:
    s = Settings.from_env({})
    assert (s.redis_host, s.redis_port, s.redis_password, s.redis_db) == ("localhost", 6379, None, 0)
    assert (s.redis_connect_timeout, s.redis_socket_timeout) == (0.25, 1.0)
    assert s.replica == socket.gethostname()
    assert s.zone == "unknown"
    assert s.multiproc_dir is None
    assert s.idempotency_ttl_seconds == 86400
    assert s.max_body_bytes == 16384


def test_compose_environment() -> None:
    s = Settings.from_env(
        {
            "REDIS_HOST": "redis",
            "REDIS_PORT": "6380",
            "REDIS_PASSWORD": "secret",
            "REPLICA": "web-b",
            "ZONE": "b",
            "PROMETHEUS_MULTIPROC_DIR": "/tmp/metrics",
            "REDIS_CONNECT_TIMEOUT": "0.5",
            "REDIS_SOCKET_TIMEOUT": "2",
            "LOG_LEVEL": "debug",
        }
    )
    assert (s.redis_host, s.redis_port, s.redis_password) == ("redis", 6380, "secret")
    assert (s.replica, s.zone, s.multiproc_dir) == ("web-b", "b", "/tmp/metrics")
    assert (s.redis_connect_timeout, s.redis_socket_timeout, s.log_level) == (0.5, 2.0, "DEBUG")


@pytest.mark.parametrize(
    "env",
    [
        {"REDIS_PORT": "abc"},
        {"REDIS_PORT": "0"},
        {"REDIS_PORT": "70000"},
        {"REDIS_SOCKET_TIMEOUT": "nan"},
        {"REDIS_SOCKET_TIMEOUT": "-1"},
        {"REDIS_CONNECT_TIMEOUT": "fast"},
        {"LOG_LEVEL": "verbose"},
        {"IDEMPOTENCY_TTL_SECONDS": "0"},
    ],
)
def test_bad_values_fail_fast(env: dict[str, str]) -> None:
    with pytest.raises(ConfigError):
        Settings.from_env(env)
