terraform {
  required_version = ">= 1.6"
  required_providers {
    google = {
      source  = "hashicorp/google"
      version = "~> 7.0"
    }
  }
  # State in a GCS bucket: `terraform init -backend-config="bucket=<bucket>"`
  # (the k8s-terraform workflow passes the TF_STATE_BUCKET repository secret).
  backend "gcs" {
    prefix = "srelab/gke"
  }
}

provider "google" {
  project = local.gcp.project
  region  = local.gcp.region
}
