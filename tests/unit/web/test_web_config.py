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


def test_redis_user_and_password_file(tmp_path) -> None:
    secret = tmp_path / "redis-items-password"
    secret.write_text("s3cret-from-a-file\n")
    s = Settings.from_env(
        {"REDIS_USERNAME": "items", "REDIS_PASSWORD_FILE": str(secret), "REDIS_PASSWORD": "ignored"}
    )
    assert (s.redis_username, s.redis_password) == ("items", "s3cret-from-a-file")


@pytest.mark.parametrize("content", [None, "", "two\nlines\n"])
def test_unusable_password_file_is_a_config_error(tmp_path, content: str | None) -> None:
    secret = tmp_path / "pw"
    if content is not None:
        secret.write_text(content)
    with pytest.raises(ConfigError, match="REDIS_PASSWORD_FILE="):
        Settings.from_env({"REDIS_PASSWORD_FILE": str(secret)})
