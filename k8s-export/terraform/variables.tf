# Sizing comes from k8s-export/params.yaml (the file `srelab export k8s` reads), so the zones,
# pools and CIDRs are written once. Variables here only cover what manifests never need.

variable "params_file" {
  description = "Path of the export parameters file; default: ../params.yaml beside this module."
  type        = string
  default     = null
}

variable "deletion_protection" {
  description = "Refuse `terraform destroy` of the cluster while true."
  type        = bool
  default     = true
}

variable "master_authorized_networks" {
  description = "CIDRs allowed on the control plane's IP endpoint (CI uses the DNS endpoint with IAM)."
  type = list(object({
    cidr_block   = string
    display_name = string
  }))
  default = []
}
