#!/usr/bin/env bash
# Rendered by `srelab export k8s`: creates Secret "srelab-secrets" in each namespace that
# references it, from environment variables of the same names (in CI: repository secrets); the
# compose secret files (Redis aclfile with SHA-256 hashes, password files) are made from them.
# Values are written through files with mode 600, never on a command line or in a manifest.
set -euo pipefail
workdir=$(mktemp -d)
trap 'rm -rf "$workdir"' EXIT
umask 077

mkdir -p "$workdir/backend"
printf '%s\n' "${REDIS_ITEMS_PASSWORD:?REDIS_ITEMS_PASSWORD is not set}" >"$workdir/backend/redis-items-password"
kubectl -n backend create secret generic srelab-secrets --from-file="$workdir/backend" \
  --dry-run=client -o yaml | kubectl apply -f -

mkdir -p "$workdir/data"
printf '%s\n' "${REDIS_PASSWORD:?REDIS_PASSWORD is not set}" >"$workdir/data/redis-admin-password"
printf '{"redis://localhost:6379": "%s"}\n' "${REDIS_EXPORTER_PASSWORD:?REDIS_EXPORTER_PASSWORD is not set}" >"$workdir/data/redis-exporter-password.json"
printf '%s\n' "${REDIS_HEALTH_PASSWORD:?REDIS_HEALTH_PASSWORD is not set}" >"$workdir/data/redis-health-password"
{
  echo 'user default off resetpass ~* &* +@all'
  echo "user admin on resetpass #$(printf '%s' "${REDIS_PASSWORD:?REDIS_PASSWORD is not set}" | sha256sum | cut -d' ' -f1) "'~* &* +@all'
  echo "user items on resetpass #$(printf '%s' "${REDIS_ITEMS_PASSWORD:?REDIS_ITEMS_PASSWORD is not set}" | sha256sum | cut -d' ' -f1) "'resetchannels -@all ~items:seq ~items:data ~items:by_seq ~items:idem:* ~items:req:* ~items:probe:* +ping +hget +evalsha +script|load +client|setname +get +incr +hset +zadd +set +zrange +hmget +wait'
  echo "user exporter on resetpass #$(printf '%s' "${REDIS_EXPORTER_PASSWORD:?REDIS_EXPORTER_PASSWORD is not set}" | sha256sum | cut -d' ' -f1) "'resetchannels -@all +@connection +memory -readonly +strlen +config|get +xinfo +pfcount -quit +zcard +type +xlen -readwrite -command +client|setname +client|list -wait +scard +llen +hlen +get +eval +slowlog +cluster|info +cluster|slots +cluster|nodes -hello -echo +info +latency -reset -auth -asking'
  echo "user healthcheck on resetpass #$(printf '%s' "${REDIS_HEALTH_PASSWORD:?REDIS_HEALTH_PASSWORD is not set}" | sha256sum | cut -d' ' -f1) "'resetchannels -@all +ping +info'
  echo "user replica on resetpass #$(printf '%s' "${REDIS_REPLICA_PASSWORD:?REDIS_REPLICA_PASSWORD is not set}" | sha256sum | cut -d' ' -f1) "'resetchannels -@all +psync +replconf +ping'
  echo "user sentinel on resetpass #$(printf '%s' "${REDIS_SENTINEL_PASSWORD:?REDIS_SENTINEL_PASSWORD is not set}" | sha256sum | cut -d' ' -f1) "'resetchannels &__sentinel__:hello -@all +multi +slaveof +ping +exec +subscribe +config|rewrite +role +publish +info +client|setname +client|kill +script|kill'
} >"$workdir/data/redis-users.acl"
kubectl -n data create secret generic srelab-secrets --from-file="$workdir/data" \
  --dry-run=client -o yaml | kubectl apply -f -

mkdir -p "$workdir/monitoring"
printf '%s' "${GRAFANA_ADMIN_PASSWORD:?GRAFANA_ADMIN_PASSWORD is not set}" >"$workdir/monitoring/GRAFANA_ADMIN_PASSWORD"
printf '%s' "${GRAFANA_ADMIN_USER:-admin}" >"$workdir/monitoring/GRAFANA_ADMIN_USER"
kubectl -n monitoring create secret generic srelab-secrets --from-file="$workdir/monitoring" \
  --dry-run=client -o yaml | kubectl apply -f -
