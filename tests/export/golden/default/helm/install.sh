#!/usr/bin/env bash
# Rendered by `srelab export k8s` from k8s-export/helm/charts.yaml: installs the pinned charts
# with the rendered values beside this script. Run after namespaces.yaml and create-secrets.sh.
set -euo pipefail
cd "$(dirname "$0")"
helm repo add prometheus-community https://prometheus-community.github.io/helm-charts --force-update
helm repo add grafana https://grafana.github.io/helm-charts --force-update
helm repo add traefik https://traefik.github.io/charts --force-update
helm repo update

# kube-prometheus-stack: Prometheus Operator, Prometheus, Alertmanager, Grafana, kube-state-metrics, node-exporter
helm upgrade --install kube-prometheus-stack prometheus-community/kube-prometheus-stack --version 92.11.0 \
  --namespace monitoring --values kube-prometheus-stack-values.yaml --wait --timeout 10m

# loki: log store (single binary, filesystem on a PVC), queried by Grafana
helm upgrade --install loki oci://ghcr.io/grafana-community/helm-charts/loki --version 18.13.8 \
  --namespace monitoring --values loki-values.yaml --wait --timeout 10m

# alloy: ships pod logs to Loki (Promtail, used by compose, is end-of-life)
helm upgrade --install alloy grafana/alloy --version 1.13.0 \
  --namespace monitoring --values alloy-values.yaml --wait --timeout 10m

# traefik: ingress controller; method routing (IngressRoute) behind an L4 LoadBalancer Service
helm upgrade --install traefik traefik/traefik --version 41.6.1 \
  --namespace traefik --values traefik-values.yaml --wait --timeout 10m
