# Where the k8s-image workflow pushes the items image (<region>-docker.pkg.dev/<project>/<repo>).
resource "google_artifact_registry_repository" "images" {
  location      = local.gcp.region
  repository_id = local.gcp.artifact_repository
  format        = "DOCKER"
  description   = "srelab images"
  depends_on    = [google_project_service.apis]

  docker_config {
    immutable_tags = true
  }
}
