# One backend pool per zone of params.yaml (the READ and WRITE Deployments of a zone select
# srelab.io/pool=backend-<zone>), a monitoring pool across the zones and a data pool in the
# zone of Redis' disk.
locals {
  node_config_common = {
    disk_type    = "pd-balanced"
    oauth_scopes = ["https://www.googleapis.com/auth/cloud-platform"]
  }
}

resource "google_container_node_pool" "backend" {
  for_each       = local.zones
  name           = "backend-${each.key}"
  cluster        = google_container_cluster.this.id
  location       = local.gcp.region
  node_locations = [each.value]

  autoscaling {
    min_node_count = local.pools.backend.min_nodes
    max_node_count = local.pools.backend.max_nodes
  }

  management {
    auto_repair  = true
    auto_upgrade = true
  }

  upgrade_settings {
    max_surge       = 1
    max_unavailable = 0
  }

  node_config {
    machine_type    = local.pools.backend.machine_type
    disk_size_gb    = try(local.pools.backend.disk_size_gb, 50)
    disk_type       = local.node_config_common.disk_type
    spot            = try(local.pools.backend.spot, false)
    service_account = google_service_account.nodes.email
    oauth_scopes    = local.node_config_common.oauth_scopes
    labels = {
      (local.pool_label) = "backend-${each.key}"
      (local.tier_label) = "backend"
    }
    workload_metadata_config {
      mode = "GKE_METADATA"
    }
    shielded_instance_config {
      enable_secure_boot          = true
      enable_integrity_monitoring = true
    }
  }
}

resource "google_container_node_pool" "monitoring" {
  name           = "monitoring"
  cluster        = google_container_cluster.this.id
  location       = local.gcp.region
  node_locations = values(local.zones)

  # Bounds for the whole pool, not per zone.
  autoscaling {
    total_min_node_count = local.pools.monitoring.min_nodes
    total_max_node_count = local.pools.monitoring.max_nodes
    location_policy      = "BALANCED"
  }

  management {
    auto_repair  = true
    auto_upgrade = true
  }

  node_config {
    machine_type    = local.pools.monitoring.machine_type
    disk_size_gb    = try(local.pools.monitoring.disk_size_gb, 50)
    disk_type       = local.node_config_common.disk_type
    spot            = try(local.pools.monitoring.spot, false)
    service_account = google_service_account.nodes.email
    oauth_scopes    = local.node_config_common.oauth_scopes
    labels = {
      (local.pool_label) = "monitoring"
      (local.tier_label) = "monitoring"
    }
    workload_metadata_config {
      mode = "GKE_METADATA"
    }
    shielded_instance_config {
      enable_secure_boot          = true
      enable_integrity_monitoring = true
    }
  }
}

resource "google_container_node_pool" "data" {
  name           = "data"
  cluster        = google_container_cluster.this.id
  location       = local.gcp.region
  node_locations = [local.data_zone]

  autoscaling {
    min_node_count = local.pools.data.min_nodes
    max_node_count = local.pools.data.max_nodes
  }

  management {
    auto_repair  = true
    auto_upgrade = true
  }

  node_config {
    machine_type    = local.pools.data.machine_type
    disk_size_gb    = try(local.pools.data.disk_size_gb, 50)
    disk_type       = local.node_config_common.disk_type
    spot            = false
    service_account = google_service_account.nodes.email
    oauth_scopes    = local.node_config_common.oauth_scopes
    labels = {
      (local.pool_label) = "data"
      (local.tier_label) = "data"
    }
    workload_metadata_config {
      mode = "GKE_METADATA"
    }
    shielded_instance_config {
      enable_secure_boot          = true
      enable_integrity_monitoring = true
    }
  }
}
