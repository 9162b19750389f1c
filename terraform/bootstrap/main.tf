# One-time setup for the deploy pipeline (.github/workflows/deploy.yml), applied by a
# project owner from a laptop with local state:
#   - the bucket that holds the main configuration's Terraform state,
#   - a Workload Identity Federation pool and GitHub provider, so GitHub Actions gets
#     short-lived Google credentials with no service account key anywhere,
#   - the deployer service account those credentials act as.
# See README "Deploy to Google Cloud", "Continuous deployment".

terraform {
  required_version = ">= 1.11, < 2.0"

  required_providers {
    google = {
      source  = "hashicorp/google"
      version = ">= 6.23, < 7.0"
    }
  }
}

provider "google" {
  project = var.project_id
  region  = var.region
}

variable "project_id" {
  description = "Google Cloud project ID that Picbucket deploys into."
  type        = string

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{4,28}[a-z0-9]$", var.project_id))
    error_message = "project_id must be a project ID: 6-30 lowercase letters, digits or hyphens."
  }
}

variable "region" {
  description = "Region of the state bucket (use the same as the main configuration)."
  type        = string
  default     = "us-central1"

  validation {
    condition     = can(regex("^[a-z]+-[a-z]+[0-9]+$", var.region))
    error_message = "region must be a Google Cloud region such as us-central1."
  }
}

variable "github_owner" {
  description = "GitHub user or organization that owns the repository allowed to deploy."
  type        = string

  validation {
    condition     = can(regex("^[A-Za-z0-9-]+$", var.github_owner))
    error_message = "github_owner must be a GitHub user or organization name."
  }
}

variable "github_repository_name" {
  description = "Name of the GitHub repository allowed to deploy (without the owner)."
  type        = string

  validation {
    condition     = can(regex("^[A-Za-z0-9_.-]+$", var.github_repository_name))
    error_message = "github_repository_name must be a repository name such as picbucket."
  }
}

variable "deploy_environment" {
  description = "GitHub environment whose jobs may deploy; give it branch and reviewer protection rules in GitHub."
  type        = string
  default     = "production"

  validation {
    condition     = can(regex("^[A-Za-z0-9_.-]+$", var.deploy_environment))
    error_message = "deploy_environment must be a GitHub environment name without spaces."
  }
}

resource "google_project_service" "enabled" {
  for_each = toset([
    "cloudresourcemanager.googleapis.com",
    "iam.googleapis.com",
    "iamcredentials.googleapis.com",
    "serviceusage.googleapis.com",
    "sts.googleapis.com",
    "storage.googleapis.com",
  ])

  service            = each.value
  disable_on_destroy = false
}

# --- Terraform state ---------------------------------------------------------------------

resource "google_storage_bucket" "tfstate" {
  #checkov:skip=CKV_GCP_62:Reads and writes of state are recorded by Cloud Audit Logs; usage logs would need another bucket.
  name     = "${var.project_id}-tfstate"
  location = var.region

  uniform_bucket_level_access = true
  public_access_prevention    = "enforced"
  force_destroy               = false

  # Every apply writes a new state version; keep old ones to recover from a bad apply.
  versioning {
    enabled = true
  }

  lifecycle_rule {
    condition {
      num_newer_versions = 20
      with_state         = "ARCHIVED"
    }
    action {
      type = "Delete"
    }
  }

  depends_on = [google_project_service.enabled]
}

# --- GitHub Actions identity ---------------------------------------------------------------

resource "google_iam_workload_identity_pool" "github" {
  workload_identity_pool_id = "github"
  display_name              = "GitHub Actions"

  depends_on = [google_project_service.enabled]
}

resource "google_iam_workload_identity_pool_provider" "github" {
  workload_identity_pool_id          = google_iam_workload_identity_pool.github.workload_identity_pool_id
  workload_identity_pool_provider_id = "github-oidc"
  display_name                       = "GitHub OIDC"

  attribute_mapping = {
    "google.subject"        = "assertion.sub"
    "attribute.repository"  = "assertion.repository"
    "attribute.environment" = "assertion.environment"
  }
  # Only jobs of this repository that run in the deploy environment may exchange tokens
  # (the OIDC subject is "repo:<owner>/<name>:environment:<env>" for such jobs); any other
  # repository or job on github.com is refused before IAM is even consulted.
  attribute_condition = "assertion.sub == 'repo:${var.github_owner}/${var.github_repository_name}:environment:${var.deploy_environment}'"

  oidc {
    issuer_uri = "https://token.actions.githubusercontent.com"
  }
}

resource "google_service_account" "deployer" {
  account_id   = "picbucket-deployer"
  display_name = "Picbucket deployer (GitHub Actions)"
  description  = "Pushes images and runs terraform apply for Picbucket from GitHub Actions."

  depends_on = [google_project_service.enabled]
}

resource "google_service_account_iam_member" "github_acts_as_deployer" {
  service_account_id = google_service_account.deployer.name
  role               = "roles/iam.workloadIdentityUser"
  member             = "principalSet://iam.googleapis.com/${google_iam_workload_identity_pool.github.name}/attribute.repository/${var.github_owner}/${var.github_repository_name}"
}

# terraform apply manages every resource in ../, so the deployer needs to administer
# each kind of them. It can only be reached from jobs in the deploy environment (above):
# restrict that GitHub environment to the main branch and, ideally, require a reviewer.
locals {
  deployer_roles = toset([
    "roles/artifactregistry.admin",
    # The Cloud Scheduler job that starts the reconcile job (../reconcile.tf).
    "roles/cloudscheduler.admin",
    "roles/datastore.owner",
    "roles/resourcemanager.projectIamAdmin",
    "roles/run.admin",
    "roles/secretmanager.admin",
    "roles/serviceusage.serviceUsageAdmin",
    "roles/storage.admin",
  ])
}

resource "google_project_iam_member" "deployer" {
  for_each = local.deployer_roles

  project = var.project_id
  role    = each.value
  member  = "serviceAccount:${google_service_account.deployer.email}"
}

# Creating the runtime service account and granting roles on it is part of the apply.
resource "google_project_iam_member" "deployer_manages_service_accounts" {
  #checkov:skip=CKV_GCP_49:terraform apply creates the runtime service account and its self-binding; the deployer is reachable only from the protected deploy environment.
  project = var.project_id
  role    = "roles/iam.serviceAccountAdmin"
  member  = "serviceAccount:${google_service_account.deployer.email}"
}

# Deploying a Cloud Run revision that runs as the runtime account requires actAs on it.
# Project level because that account does not exist until the main configuration runs.
resource "google_project_iam_member" "deployer_acts_as_runtime" {
  #checkov:skip=CKV_GCP_41:Cloud Run deploys need actAs on the runtime service account, which is created later by the main configuration.
  #checkov:skip=CKV_GCP_49:Same grant as CKV_GCP_41; the deployer is reachable only from the protected deploy environment.
  project = var.project_id
  role    = "roles/iam.serviceAccountUser"
  member  = "serviceAccount:${google_service_account.deployer.email}"
}

# Read-write access to the state, on this bucket only.
resource "google_storage_bucket_iam_member" "deployer_state" {
  bucket = google_storage_bucket.tfstate.name
  role   = "roles/storage.objectAdmin"
  member = "serviceAccount:${google_service_account.deployer.email}"
}

output "state_bucket" {
  description = "Pass to terraform init -backend-config=bucket=... (GitHub variable TF_STATE_BUCKET)."
  value       = google_storage_bucket.tfstate.name
}

output "workload_identity_provider" {
  description = "GitHub variable WIF_PROVIDER."
  value       = google_iam_workload_identity_pool_provider.github.name
}

output "deployer_service_account" {
  description = "GitHub variable DEPLOY_SERVICE_ACCOUNT."
  value       = google_service_account.deployer.email
}
