# Private nodes (no public IPs) reach registries and Google APIs through Cloud NAT.
resource "google_compute_network" "vpc" {
  name                    = "${local.gcp.cluster_name}-vpc"
  auto_create_subnetworks = false
  depends_on              = [google_project_service.apis]
}

resource "google_compute_subnetwork" "nodes" {
  name                     = "${local.gcp.cluster_name}-nodes"
  region                   = local.gcp.region
  network                  = google_compute_network.vpc.id
  ip_cidr_range            = local.network.subnet_cidr
  private_ip_google_access = true

  secondary_ip_range {
    range_name    = "pods"
    ip_cidr_range = local.network.pods_cidr
  }
  secondary_ip_range {
    range_name    = "services"
    ip_cidr_range = local.network.services_cidr
  }
}

resource "google_compute_router" "nat" {
  name    = "${local.gcp.cluster_name}-router"
  region  = local.gcp.region
  network = google_compute_network.vpc.id
}

resource "google_compute_router_nat" "nat" {
  name                               = "${local.gcp.cluster_name}-nat"
  router                             = google_compute_router.nat.name
  region                             = local.gcp.region
  nat_ip_allocate_option             = "AUTO_ONLY"
  source_subnetwork_ip_ranges_to_nat = "ALL_SUBNETWORKS_ALL_IP_RANGES"

  log_config {
    enable = true
    filter = "ERRORS_ONLY"
  }
}
