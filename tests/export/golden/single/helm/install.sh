#!/usr/bin/env bash
# Rendered by `srelab export k8s` from k8s-export/helm/charts.yaml: installs the pinned charts
# with the rendered values beside this script. Run after namespaces.yaml and create-secrets.sh.
#
# Helm installs a chart's crds/ only on the first install and never upgrades them, so each
# chart's CRDs (`helm show crds`: crds/ of the chart and of its subcharts) are applied here
# first, server-side (kube-prometheus-stack's are too large for client-side apply's annotation),
# and the releases then skip them.
set -euo pipefail
cd "$(dirname "$0")"
helm repo add prometheus-community https://prometheus-community.github.io/helm-charts --force-update
helm repo add grafana https://grafana.github.io/helm-charts --force-update
helm repo add traefik https://traefik.github.io/charts --force-update
helm repo update

# kube-prometheus-stack: Prometheus Operator, Prometheus, Alertmanager, Grafana, kube-state-metrics, node-exporter
helm show crds prometheus-community/kube-prometheus-stack --version 88.5.3 >"crds-kube-prometheus-stack.yaml"
if [ -s "crds-kube-prometheus-stack.yaml" ]; then
  kubectl apply --server-side --force-conflicts --field-manager=srelab-crds -f "crds-kube-prometheus-stack.yaml"
  kubectl wait --for condition=established --timeout=120s -f "crds-kube-prometheus-stack.yaml"
fi
helm upgrade --install kube-prometheus-stack prometheus-community/kube-prometheus-stack --version 88.5.3 --skip-crds \
  --namespace monitoring --values kube-prometheus-stack-values.yaml --wait --timeout 10m

# loki: log store (single binary, filesystem on a PVC), queried by Grafana
helm show crds oci://ghcr.io/grafana-community/helm-charts/loki --version 18.11.0 >"crds-loki.yaml"
if [ -s "crds-loki.yaml" ]; then
  kubectl apply --server-side --force-conflicts --field-manager=srelab-crds -f "crds-loki.yaml"
  kubectl wait --for condition=established --timeout=120s -f "crds-loki.yaml"
fi
helm upgrade --install loki oci://ghcr.io/grafana-community/helm-charts/loki --version 18.11.0 --skip-crds \
  --namespace monitoring --values loki-values.yaml --wait --timeout 10m

# alloy: ships pod logs to Loki (Promtail, used by compose, is end-of-life)
helm show crds grafana/alloy --version 1.11.1 >"crds-alloy.yaml"
if [ -s "crds-alloy.yaml" ]; then
  kubectl apply --server-side --force-conflicts --field-manager=srelab-crds -f "crds-alloy.yaml"
  kubectl wait --for condition=established --timeout=120s -f "crds-alloy.yaml"
fi
helm upgrade --install alloy grafana/alloy --version 1.11.1 --skip-crds \
  --namespace monitoring --values alloy-values.yaml --wait --timeout 10m

# traefik: ingress controller; method routing (IngressRoute) behind an L4 LoadBalancer Service
helm show crds traefik/traefik --version 41.3.0 >"crds-traefik.yaml"
if [ -s "crds-traefik.yaml" ]; then
  kubectl apply --server-side --force-conflicts --field-manager=srelab-crds -f "crds-traefik.yaml"
  kubectl wait --for condition=established --timeout=120s -f "crds-traefik.yaml"
fi
helm upgrade --install traefik traefik/traefik --version 41.3.0 --skip-crds \
  --namespace traefik --values traefik-values.yaml --wait --timeout 10m
