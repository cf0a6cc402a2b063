#!/bin/sh
# One Redis node of the HA topology (compose/redis-ha.yaml): starts as the replica of whichever
# node the Sentinels name primary, or as primary when they name this node. With no Sentinel
# answering (the whole stack is starting) REDIS_INITIAL_PRIMARY is primary and the others follow it.
# No password on a command line: the settings that hold one go into a copy of redis.conf on tmpfs.
set -eu
conf=/tmp/redis.conf
cp /etc/redis/redis.conf "$conf"
primary=""
for s in $SENTINELS; do
  # Two lines (host, port) or nothing; a dead Sentinel's address does not answer: `timeout` bounds the wait.
  addr=$(REDISCLI_AUTH="$(cat /run/secrets/sentinel-password)" timeout 2 redis-cli --no-auth-warning \
    -h "$s" -p 26379 sentinel get-master-addr-by-name "$REDIS_MASTER_NAME" 2>/dev/null | head -n 1) || addr=""
  if [ -n "$addr" ]; then primary=$addr; break; fi
done
[ -n "$primary" ] || primary=$REDIS_INITIAL_PRIMARY
{
  # Its fixed address (compose/redis-ha.yaml says why addresses, not names).
  echo "replica-announce-ip $REDIS_NODE_IP"
  echo "masteruser replica"
  echo "masterauth $(cat /run/secrets/redis-replica-password)"
  # Split brain: a primary that has heard from no replica for 3 s refuses writes (NOREPLICAS),
  # so a primary cut off from the rest stops taking writes that the failover would discard.
  echo "min-replicas-to-write 1"
  echo "min-replicas-max-lag 3"
  # A replica that needs a full sync (restarted, or the old primary rejoining) gets it at once:
  # Redis 7.0's default waits 5 s for more replicas first, and writes wait on that replica meanwhile.
  echo "repl-diskless-sync-delay 0"
  if [ "$primary" != "$REDIS_NODE_IP" ]; then echo "replicaof $primary 6379"; fi
} >>"$conf"
echo "srelab: starting $REDIS_NODE ($REDIS_NODE_IP) as $([ "$primary" = "$REDIS_NODE_IP" ] && echo primary || echo "replica of $primary")"
exec redis-server "$conf"
