#!/usr/bin/env bash
# Grants the CI service account (secret GCP_SERVICE_ACCOUNT) the roles the k8s-* workflows need:
# `terraform apply` of k8s-export/terraform, the image push and the deploy. Run once by a project
# owner (gcloud logged in as the owner); re-running is harmless.
#
#   PROJECT=my-gcp-project CI_SA=srelab-ci@my-gcp-project.iam.gserviceaccount.com \
#     TF_STATE_BUCKET=my-state-bucket bash k8s-export/ci/grant-ci-roles.sh
#
# tests/export/test_iam.py checks these roles against the permissions every Terraform resource
# type in k8s-export/terraform needs (Google Cloud's IAM reference), and that docs/kubernetes.md
# lists the same roles.
set -euo pipefail
: "${PROJECT:?set PROJECT}" "${CI_SA:?set CI_SA (service account email)}" "${TF_STATE_BUCKET:?set TF_STATE_BUCKET}"

PROJECT_ROLES=(
  roles/serviceusage.serviceUsageAdmin   # google_project_service: enable the APIs
  roles/compute.networkAdmin             # VPC, subnet, Cloud Router, Cloud NAT
  roles/container.admin                  # cluster, node pools, and the Kubernetes objects of the deploy
  roles/iam.serviceAccountAdmin          # google_service_account: the node service account
  roles/iam.serviceAccountUser           # act as the node service account on the node pools
  roles/artifactregistry.admin           # google_artifact_registry_repository (create), image push
)
# Granting roles is the riskiest right: resourcemanager.projectIamAdmin is granted on the
# condition that only the node service account's roles (cluster.tf) can be added or removed.
NODE_ROLES=(
  roles/logging.logWriter
  roles/monitoring.metricWriter
  roles/monitoring.viewer
  roles/stackdriver.resourceMetadata.writer
  roles/artifactregistry.reader
)
BUCKET_ROLES=(
  roles/storage.objectUser               # Terraform state and its lock in the GCS backend
)

for role in "${PROJECT_ROLES[@]}"; do
  gcloud projects add-iam-policy-binding "$PROJECT" --member="serviceAccount:$CI_SA" \
    --role="$role" --condition=None --quiet >/dev/null
done

grantable=$(printf "'%s', " "${NODE_ROLES[@]}")
gcloud projects add-iam-policy-binding "$PROJECT" --member="serviceAccount:$CI_SA" \
  --role=roles/resourcemanager.projectIamAdmin --quiet >/dev/null \
  --condition="title=srelab-node-roles-only,expression=api.getAttribute('iam.googleapis.com/modifiedGrantsByRole', []).hasOnly([${grantable%, }])"

for role in "${BUCKET_ROLES[@]}"; do
  gcloud storage buckets add-iam-policy-binding "gs://$TF_STATE_BUCKET" \
    --member="serviceAccount:$CI_SA" --role="$role" >/dev/null
done
echo "granted ${#PROJECT_ROLES[@]} project roles, conditional projectIamAdmin and ${#BUCKET_ROLES[@]} bucket role to $CI_SA"
