"""Redis storage of items.

Keys (docs/architecture.md): ``items:seq`` (INCR counter), ``items:data`` (hash id -> item JSON),
``items:by_seq`` (sorted set id scored by sequence: newest = highest score) and
``items:idem:<key>`` (item id, expires after 24 h) and ``items:req:<proxy request id>`` (item id,
expires after 10 minutes: the implicit key of a keyless POST, see below).

A create is ONE Lua script: the idempotency key is checked first, then item, index entry and
idempotency record are written together. With separate writes a replica killed in between leaves
an item without its key, and the proxy's retry of the same request stores it a second time.

Keyless POSTs are exactly-once too: the proxy stamps every request with a fresh random id
(X-Proxy-Request-Id, services/config/traefik) *before* its retry middleware, so every attempt of one
client request carries the same id and a replayed attempt finds the first attempt's record. A
client's own Idempotency-Key always wins over it.

A listing is ONE Lua script as well (ZRANGE + HMGET server-side): one round trip, and the stored
JSON strings go to the client as they are, never parsed and serialised again.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import redis
from redis.backoff import NoBackoff
from redis.exceptions import NoScriptError
from redis.retry import Retry
from redis.sentinel import Sentinel, SentinelManagedConnection

from items_service.config import Settings

SEQ_KEY = "items:seq"
DATA_KEY = "items:data"
INDEX_KEY = "items:by_seq"
IDEMPOTENCY_PREFIX = "items:idem:"
REQUEST_KEY_PREFIX = "items:req:"
# Synthetic probe writes (the blackbox exporter's POST): one key each, expiring, never indexed, so
# they exercise Redis' write path without showing in GET /items or the write audit.
PROBE_PREFIX = "items:probe:"
PROBE_TTL_SECONDS = 600
# A proxy retry happens within seconds of the first attempt; 10 minutes is ample and keeps the
# per-request records from piling up (one per keyless POST).
REQUEST_KEY_TTL_SECONDS = 600

# KEYS: seq, data, index[, idempotency]; ARGV: id, item JSON, idempotency TTL (s).
# Returns {1, item JSON} when it stored the item, {0, existing item JSON} for a replay.
# The shebang makes Redis 7 refuse the whole script up front (e.g. OOM) instead of mid-way.
CREATE_ITEM_LUA = """#!lua
if #KEYS == 4 then
  local existing_id = redis.call('GET', KEYS[4])
  if existing_id then
    local existing = redis.call('HGET', KEYS[2], existing_id)
    if existing then
      return {0, existing}
    end
  end
end
local seq = redis.call('INCR', KEYS[1])
redis.call('HSET', KEYS[2], ARGV[1], ARGV[2])
redis.call('ZADD', KEYS[3], seq, ARGV[1])
if #KEYS == 4 then
  redis.call('SET', KEYS[4], ARGV[1], 'EX', ARGV[3])
end
return {1, ARGV[2]}
"""

# KEYS: index, data; ARGV: upper score bound ("+inf" or "(<seq>"), limit.
# Returns {item JSON..., next_after}: next_after is the last returned item's sequence number when
# older items exist, else "" (a Lua nil would end the reply array early).
LIST_PAGE_LUA = """#!lua flags=no-writes
local entries = redis.call('ZRANGE', KEYS[1], ARGV[1], '-inf', 'BYSCORE', 'REV',
  'LIMIT', 0, tonumber(ARGV[2]) + 1, 'WITHSCORES')
local limit = tonumber(ARGV[2])
local ids = {}
local last = ''
for i = 1, math.min(#entries / 2, limit) do
  ids[i] = entries[2 * i - 1]
  last = entries[2 * i]
end
local out = {}
if #ids > 0 then
  local raws = redis.call('HMGET', KEYS[2], unpack(ids))
  for i = 1, #ids do
    if raws[i] then
      out[#out + 1] = raws[i]
    end
  end
end
if #entries / 2 > limit then
  out[#out + 1] = last
else
  out[#out + 1] = ''
end
return out
"""


@dataclass(frozen=True)
class Item:
    id: str
    name: str
    created_at: str

    def to_dict(self) -> dict[str, str]:
        return {"id": self.id, "name": self.name, "created_at": self.created_at}

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), ensure_ascii=False, separators=(",", ":"))

    @classmethod
    def from_json(cls, raw: str) -> Item:
        data = json.loads(raw)
        return cls(id=str(data["id"]), name=str(data["name"]), created_at=str(data["created_at"]))


@dataclass(frozen=True)
class CreateResult:
    item: Item
    created: bool  # False: an existing item returned for a repeated Idempotency-Key


@dataclass(frozen=True)
class Page:
    # The stored item JSON strings, newest first (served as they are).
    raws: list[str]
    # Sequence number of the last item returned when there are older items, else None.
    next_after: int | None

    @property
    def items(self) -> list[Item]:
        return [Item.from_json(raw) for raw in self.raws]

    def to_json(self) -> str:
        """The page as a JSON array; the stored strings are compact JSON objects already."""
        return "[" + ",".join(self.raws) + "]"


class StoreUnavailable(Exception):
    """Redis could not be reached, timed out or refused the command.

    `outcome_unknown`: the command was sent and its reply was lost (read timeout, connection closed
    while waiting): it may have run. False when it certainly did not (connection refused, DNS, a
    timeout while connecting or authenticating, an error while sending) or Redis answered an error."""

    def __init__(self, operation: str, cause: BaseException, *, outcome_unknown: bool = False) -> None:
        super().__init__(f"{operation}: {type(cause).__name__}: {cause}")
        self.operation = operation
        self.cause = cause
        self.outcome_unknown = outcome_unknown


# Set on a redis-py error raised while reading the reply to a command that was sent.
REPLY_LOST = "_items_reply_lost"


class NotReplicated(Exception):
    """WAIT returned before the required number of replicas confirmed the write (HA)."""


class _TracksLostReplies:
    """Marks the redis-py errors after which a command may have run.

    Only read_response() can fail once the command is out, but the handshake (AUTH, CLIENT SETNAME)
    reads replies too, before the command is sent: those errors stay unmarked. (No health-check
    PINGs either: make_redis keeps health_check_interval at 0.)"""

    _handshaking = False

    def connect_check_health(self, *args: Any, **kwargs: Any) -> None:
        self._handshaking = True
        try:
            super().connect_check_health(*args, **kwargs)  # type: ignore[misc]
        finally:
            self._handshaking = False

    def read_response(self, *args: Any, **kwargs: Any) -> Any:
        try:
            return super().read_response(*args, **kwargs)  # type: ignore[misc]
        except (redis.ConnectionError, redis.TimeoutError) as exc:
            # The exact types only: their subclasses (BusyLoadingError, AuthenticationError, ...)
            # are error replies, i.e. Redis answered and did not run the command. So is READONLY,
            # which the Sentinel-managed connection turns into a ConnectionError (demoted primary).
            refused = isinstance(exc.__context__, redis.exceptions.ReadOnlyError)
            if (
                type(exc) in (redis.ConnectionError, redis.TimeoutError)
                and not self._handshaking
                and not refused
            ):
                setattr(exc, REPLY_LOST, True)
            raise


class ReplyTrackingConnection(_TracksLostReplies, redis.Connection):
    """A connection to the one Redis named by REDIS_HOST (LAB_REDIS_TOPOLOGY=single)."""


class SentinelTrackingConnection(_TracksLostReplies, SentinelManagedConnection):
    """A connection to the primary the Sentinels name: asked on every (re)connect, and dropped
    when the node answers READONLY (it was demoted), so the next connect finds the new one."""


def new_item_id() -> str:
    return uuid.uuid4().hex


def utc_now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


def make_redis(settings: Settings) -> redis.Redis:
    """A client whose calls fail fast: short timeouts and NO retries.

    redis-py 8 retries 10 times with backoff by default, which turns "Redis is down" into a
    multi-second hang per request; and a retried create could run twice. Stale pooled connections
    after a Redis restart are still replaced: the pool checks a connection before handing it out.

    With REDIS_SENTINELS the client asks the Sentinels for the primary on every new connection,
    with the same bounds: a dead Sentinel costs one connect timeout before the next is asked, and
    while none names a primary that is up (failover under way) the request fails at once
    (MasterNotFoundError) instead of waiting for one.
    """
    common: dict[str, Any] = {
        "socket_connect_timeout": settings.redis_connect_timeout,
        "socket_timeout": settings.redis_socket_timeout,
        "socket_keepalive": True,
        "retry": Retry(NoBackoff(), 0),
    }
    client_name = "items-" + re.sub(r"[^A-Za-z0-9._-]", "_", settings.replica)[:64]
    node: dict[str, Any] = {
        **common,
        "db": settings.redis_db,
        "username": settings.redis_username,
        "password": settings.redis_password,
        "max_connections": settings.redis_max_connections,
        "decode_responses": True,
        "client_name": client_name,
    }
    if settings.redis_sentinels:
        sentinel = Sentinel(
            list(settings.redis_sentinels),
            sentinel_kwargs={
                **common,
                "password": settings.redis_sentinel_password,
                "client_name": client_name,
            },
        )
        return sentinel.master_for(
            settings.redis_master_name, connection_class=SentinelTrackingConnection, **node
        )
    pool = redis.ConnectionPool(
        host=settings.redis_host, port=settings.redis_port, connection_class=ReplyTrackingConnection, **node
    )
    return redis.Redis(connection_pool=pool)


class ItemStore:
    def __init__(
        self,
        client: redis.Redis,
        *,
        idempotency_ttl_seconds: int,
        on_error: Callable[[str, BaseException], None] | None = None,
        min_replica_acks: int = 0,
        wait_timeout_ms: int = 500,
    ) -> None:
        self.client = client
        self.idempotency_ttl_seconds = idempotency_ttl_seconds
        self.min_replica_acks = min_replica_acks
        self.wait_timeout_ms = wait_timeout_ms
        self._on_error = on_error
        self._create_script = client.register_script(CREATE_ITEM_LUA)
        self._list_script = client.register_script(LIST_PAGE_LUA)

    @contextmanager
    def _operation(self, name: str) -> Iterator[None]:
        try:
            yield
        except redis.RedisError as exc:
            if self._on_error is not None:
                self._on_error(name, exc)
            lost = bool(getattr(exc, REPLY_LOST, False))
            raise StoreUnavailable(name, exc, outcome_unknown=lost) from exc

    def create(
        self, name: str, idempotency_key: str | None = None, *, request_key: str | None = None
    ) -> CreateResult:
        """Store a new item, or return the one an earlier attempt stored under the same key.

        `idempotency_key` is the client's; `request_key` the proxy's per-request id, used only when
        the client sent no key (it makes the proxy's own retries of a keyless POST safe)."""
        item = Item(id=new_item_id(), name=name, created_at=utc_now_iso())
        keys = [SEQ_KEY, DATA_KEY, INDEX_KEY]
        ttl = self.idempotency_ttl_seconds
        if idempotency_key is not None:
            keys.append(IDEMPOTENCY_PREFIX + idempotency_key)
        elif request_key is not None:
            keys.append(REQUEST_KEY_PREFIX + request_key)
            ttl = min(ttl, REQUEST_KEY_TTL_SECONDS)
        with self._operation("create"):
            stored, raw = self._replicated(
                "EVALSHA", self._create_script.sha, len(keys), *keys, item.id, item.to_json(), ttl
            )
        if int(stored) == 1:
            return CreateResult(item=item, created=True)
        return CreateResult(item=Item.from_json(raw), created=False)

    def create_probe(self, name: str) -> Item:
        """A probe write: the item is stored for PROBE_TTL_SECONDS under its own key only."""
        item = Item(id=new_item_id(), name=name, created_at=utc_now_iso())
        with self._operation("create"):
            self._replicated("SET", PROBE_PREFIX + item.id, item.to_json(), "EX", PROBE_TTL_SECONDS)
        return item

    def _replicated(self, *command: Any) -> Any:
        """Run a write and, when min_replica_acks > 0, WAIT for that many replicas in the same round
        trip. Fewer confirmations within wait_timeout_ms raise
        StoreUnavailable with outcome_unknown: the write is on the primary and may or may not
        survive a failover, so it is not acknowledged (docs/redis-ha.md)."""
        if self.min_replica_acks == 0:
            reply = self._run_script_aware(lambda: self.client.execute_command(*command))
            return reply

        wait = ("WAIT", self.min_replica_acks, self.wait_timeout_ms)

        def run() -> tuple[Any, Any]:
            # Both commands in one write on one pooled connection, then both replies: what a
            # pipeline does, without its per-call machinery (redis-py's Pipeline cost ~0.2 ms of
            # the service's CPU per POST, measured in the bench).
            pool = self.client.connection_pool
            conn = pool.get_connection()
            try:
                conn.send_packed_command(conn.pack_commands([command, wait]))
                try:
                    reply: Any = conn.read_response()
                except redis.ResponseError as exc:
                    reply = exc  # an error reply (NOSCRIPT, NOREPLICAS): WAIT's reply still follows
                acks = conn.read_response()
            except BaseException:
                conn.disconnect()  # mid-exchange: never hand it out again
                raise
            finally:
                pool.release(conn)
            if isinstance(reply, Exception):
                raise reply
            return reply, acks

        reply, acks = self._run_script_aware(run)
        if int(acks) < self.min_replica_acks:
            cause = NotReplicated(
                f"{acks} of {self.min_replica_acks} replica(s) confirmed in {self.wait_timeout_ms} ms"
            )
            if self._on_error is not None:
                self._on_error("create", cause)
            raise StoreUnavailable("create", cause, outcome_unknown=True)
        return reply

    def _run_script_aware(self, call: Callable[[], Any]) -> Any:
        """`call()`, and once more after SCRIPT LOAD when Redis does not know the create script
        (a restarted or newly promoted node): NOSCRIPT means nothing ran."""
        try:
            return call()
        except NoScriptError:
            self.client.script_load(CREATE_ITEM_LUA)
            return call()

    def get(self, item_id: str) -> Item | None:
        with self._operation("get"):
            raw = self.client.hget(DATA_KEY, item_id)
        return None if raw is None else Item.from_json(str(raw))

    def list_page(self, limit: int, after_seq: int | None = None) -> Page:
        """Newest first; ``after_seq`` resumes below that sequence number. One script whatever the
        number of stored items: ZRANGE BYSCORE REV LIMIT (limit + 1) and one HMGET, server-side."""
        upper = "+inf" if after_seq is None else f"({after_seq}"
        with self._operation("list"):
            reply: Any = self._list_script(keys=[INDEX_KEY, DATA_KEY], args=[upper, limit])
        *raws, last = reply
        # Scores are integers (INCR); Redis returns them as their shortest decimal form.
        return Page(raws=[str(raw) for raw in raws], next_after=int(float(last)) if last else None)

    def ping(self) -> None:
        with self._operation("ping"):
            self.client.ping()
