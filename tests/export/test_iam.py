"""The CI service account's roles cover what `terraform apply` of k8s-export/terraform does.

Facts, per Terraform resource type: the IAM permissions Google Cloud's API reference (or IAM
guide) names for creating it, and for each role the permissions Google's role reference lists
in it. Where the role page was not available to read, the fact says so (`read`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from srelab.stack.settings import ROOT
from tests.export.test_terraform import tf  # noqa: F401  (fixture)

SCRIPT = ROOT / "k8s-export" / "ci" / "grant-ci-roles.sh"
DOCS = ROOT / "docs" / "kubernetes.md"


@dataclass(frozen=True)
class Need:
    permissions: tuple[str, ...]
    source: str


# What creating each resource type needs (the apply creates every one of them).
NEEDS: dict[str, Need] = {
    "google_project_service": Need(
        ("serviceusage.services.enable", "serviceusage.services.get"),
        "https://cloud.google.com/service-usage/docs/access-control (services.enable, services.get)",
    ),
    "google_service_account": Need(
        ("iam.serviceAccounts.create", "iam.serviceAccounts.get"),
        "https://cloud.google.com/iam/docs/roles-permissions/iam (Service Account Admin)",
    ),
    "google_project_iam_member": Need(
        ("resourcemanager.projects.getIamPolicy", "resourcemanager.projects.setIamPolicy"),
        "https://cloud.google.com/iam/docs/setting-limits-on-granting-roles (required permissions)",
    ),
    "google_container_cluster": Need(
        ("container.clusters.create", "container.clusters.get", "container.operations.get"),
        "https://cloud.google.com/iam/docs/roles-permissions/container (container.*)",
    ),
    "google_container_node_pool": Need(
        ("container.clusters.update", "iam.serviceAccounts.actAs"),
        "https://cloud.google.com/kubernetes-engine/docs/reference/rest/v1/projects.locations.clusters."
        "nodePools/create (container.clusters.update on the parent); roles/container.admin's page: to set "
        "a service account on nodes, roles/iam.serviceAccountUser on it",
    ),
    "google_compute_network": Need(
        ("compute.networks.create",),
        "https://cloud.google.com/compute/docs/reference/rest/v1/networks/insert",
    ),
    "google_compute_subnetwork": Need(
        ("compute.subnetworks.create",),
        "https://cloud.google.com/compute/docs/reference/rest/v1/subnetworks/insert",
    ),
    "google_compute_router": Need(
        ("compute.routers.create",),
        "https://cloud.google.com/compute/docs/reference/rest/v1/routers/insert",
    ),
    "google_compute_router_nat": Need(
        ("compute.routers.update",),
        "https://cloud.google.com/compute/docs/reference/rest/v1/routers/patch (NAT is part of the router)",
    ),
    "google_artifact_registry_repository": Need(
        ("artifactregistry.repositories.create",),
        "https://cloud.google.com/iam/docs/roles-permissions/artifactregistry (roles/artifactregistry.admin:"
        " 'Administrator access to create and manage repositories')",
    ),
}
# The GCS backend (versions.tf) reads and writes the state object and its lock file.
BACKEND_NEED = Need(
    ("storage.objects.create", "storage.objects.get", "storage.objects.list", "storage.objects.delete"),
    "https://developer.hashicorp.com/terraform/language/backend/gcs (storage.objects.* on the bucket)",
)


@dataclass(frozen=True)
class Role:
    permissions: tuple[str, ...]
    source: str
    read: bool = True
    """False: the role page could not be read in the stored corpus; the fact is the role's
    documented purpose, not its permission list."""


ROLES: dict[str, Role] = {
    "roles/serviceusage.serviceUsageAdmin": Role(
        ("serviceusage.services.enable", "serviceusage.services.get", "serviceusage.services.list"),
        "https://cloud.google.com/iam/docs/roles-permissions/serviceusage ('Ability to enable, disable, and "
        "inspect service states'); https://cloud.google.com/iam/docs/setting-limits-on-granting-roles",
    ),
    "roles/iam.serviceAccountAdmin": Role(
        ("iam.serviceAccounts.create", "iam.serviceAccounts.get", "iam.serviceAccounts.update"),
        "https://cloud.google.com/iam/docs/roles-permissions/iam",
        read=False,
    ),
    "roles/iam.serviceAccountUser": Role(
        ("iam.serviceAccounts.actAs",),
        "https://cloud.google.com/iam/docs/roles-permissions/container (roles/container.admin: 'To set a "
        "service account on nodes, you must also have the Service Account User role')",
    ),
    "roles/resourcemanager.projectIamAdmin": Role(
        ("resourcemanager.projects.getIamPolicy", "resourcemanager.projects.setIamPolicy"),
        "https://cloud.google.com/iam/docs/setting-limits-on-granting-roles (Project IAM Admin)",
    ),
    "roles/container.admin": Role(
        (
            "container.clusters.create",
            "container.clusters.get",
            "container.clusters.update",
            "container.operations.get",
        ),
        "https://cloud.google.com/iam/docs/roles-permissions/container (roles/container.admin: container.*)",
    ),
    "roles/compute.networkAdmin": Role(
        (
            "compute.networks.create",
            "compute.subnetworks.create",
            "compute.routers.create",
            "compute.routers.update",
        ),
        "https://cloud.google.com/compute/docs/access/iam (networkAdmin 'can control network-related "
        "resources in the project'); permission list at https://cloud.google.com/iam/docs/roles-permissions/"
        "compute",
        read=False,
    ),
    "roles/artifactregistry.admin": Role(
        ("artifactregistry.repositories.create", "artifactregistry.repositories.uploadArtifacts"),
        "https://cloud.google.com/iam/docs/roles-permissions/artifactregistry (artifactregistry.*)",
    ),
    "roles/storage.objectUser": Role(
        BACKEND_NEED.permissions,
        "https://cloud.google.com/iam/docs/roles-permissions/storage",
        read=False,
    ),
}
# The roles the CI account had before this fix (docs/kubernetes.md): they could not enable APIs,
# create service accounts, grant roles or create the registry.
OLD_DOCUMENTED = ["roles/container.admin", "roles/artifactregistry.writer", "roles/compute.networkAdmin"]


def script_roles() -> set[str]:
    text = SCRIPT.read_text()
    roles = set(re.findall(r"^\s+(roles/[A-Za-z.]+)\s", text, re.M))
    if "--role=roles/resourcemanager.projectIamAdmin" in text:
        roles.add("roles/resourcemanager.projectIamAdmin")
    node_block = re.search(r"NODE_ROLES=\(\n(.*?)\n\)", text, re.S)
    node_roles = set(re.findall(r"roles/[A-Za-z.]+", node_block.group(1))) if node_block else set()
    return roles - node_roles


def documented_roles() -> set[str]:
    row = next(line for line in DOCS.read_text().splitlines() if line.startswith("| `GCP_SERVICE_ACCOUNT` |"))
    return set(re.findall(r"roles/[A-Za-z.]+", row))


def missing(roles: set[str], resource_types: set[str]) -> list[str]:
    granted = {p for r in roles if r in ROLES for p in ROLES[r].permissions}
    out = []
    for rtype in sorted(resource_types):
        need = NEEDS.get(rtype)
        if need is None:
            out.append(f"{rtype}: no IAM fact recorded")
            continue
        out += [f"{rtype}: {p}" for p in need.permissions if p not in granted]
    out += [f"backend gcs: {p}" for p in BACKEND_NEED.permissions if p not in granted]
    return out


def test_every_resource_type_has_facts_and_the_roles_cover_them(tf):  # noqa: F811
    types = set(tf["resource"])
    assert types >= {
        "google_container_cluster",
        "google_project_service",
        "google_artifact_registry_repository",
    }
    assert missing(script_roles(), types) == []


def test_docs_and_script_grant_the_same_roles():
    assert script_roles() and documented_roles() == script_roles()


def test_the_old_roles_were_short(tf):  # noqa: F811
    gaps = missing(set(OLD_DOCUMENTED), set(tf["resource"]))
    for needed in (
        "serviceusage.services.enable",
        "iam.serviceAccounts.create",
        "resourcemanager.projects.setIamPolicy",
        "artifactregistry.repositories.create",
    ):
        assert any(needed in g for g in gaps), needed


def test_role_granting_is_limited_to_the_node_roles(tf):  # noqa: F811
    """projectIamAdmin could grant any role (Owner included): the script grants it on the
    condition (iam.googleapis.com/modifiedGrantsByRole hasOnly, IAM "Setting limits on granting
    roles") that only the node service account's roles change, exactly those of cluster.tf."""
    text = SCRIPT.read_text()
    node_block = re.search(r"NODE_ROLES=\(\n(.*?)\n\)", text, re.S)
    assert node_block
    node_roles = set(re.findall(r"roles/[A-Za-z.]+", node_block.group(1)))
    for_each = str(tf["resource"]["google_project_iam_member"]["nodes"]["for_each"])
    assert node_roles == set(re.findall(r"roles/[A-Za-z.]+", for_each))
    assert "modifiedGrantsByRole', []).hasOnly(" in text
