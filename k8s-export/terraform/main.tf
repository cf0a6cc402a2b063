# One parameters file for the export and the infrastructure: zones (compose zone -> GCP zone),
# node pools and network ranges are read from k8s-export/params.yaml.
locals {
  params  = yamldecode(file(coalesce(var.params_file, "${path.module}/../params.yaml")))
  gcp     = local.params.gcp
  zones   = local.params.zones
  pools   = local.params.node_pools
  network = local.params.network

  # Node labels the manifests select on (srelab/export/model.py: POOL_LABEL, TIER_LABEL).
  pool_label = "srelab.io/pool"
  tier_label = "srelab.io/tier"
}

resource "google_project_service" "apis" {
  for_each           = toset(["compute.googleapis.com", "container.googleapis.com", "artifactregistry.googleapis.com"])
  service            = each.value
  disable_on_destroy = false
}
