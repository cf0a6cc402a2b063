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
        {"REDIS_SENTINELS": "sentinel-a"},
        {"REDIS_SENTINELS": "sentinel-a:26379,:26379"},
        {"REDIS_SENTINELS": "sentinel-a:port"},
        {"REDIS_SENTINELS": "sentinel-a:0"},
        {"REDIS_MIN_REPLICA_ACKS": "-1"},
        {"REDIS_WAIT_TIMEOUT_MS": "1000"},  # must stay below the 1 s socket timeout
        {"REDIS_SENTINEL_PASSWORD_FILE": "/nonexistent/sentinel-password"},
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


def test_sentinel_settings(tmp_path) -> None:
    secret = tmp_path / "sentinel-password"
    secret.write_text("s3cret\n")
    s = Settings.from_env(
        {
            "REDIS_SENTINELS": "10.213.7.21:26379, 10.213.7.22:26379,sentinel-c:26380",
            "REDIS_MASTER_NAME": "items",
            "REDIS_SENTINEL_PASSWORD_FILE": str(secret),
            "REDIS_MIN_REPLICA_ACKS": "1",
            "REDIS_WAIT_TIMEOUT_MS": "250",
        }
    )
    assert s.redis_sentinels == (("10.213.7.21", 26379), ("10.213.7.22", 26379), ("sentinel-c", 26380))
    assert (s.redis_master_name, s.redis_sentinel_password) == ("items", "s3cret")
    assert (s.redis_min_replica_acks, s.redis_wait_timeout_ms) == (1, 250)
    # Without them: the one Redis of REDIS_HOST, and no WAIT.
    plain = Settings.from_env({})
    assert (plain.redis_sentinels, plain.redis_min_replica_acks) == ((), 0)
