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

# --- What the deployer may do ---------------------------------------------------------------
#
# CI runs `terraform apply` of ../ on every push: it refreshes every resource and changes
# what a release changes (the image, settings, Cloud Run, the schedule, Firestore indexes,
# the registry policy, a new session key). Each grant below is what that needs and no
# more. Identities and access are not among it: creating or deleting service accounts,
# custom roles, IAM grants on the project or on an account, and the log exclusion are
# applied by a project owner (README "Deploy to Google Cloud", steps 1-6, and again when
# a change touches iam.tf or logging.tf). The deployer may only read those, so a
# compromised workflow cannot grant itself or anyone else a role, mint a token for
# another account, or create keys.
#
# The deployer is reachable only from jobs in the deploy environment (above): restrict
# that GitHub environment to the main branch and, ideally, require a reviewer.
#
# Apply this after the first apply of ../ (step 6): the bindings on the service
# accounts, the bucket, the registry and the secrets name resources that exist then.

variable "service_name" {
  description = "service_name of the main configuration (prefixes its service accounts and secrets)."
  type        = string
  default     = "picbucket"

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{1,24}[a-z0-9]$", var.service_name))
    error_message = "service_name must be 3-26 lowercase letters, digits or hyphens, starting with a letter."
  }
}

variable "image_bucket_name" {
  description = "bucket_name of the main configuration. Default: <project_id>-picbucket, as there."
  type        = string
  default     = null
}

variable "artifact_repository_id" {
  description = "artifact_repository_id of the main configuration."
  type        = string
  default     = "picbucket"
}

variable "reconcile_enabled" {
  description = "reconcile_enabled of the main configuration: the scheduler account exists only then."
  type        = bool
  default     = true
}

locals {
  deployer_member = "serviceAccount:${google_service_account.deployer.email}"

  # Names the main configuration gives its resources (../iam.tf, ../secrets.tf,
  # ../storage.tf, ../registry.tf, ../reconcile.tf, ../exports.tf).
  account_emails = merge(
    {
      runtime   = "${var.service_name}-run@${var.project_id}.iam.gserviceaccount.com"
      reconcile = "${var.service_name}-job@${var.project_id}.iam.gserviceaccount.com"
      export    = "${var.service_name}-exp@${var.project_id}.iam.gserviceaccount.com"
    },
    var.reconcile_enabled ? { scheduler = "${var.service_name}-sch@${var.project_id}.iam.gserviceaccount.com" } : {},
  )
  secret_ids = toset([
    "${var.service_name}-secret-key",
    "${var.service_name}-oidc-client-id",
    "${var.service_name}-oidc-client-secret",
  ])
  image_bucket = coalesce(var.image_bucket_name, "${var.project_id}-picbucket")

  # Project-level roles, each for resources that have no finer IAM scope (or are created
  # at project level, so a resource-level grant cannot cover their replacement).
  deployer_project_roles = toset([
    # Cloud Run: the service, the reconcile and export jobs and their IAM (public
    # invoker, the scheduler's invoker grant, the service's grant on the export job).
    # Creating a service or job is a project permission.
    "roles/run.admin",
    # The Cloud Scheduler job that starts reconcile (../reconcile.tf); scheduler jobs
    # have no IAM of their own.
    "roles/cloudscheduler.admin",
    # The Firestore database, composite indexes and TTL fields (../firestore.tf);
    # Firestore has no per-database IAM.
    "roles/datastore.owner",
    # Enables the APIs in ../apis.tf when a release adds one; it cannot grant anything.
    "roles/serviceusage.serviceUsageAdmin",
  ])
}

# Read-only access to what only an owner changes, so the plan can refresh it: the
# project (data.google_project), its IAM policy (the datastore.user grants), the service
# accounts and their IAM policies (the signBlob self-grant), the signBlob custom role,
# and the log exclusion. No setIamPolicy, create, delete, key or token permission.
resource "google_project_iam_custom_role" "deployer_reader" {
  role_id     = "picbucketDeployerReader"
  title       = "Picbucket deployer: read identities and access"
  description = "Lets terraform plan refresh service accounts, IAM policies, custom roles and log exclusions it may not change."
  permissions = [
    "iam.roles.get",
    "iam.serviceAccounts.get",
    "iam.serviceAccounts.getIamPolicy",
    "iam.serviceAccounts.list",
    "logging.exclusions.get",
    "logging.exclusions.list",
    "resourcemanager.projects.get",
    "resourcemanager.projects.getIamPolicy",
  ]
}

resource "google_project_iam_member" "deployer_reads" {
  project = var.project_id
  role    = google_project_iam_custom_role.deployer_reader.id
  member  = local.deployer_member
}

resource "google_project_iam_member" "deployer" {
  for_each = local.deployer_project_roles

  project = var.project_id
  role    = each.value
  member  = local.deployer_member
}

# actAs on exactly the accounts the deploy attaches to workloads, one binding each:
#   runtime   - the Cloud Run service runs as it (../run.tf)
#   reconcile - the reconcile Cloud Run job runs as it (../reconcile.tf)
#   export    - the export Cloud Run job runs as it (../exports.tf)
#   scheduler - Cloud Scheduler calls the Run API with its OAuth token (../reconcile.tf)
# roles/iam.serviceAccountUser carries actAs and get; not getAccessToken or signBlob, so
# the deployer cannot act as these accounts outside the workloads it deploys, nor on any
# other account in the project.
resource "google_service_account_iam_member" "deployer_acts_as" {
  for_each = local.account_emails

  service_account_id = "projects/${var.project_id}/serviceAccounts/${each.value}"
  role               = "roles/iam.serviceAccountUser"
  member             = local.deployer_member
}

# The image bucket's settings (CORS, lifecycle, soft delete) and objects, on that bucket
# only; not the state bucket, not other buckets in the project.
resource "google_storage_bucket_iam_member" "deployer_images_bucket" {
  bucket = local.image_bucket
  role   = "roles/storage.admin"
  member = local.deployer_member
}

# Push images (CI builds them) and update the repository's settings (immutable tags,
# cleanup policy; ../registry.tf), on this repository only: granted on the repository,
# the admin role reaches no other repository and cannot create one.
resource "google_artifact_registry_repository_iam_member" "deployer_registry" {
  location   = var.region
  repository = var.artifact_repository_id
  role       = "roles/artifactregistry.admin"
  member     = local.deployer_member
}

# The three secrets of ../secrets.tf: refresh them and add a session key version when
# secret_key_version is bumped (and destroy the previous one). Secret-level, so no other
# secret in the project is reachable.
resource "google_secret_manager_secret_iam_member" "deployer_secrets" {
  for_each = local.secret_ids

  secret_id = "projects/${var.project_id}/secrets/${each.value}"
  role      = "roles/secretmanager.admin"
  member    = local.deployer_member
}

# Read-write access to the state, on this bucket only.
resource "google_storage_bucket_iam_member" "deployer_state" {
  bucket = google_storage_bucket.tfstate.name
  role   = "roles/storage.objectAdmin"
  member = local.deployer_member
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
