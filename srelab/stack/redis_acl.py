"""Redis ACL users of the lab: one per client, each with only the commands and keys it uses.

srelab/stack/secrets.py renders them into compose/secrets/redis-users.acl (Redis' `aclfile`, mounted in
the redis container) with SHA-256 hashes of the passwords from compose/.env: the file holds no
password, and redis-server's command line none either (`--requirepass` was visible in `docker
inspect`). The `default` user is off, so a client that does not authenticate can do nothing.
"""

from __future__ import annotations

import hashlib

ADMIN_PASSWORD_FILE = "/run/secrets/redis-admin-password"

# The items service (services/web/items_service/store.py): its keys only (docs/architecture.md,
# "Redis keys"), and only what it sends: PING (readiness), HGET (GET /items/<id>), EVALSHA and,
# after a restart of Redis, SCRIPT LOAD of its two scripts (redis-py's Script), CLIENT SETNAME
# (handshake; redis-py's CLIENT SETINFO is unknown to Redis 7.0, and its error ignored); plus
# what the scripts call, which the ACL checks too: GET, HGET, INCR, HSET, ZADD, SET (create) and
# ZRANGE, HMGET (list); SET of the blackbox probe's own expiring keys (items:probe:*); WAIT (in
# HA, a create is acknowledged once a replica has it).
# No FLUSHALL, CONFIG, KEYS, EVAL of arbitrary code, DEBUG or SHUTDOWN.
ITEMS_RULES = (
    "resetchannels -@all "
    "~items:seq ~items:data ~items:by_seq ~items:idem:* ~items:req:* ~items:probe:* "
    "+ping +hget +evalsha +script|load +client|setname "
    "+get +incr +hset +zadd +set +zrange +hmget +wait"
)

# redis_exporter: the list its README ("Authenticating with Redis") gives for a dedicated user,
# with three cuts: no key pattern (its GET/EVAL reach no key), no SCAN (it would list key names;
# it is only needed for --check-keys/--count-keys, which the lab does not use), and of CLIENT only
# SETNAME and LIST (not KILL or PAUSE).
EXPORTER_RULES = (
    "resetchannels -@all +@connection +memory -readonly +strlen +config|get +xinfo +pfcount -quit "
    "+zcard +type +xlen -readwrite -command +client|setname +client|list -wait +scard +llen +hlen "
    "+get +eval +slowlog +cluster|info +cluster|slots +cluster|nodes -hello -echo +info +latency "
    "-reset -auth -asking"
)

# The container's healthcheck: PING, and INFO (in HA it checks a replica's link to its primary).
HEALTHCHECK_RULES = "resetchannels -@all +ping +info"

# Replication (HA, compose/redis-ha.yaml): what a replica sends its primary, per the Redis docs
# ("Replication", "Authenticating replicas with ACL"): PSYNC, REPLCONF and PING.
REPLICA_RULES = "resetchannels -@all +psync +replconf +ping"

# Sentinel's user on the Redis nodes: the list the Redis Sentinel docs give ("Redis Sentinel ACL
# configuration"): its hello channel, INFO/ROLE, and what a failover sends (SLAVEOF, CONFIG
# REWRITE, CLIENT KILL, SCRIPT KILL, inside MULTI/EXEC).
SENTINEL_RULES = (
    "resetchannels &__sentinel__:hello -@all +multi +slaveof +ping +exec +subscribe +config|rewrite "
    "+role +publish +info +client|setname +client|kill +script|kill"
)

# Operators and srelab's own tools (`docker exec` into the redis container: bench's CONFIG SET,
# the load runs' ZCARD and FLUSHALL): everything. Its password is in a file only the redis
# container mounts (ADMIN_PASSWORD_FILE).
ADMIN_RULES = "~* &* +@all"

# ACL user -> (variable in compose/.env holding its password, rules).
USERS: dict[str, tuple[str, str]] = {
    "admin": ("REDIS_PASSWORD", ADMIN_RULES),
    "items": ("REDIS_ITEMS_PASSWORD", ITEMS_RULES),
    "exporter": ("REDIS_EXPORTER_PASSWORD", EXPORTER_RULES),
    "healthcheck": ("REDIS_HEALTH_PASSWORD", HEALTHCHECK_RULES),
    "replica": ("REDIS_REPLICA_PASSWORD", REPLICA_RULES),
    "sentinel": ("REDIS_SENTINEL_PASSWORD", SENTINEL_RULES),
}

# The Sentinels' own password (their `requirepass`: the items service and peer Sentinels send it).
SENTINEL_PASSWORD_VARIABLE = "SENTINEL_PASSWORD"


def acl_file(passwords: dict[str, str]) -> str:
    """The aclfile text for `passwords` (compose/.env variable -> value)."""
    # No comment line: Redis reads every line of an aclfile as a user. `default` is off (no
    # client can authenticate as it) yet keeps every permission: Redis 7.0 replays the AOF as
    # `default`, and with `-@all` it refused every MULTI/EXEC of the create script on restart
    # (NOPERM, the items silently not loaded; seen here).
    lines = ["user default off resetpass ~* &* +@all"]
    for user, (variable, rules) in USERS.items():
        digest = hashlib.sha256(passwords[variable].encode()).hexdigest()
        lines.append(f"user {user} on resetpass #{digest} {rules}")
    return "\n".join(lines) + "\n"


def admin_cli(*args: str) -> list[str]:
    """A redis-cli command line for `docker exec` into the redis container, as `admin`: the
    password goes from the mounted file to redis-cli's environment, never onto a command line."""
    script = (
        f'REDISCLI_AUTH="$(cat {ADMIN_PASSWORD_FILE})" exec redis-cli --no-auth-warning --user admin "$@"'
    )
    return ["sh", "-c", script, "redis-cli", *args]


# --- The same files for the Kubernetes export's create-secrets.sh (srelab/export) -------------
# compose secret name -> the compose/.env variable it is made from (the aclfile: all of USERS).
PASSWORD_FILES = {
    "redis-admin-password": "REDIS_PASSWORD",
    "redis-health-password": "REDIS_HEALTH_PASSWORD",
    "redis-items-password": "REDIS_ITEMS_PASSWORD",
    "redis-replica-password": "REDIS_REPLICA_PASSWORD",
    "redis-sentinel-password": "REDIS_SENTINEL_PASSWORD",
    "sentinel-password": SENTINEL_PASSWORD_VARIABLE,
}
ACL_FILE = "redis-users.acl"
EXPORTER_FILE = "redis-exporter-password.json"


def _required(variable: str) -> str:
    return f'"${{{variable}:?{variable} is not set}}"'


def shell_writer(name: str, out: str, exporter_addr: str) -> str:
    """Bash that writes compose secret `name` to the file `out` from the environment variables of
    compose/.env (the values never on a command line: printf is a shell builtin)."""
    if name in PASSWORD_FILES:
        return f"printf '%s\\n' {_required(PASSWORD_FILES[name])} >\"{out}\""
    if name == EXPORTER_FILE:
        password = _required("REDIS_EXPORTER_PASSWORD")
        return f'printf \'{{"{exporter_addr}": "%s"}}\\n\' {password} >"{out}"'
    if name == ACL_FILE:
        lines = ["{", "  echo 'user default off resetpass ~* &* +@all'"]
        for user, (variable, rules) in USERS.items():
            digest = f"$(printf '%s' {_required(variable)} | sha256sum | cut -d' ' -f1)"
            lines.append(f"  echo \"user {user} on resetpass #{digest} \"'{rules}'")
        lines.append(f'}} >"{out}"')
        return "\n".join(lines)
    raise KeyError(name)


SHELL_FILES = (*PASSWORD_FILES, ACL_FILE, EXPORTER_FILE)
