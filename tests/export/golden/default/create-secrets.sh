#!/usr/bin/env bash
# Rendered by `srelab export k8s`: creates Secret "srelab-secrets" in each namespace that
# references it, from environment variables of the same names (in CI: repository secrets).
# Values are written through files with mode 600, never on a command line or in a manifest.
set -euo pipefail
workdir=$(mktemp -d)
trap 'rm -rf "$workdir"' EXIT
umask 077

mkdir -p "$workdir/backend"
printf '%s' "${REDIS_PASSWORD:?REDIS_PASSWORD is not set}" >"$workdir/backend/REDIS_PASSWORD"
kubectl -n backend create secret generic srelab-secrets --from-file="$workdir/backend" \
  --dry-run=client -o yaml | kubectl apply -f -

mkdir -p "$workdir/data"
printf '%s' "${REDIS_PASSWORD:?REDIS_PASSWORD is not set}" >"$workdir/data/REDIS_PASSWORD"
kubectl -n data create secret generic srelab-secrets --from-file="$workdir/data" \
  --dry-run=client -o yaml | kubectl apply -f -

mkdir -p "$workdir/monitoring"
printf '%s' "${GRAFANA_ADMIN_PASSWORD:?GRAFANA_ADMIN_PASSWORD is not set}" >"$workdir/monitoring/GRAFANA_ADMIN_PASSWORD"
printf '%s' "${GRAFANA_ADMIN_USER:-admin}" >"$workdir/monitoring/GRAFANA_ADMIN_USER"
kubectl -n monitoring create secret generic srelab-secrets --from-file="$workdir/monitoring" \
  --dry-run=client -o yaml | kubectl apply -f -
