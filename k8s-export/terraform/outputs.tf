output "cluster_name" {
  value = google_container_cluster.this.name
}

output "cluster_location" {
  value = google_container_cluster.this.location
}

output "control_plane_dns_endpoint" {
  value = google_container_cluster.this.control_plane_endpoints_config[0].dns_endpoint_config[0].endpoint
}

output "registry" {
  value = "${local.gcp.region}-docker.pkg.dev/${local.gcp.project}/${google_artifact_registry_repository.images.repository_id}"
}

output "backend_node_pools" {
  value = { for zone, pool in google_container_node_pool.backend : zone => pool.name }
}
