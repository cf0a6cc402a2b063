# Regional, private GKE cluster with Dataplane V2 (eBPF; enforces the NetworkPolicies).
resource "google_service_account" "nodes" {
  account_id   = "${local.gcp.cluster_name}-nodes"
  display_name = "GKE nodes of ${local.gcp.cluster_name}"
}

resource "google_project_iam_member" "nodes" {
  for_each = toset([
    "roles/logging.logWriter",
    "roles/monitoring.metricWriter",
    "roles/monitoring.viewer",
    "roles/stackdriver.resourceMetadata.writer",
    "roles/artifactregistry.reader",
  ])
  project = local.gcp.project
  role    = each.value
  member  = "serviceAccount:${google_service_account.nodes.email}"
}

resource "google_container_cluster" "this" {
  name                = local.gcp.cluster_name
  location            = local.gcp.region
  node_locations      = values(local.zones)
  network             = google_compute_network.vpc.id
  subnetwork          = google_compute_subnetwork.nodes.id
  deletion_protection = var.deletion_protection

  # Pools are managed below; the default pool only exists during creation.
  remove_default_node_pool = true
  initial_node_count       = 1

  networking_mode   = "VPC_NATIVE"
  datapath_provider = "ADVANCED_DATAPATH"
  ip_allocation_policy {
    cluster_secondary_range_name  = "pods"
    services_secondary_range_name = "services"
  }

  private_cluster_config {
    enable_private_nodes    = true
    enable_private_endpoint = false
    master_ipv4_cidr_block  = local.network.master_cidr
  }

  # CI and operators reach the control plane through its DNS endpoint, authorised by IAM.
  control_plane_endpoints_config {
    dns_endpoint_config {
      allow_external_traffic = true
    }
  }

  master_authorized_networks_config {
    dynamic "cidr_blocks" {
      for_each = var.master_authorized_networks
      content {
        cidr_block   = cidr_blocks.value.cidr_block
        display_name = cidr_blocks.value.display_name
      }
    }
  }

  # The Kubernetes minor the export validates the manifests against (params.yaml
  # kubernetes_version). GKE accepts a minor ("1.34") and picks its patch; the release channel
  # upgrades the control plane later, never below this.
  min_master_version = local.params.kubernetes_version

  release_channel {
    channel = local.gcp.release_channel
  }

  workload_identity_config {
    workload_pool = "${local.gcp.project}.svc.id.goog"
  }

  logging_config {
    enable_components = ["SYSTEM_COMPONENTS", "WORKLOADS"]
  }

  lifecycle {
    precondition {
      condition     = alltrue([for zone in values(local.zones) : startswith(zone, "${local.gcp.region}-")])
      error_message = "Every zone in params.yaml must belong to gcp.region."
    }
  }

  depends_on = [google_project_service.apis]
}
