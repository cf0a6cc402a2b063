"""compose/.env and the secret files derived from it (srelab/stack/secrets.py, srelab/stack/redis_acl.py)."""

from __future__ import annotations

import hashlib
import json
import os
import stat
from pathlib import Path

import bcrypt
import pytest
from pydantic import ValidationError

from srelab.errors import LabError
from srelab.stack import redis_acl, secrets
from srelab.stack.secrets import ensure_secret_files, ensure_secrets
from srelab.stack.settings import Settings, get_settings

TEMPLATE = "\n".join(
    [
        "REDIS_PASSWORD=",
        "REDIS_ITEMS_PASSWORD=",
        "REDIS_EXPORTER_PASSWORD=",
        "REDIS_HEALTH_PASSWORD=",
        "REDIS_REPLICA_PASSWORD=",
        "REDIS_SENTINEL_PASSWORD=",
        "SENTINEL_PASSWORD=",
        "TRAEFIK_DASHBOARD_USER=admin",
        "TRAEFIK_DASHBOARD_PASSWORD=",
    ]
)


def lab_env(tmp_path: Path) -> Path:
    template = tmp_path / ".env.example"
    template.write_text(TEMPLATE + "\n")
    env = tmp_path / ".env"
    ensure_secrets(env, template)
    return env


def test_env_file_is_private_from_its_first_byte(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Under a permissive umask the file is 0600 while it is written, not chmod-ed afterwards."""
    modes: list[int] = []
    real_fdopen = os.fdopen

    def spying_fdopen(fd: int, *args: object, **kw: object):  # type: ignore[no-untyped-def]
        modes.append(stat.S_IMODE(os.fstat(fd).st_mode))
        return real_fdopen(fd, *args, **kw)  # type: ignore[arg-type]

    monkeypatch.setattr(secrets.os, "fdopen", spying_fdopen)
    old = os.umask(0)
    try:
        env = lab_env(tmp_path)
    finally:
        os.umask(old)
    assert modes == [0o600]
    assert stat.S_IMODE(env.stat().st_mode) == 0o600


def test_an_existing_world_readable_env_file_is_made_private(tmp_path: Path) -> None:
    template = tmp_path / ".env.example"
    template.write_text("A=\n")
    env = tmp_path / ".env"
    env.write_text("B=1\n")
    env.chmod(0o644)
    assert ensure_secrets(env, template) == ["A"]
    assert stat.S_IMODE(env.stat().st_mode) == 0o600


def test_redis_acl_file_has_hashes_only_and_default_cannot_log_in(tmp_path: Path) -> None:
    env = lab_env(tmp_path)
    out = tmp_path / "secrets"
    ensure_secret_files(env, out)
    values = secrets.read_env(env)
    acl = (out / "redis-users.acl").read_text()
    for key, value in values.items():
        assert not key.endswith("PASSWORD") or value not in acl, key
    lines = acl.splitlines()
    assert lines[0].startswith("user default off resetpass ")  # no password: nobody logs in as it
    users = {line.split()[1]: line for line in lines}
    assert set(users) == {"default", "admin", "items", "exporter", "healthcheck", "replica", "sentinel"}
    for user, (variable, _) in redis_acl.USERS.items():
        assert f"#{hashlib.sha256(values[variable].encode()).hexdigest()}" in users[user]
    assert "~items:*" not in users["items"] and "~items:data" in users["items"]
    assert "+flushall" not in acl and "+@all" not in users["items"] + users["exporter"]
    assert users["healthcheck"].endswith("-@all +ping +info")
    # Replication and Sentinel: only what each sends (the Redis docs' lists, srelab/stack/redis_acl.py).
    assert users["replica"].endswith("-@all +psync +replconf +ping")
    assert "&__sentinel__:hello" in users["sentinel"] and "+slaveof" in users["sentinel"]
    assert "~" not in users["replica"] + users["sentinel"]  # no key access at all
    assert "+wait" in users["items"]
    for name, variable in (
        ("redis-replica-password", "REDIS_REPLICA_PASSWORD"),
        ("redis-sentinel-password", "REDIS_SENTINEL_PASSWORD"),
        ("sentinel-password", "SENTINEL_PASSWORD"),
    ):
        assert (out / name).read_text() == values[variable] + "\n"
    assert (out / "redis-items-password").read_text() == values["REDIS_ITEMS_PASSWORD"] + "\n"
    exporter = json.loads((out / "redis-exporter-password.json").read_text())
    # One entry per node address the exporter scrapes (multi-target), every one the exporter's.
    assert exporter["redis://redis:6379"] == values["REDIS_EXPORTER_PASSWORD"]
    assert set(exporter.values()) == {values["REDIS_EXPORTER_PASSWORD"]}
    assert stat.S_IMODE(out.stat().st_mode) == 0o700


def test_dashboard_hash_is_kept_while_it_matches(tmp_path: Path) -> None:
    env = lab_env(tmp_path)
    out = tmp_path / "secrets"
    ensure_secret_files(env, out)
    users = out / "traefik-dashboard-users"
    first = users.read_text()
    user, hashed = first.strip().split(":", 1)
    password = secrets.read_env(env)["TRAEFIK_DASHBOARD_PASSWORD"]
    assert user == "admin" and bcrypt.checkpw(password.encode(), hashed.encode())
    assert hashed.startswith("$2b$04$"), "Traefik checks it on every request: the minimum cost"
    inode = users.stat().st_ino
    ensure_secret_files(env, out)
    assert users.read_text() == first  # salted: rewriting it every time would churn the mount
    env.write_text(env.read_text().replace(password, "another-password-of-enough-length"))
    ensure_secret_files(env, out)
    assert users.read_text() != first and users.stat().st_ino == inode  # same inode: mounts see it


def test_an_emptied_secret_is_one_readable_error(tmp_path: Path) -> None:
    env = lab_env(tmp_path)
    env.write_text(
        "\n".join(
            f"{k}=" if k == "REDIS_ITEMS_PASSWORD" else f"{k}={v}" for k, v in secrets.read_env(env).items()
        )
    )
    with pytest.raises(LabError, match="REDIS_ITEMS_PASSWORD is empty"):
        ensure_secret_files(env, tmp_path / "secrets")


def test_admin_cli_keeps_the_password_off_the_command_line() -> None:
    command = redis_acl.admin_cli("FLUSHALL")
    assert command[:2] == ["sh", "-c"] and command[-1] == "FLUSHALL"
    assert redis_acl.ADMIN_PASSWORD_FILE in command[2] and "REDISCLI_AUTH" in command[2]


def test_host_rule_from_lab_hosts(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LAB_HOSTS", " localhost, 127.0.0.1 ,items.lab.internal")
    settings = get_settings()
    assert settings.hosts == ("localhost", "127.0.0.1", "items.lab.internal")
    assert settings.host_rule == "Host(`localhost`) || Host(`127.0.0.1`) || Host(`items.lab.internal`)"
    assert settings.compose_environment()["LAB_HOST_RULE"] == settings.host_rule


@pytest.mark.parametrize("bad", ["evil`) || PathPrefix(`/", "", "a,,b", "a b"])
def test_lab_hosts_that_would_change_the_rule_are_refused(monkeypatch: pytest.MonkeyPatch, bad: str) -> None:
    monkeypatch.setenv("LAB_HOSTS", bad)
    with pytest.raises(ValidationError, match="LAB_HOSTS must be"):
        Settings()  # type: ignore[call-arg]
