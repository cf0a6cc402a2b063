# One backend pool per zone of params.yaml (the READ and WRITE Deployments of a zone select
# srelab.io/pool=backend-<zone>), a monitoring pool across the zones and a data pool across the
# zones too: in LAB_REDIS_TOPOLOGY=ha one Redis node (on its zonal disk) and one Sentinel run in
# each zone; the one Redis of `single` is pinned to the GCP zone of node_pools.data.zone.
#
# initial_node_count: without it a pool starts empty, and the cluster autoscaler never scales a
# pool up to min_node_count by itself (only for pending pods). It counts per zone, changing it
# recreates the pool, and the autoscaler changes the real size, so it is ignored after creation
# as the google provider's docs advise.
locals {
  node_config_common = {
    disk_type    = "pd-balanced"
    oauth_scopes = ["https://www.googleapis.com/auth/cloud-platform"]
  }
  # srelab/export/params.py initial_nodes_per_zone(): at least one node per zone.
  monitoring_initial_per_zone = max(1, ceil(local.pools.monitoring.min_nodes / length(local.zones)))
}

resource "google_container_node_pool" "backend" {
  for_each       = local.zones
  name           = "backend-${each.key}"
  cluster        = google_container_cluster.this.id
  location       = local.gcp.region
  node_locations = [each.value]

  initial_node_count = max(1, local.pools.backend.min_nodes)

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

  lifecycle {
    ignore_changes = [initial_node_count]
  }
}

resource "google_container_node_pool" "monitoring" {
  name           = "monitoring"
  cluster        = google_container_cluster.this.id
  location       = local.gcp.region
  node_locations = values(local.zones)

  initial_node_count = local.monitoring_initial_per_zone

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

  lifecycle {
    ignore_changes = [initial_node_count]
    precondition {
      condition     = local.monitoring_initial_per_zone * length(local.zones) <= local.pools.monitoring.max_nodes
      error_message = "node_pools.monitoring.max_nodes is below the nodes the pool starts with (one per zone at least)."
    }
  }
}

resource "google_container_node_pool" "data" {
  name           = "data"
  cluster        = google_container_cluster.this.id
  location       = local.gcp.region
  node_locations = values(local.zones)

  # Per zone, like the bounds below (min_node_count/max_node_count count per zone).
  initial_node_count = max(1, local.pools.data.min_nodes)

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

  lifecycle {
    ignore_changes = [initial_node_count]
  }
}
