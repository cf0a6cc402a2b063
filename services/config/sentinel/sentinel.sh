#!/bin/sh
# Start one Sentinel. It monitors the node the other Sentinels name primary; with none answering,
# the node that reports role:master (asked as the `sentinel` ACL user); with none of those either
# (the whole stack is starting), REDIS_INITIAL_PRIMARY. Its state lives on tmpfs: a restarted
# Sentinel learns the current epoch from its peers' hello messages within seconds.
set -eu
conf=/tmp/sentinel.conf
cp /etc/redis/sentinel.conf "$conf"
sentinel_pw=$(cat /run/secrets/sentinel-password)
node_pw=$(cat /run/secrets/redis-sentinel-password)
primary=""
for s in $SENTINELS; do
  [ "$s" = "$SENTINEL_IP" ] && continue
  addr=$(REDISCLI_AUTH="$sentinel_pw" timeout 2 redis-cli --no-auth-warning -h "$s" -p 26379 \
    sentinel get-master-addr-by-name "$REDIS_MASTER_NAME" 2>/dev/null | head -n 1) || addr=""
  if [ -n "$addr" ]; then primary=$addr; break; fi
done
if [ -z "$primary" ]; then
  for n in $REDIS_NODES; do
    role=$(REDISCLI_AUTH="$node_pw" timeout 2 redis-cli --no-auth-warning --user sentinel -h "$n" \
      role 2>/dev/null | head -n 1) || role=""
    if [ "$role" = "master" ]; then primary=$n; break; fi
  done
fi
[ -n "$primary" ] || primary=$REDIS_INITIAL_PRIMARY
{
  echo "sentinel announce-ip $SENTINEL_IP"
  # Clients (the items service) and peer Sentinels authenticate with this password.
  echo "requirepass $sentinel_pw"
  echo "sentinel monitor $REDIS_MASTER_NAME $primary 6379 $SENTINEL_QUORUM"
  echo "sentinel auth-user $REDIS_MASTER_NAME sentinel"
  echo "sentinel auth-pass $REDIS_MASTER_NAME $node_pw"
  # Failover budget (docs/redis-ha.md): down after 1 s without a valid PING reply, then the
  # quorum agrees, a leader is elected and promotes the most up-to-date replica.
  echo "sentinel down-after-milliseconds $REDIS_MASTER_NAME $SENTINEL_DOWN_AFTER_MS"
  echo "sentinel failover-timeout $REDIS_MASTER_NAME $SENTINEL_FAILOVER_TIMEOUT_MS"
  # Both replicas follow the new primary at once: one confirming replica is what writes need.
  echo "sentinel parallel-syncs $REDIS_MASTER_NAME 2"
} >>"$conf"
echo "srelab: $SENTINEL_NAME ($SENTINEL_IP) monitors $REDIS_MASTER_NAME at $primary"
exec redis-server "$conf" --sentinel
