"""compose/.env: made from compose/.env.example on first use, every empty secret filled at random."""

from __future__ import annotations

import json
import os
import secrets
from pathlib import Path

import bcrypt

from srelab.errors import LabError
from srelab.stack import redis_acl
from srelab.stack.settings import ROOT, SECRETS_ENV, SECRETS_TEMPLATE


def _keys(lines: list[str]) -> set[str]:
    return {
        line.split("=", 1)[0].strip() for line in lines if "=" in line and not line.lstrip().startswith("#")
    }


def ensure_secrets(path: Path = SECRETS_ENV, template: Path = SECRETS_TEMPLATE) -> list[str]:
    """Create or complete `path` from `template`; return the keys it added.

    Values left empty in the template are secrets: each gets 24 random URL-safe bytes. Existing
    values are never changed, so passwords baked into volumes (Redis, Elasticsearch) stay valid;
    keys added to the template later are appended.
    """
    existing = path.read_text().splitlines() if path.exists() else []
    have = _keys(existing)
    added: list[str] = []
    lines = list(existing)
    for line in template.read_text().splitlines():
        key, sep, value = line.partition("=")
        is_setting = sep and not line.lstrip().startswith("#")
        if existing and not is_setting:
            continue  # comments are copied only into a new file
        if is_setting:
            if key.strip() in have:
                continue
            if value == "":
                value = secrets.token_urlsafe(24)
            added.append(key.strip())
        lines.append(f"{key}{sep}{value}")
    if added or not path.exists():
        _write_private(path, "\n".join(lines) + "\n")
    return added


def _write_private(path: Path, text: str) -> None:
    """Write `text` to `path` readable by its owner only, from the first byte: a file written and
    then chmod-ed is world-readable in between. An existing file is made 0600 too."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        os.fchmod(out.fileno(), 0o600)
        out.write(text)


# Files derived from compose/.env that containers read (compose `secrets:`, mounted read-only at
# /run/secrets/<name>): a hash or a password in a file, never on a command line or in `docker
# inspect`. The directory is the owner's only; the files in it are 0644 because the containers'
# non-root users (Traefik's 65534, say) must read their bind mounts.
SECRET_FILES_DIR = SECRETS_ENV.parent / "secrets"
DASHBOARD_USERS_FILE = "traefik-dashboard-users"
BCRYPT_COST = 4
REDIS_ACL_FILE = "redis-users.acl"
# redis_exporter scrapes every Redis node Prometheus names (multi-target, /scrape?target=...): the
# file_sd targets of services/config/prometheus/targets/<topology>/redis.yml. Its password file is
# keyed by each of those addresses, of every topology (a key for a node not running is unused), so
# one file serves a stack switched between `ha` and `single`.
EXPORTER_TARGETS_DIR = ROOT / "services" / "config" / "prometheus" / "targets"
REDIS_ADDR = "redis://redis:6379"  # the zone-a node, the one node of either topology


def exporter_addresses(directory: Path = EXPORTER_TARGETS_DIR) -> list[str]:
    """Every Redis address the exporter is asked to scrape, in any topology, sorted."""
    import yaml

    found = {
        target
        for path in sorted(directory.glob("*/redis.yml"))
        for group in yaml.safe_load(path.read_text()) or []
        for target in group["targets"]
    }
    if REDIS_ADDR not in found:
        raise LabError(f"{directory}: no target {REDIS_ADDR} (the Redis node of every topology)")
    return sorted(found)


def read_env(path: Path = SECRETS_ENV) -> dict[str, str]:
    values: dict[str, str] = {}
    for line in path.read_text().splitlines() if path.exists() else []:
        key, sep, value = line.partition("=")
        if sep and not line.lstrip().startswith("#"):
            values[key.strip()] = value.strip()
    return values


def _htpasswd_ok(path: Path, user: str, password: str) -> bool:
    if not path.exists():
        return False
    name, _, hashed = path.read_text().strip().partition(":")
    cost = f"${BCRYPT_COST:02d}$"
    return name == user and cost in hashed and bcrypt.checkpw(password.encode(), hashed.encode())


def ensure_secret_files(env_path: Path = SECRETS_ENV, directory: Path = SECRET_FILES_DIR) -> None:
    """Write the files the containers read from the values in compose/.env.

    Rewritten in place (same inode: a running container's bind mount sees the new content) and
    only when stale: the bcrypt hash is salted, so it is kept while it still matches."""
    env = read_env(env_path)
    directory.mkdir(mode=0o700, exist_ok=True)
    directory.chmod(0o700)
    user = env.get("TRAEFIK_DASHBOARD_USER") or "admin"
    password = env.get("TRAEFIK_DASHBOARD_PASSWORD")
    if not password:
        raise LabError(f"TRAEFIK_DASHBOARD_PASSWORD is empty in {env_path}: remove the line to regenerate it")
    users = directory / DASHBOARD_USERS_FILE
    if not _htpasswd_ok(users, user, password):
        # Traefik's basicAuth reads bcrypt ($2y$/$2b$) htpasswd lines and checks the hash on every
        # request: at cost 10 that was 95 ms of Traefik CPU per dashboard request (measured), and
        # the dashboard polls. The password is 24 random bytes, so no stretching is needed against
        # guessing: the minimum cost, 4 (BCRYPT_COST).
        hashed = bcrypt.hashpw(password.encode(), bcrypt.gensalt(rounds=BCRYPT_COST)).decode()
        _write_readable(users, f"{user}:{hashed}\n")
    passwords = {}
    for variable, _ in redis_acl.USERS.values():
        if not env.get(variable):
            raise LabError(f"{variable} is empty in {env_path}: remove the line to regenerate it")
        passwords[variable] = env[variable]
    sentinel_password = env.get(redis_acl.SENTINEL_PASSWORD_VARIABLE)
    if not sentinel_password:
        raise LabError(
            f"{redis_acl.SENTINEL_PASSWORD_VARIABLE} is empty in {env_path}: remove the line to regenerate it"
        )
    files = {
        REDIS_ACL_FILE: redis_acl.acl_file(passwords),
        # One password a file, for the redis container (admin, healthcheck) and the items service.
        "redis-admin-password": passwords["REDIS_PASSWORD"] + "\n",
        "redis-health-password": passwords["REDIS_HEALTH_PASSWORD"] + "\n",
        "redis-items-password": passwords["REDIS_ITEMS_PASSWORD"] + "\n",
        # HA (compose/redis-ha.yaml): replication, Sentinel -> nodes, clients -> Sentinels.
        "redis-replica-password": passwords["REDIS_REPLICA_PASSWORD"] + "\n",
        "redis-sentinel-password": passwords["REDIS_SENTINEL_PASSWORD"] + "\n",
        "sentinel-password": sentinel_password + "\n",
        # redis_exporter's REDIS_PASSWORD_FILE: JSON, node address (as Prometheus names it) -> password.
        "redis-exporter-password.json": json.dumps(
            dict.fromkeys(exporter_addresses(), passwords["REDIS_EXPORTER_PASSWORD"])
        )
        + "\n",
    }
    for name, text in files.items():
        path = directory / name
        if not path.exists() or path.read_text() != text:
            _write_readable(path, text)


def _write_readable(path: Path, text: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    with os.fdopen(fd, "w") as out:
        out.write(text)
