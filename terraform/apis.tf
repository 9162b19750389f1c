# APIs the deployment uses. serviceusage and cloudresourcemanager must already be on
# before Terraform can enable anything (README "Deploy to Google Cloud", step 2).
locals {
  apis = toset([
    "artifactregistry.googleapis.com",
    # Starts the reconcile job on a schedule (reconcile.tf).
    "cloudscheduler.googleapis.com",
    "firestore.googleapis.com",
    "iam.googleapis.com",
    # signBlob: the runtime account signs Cloud Storage URLs without a key file.
    "iamcredentials.googleapis.com",
    # The exclusion that keeps share tokens out of the request log (logging.tf).
    "logging.googleapis.com",
    "run.googleapis.com",
    "secretmanager.googleapis.com",
    "storage.googleapis.com",
  ])
}

resource "google_project_service" "enabled" {
  for_each = local.apis

  service = each.value
  # Other workloads in the project may rely on these; tearing Picbucket down must not
  # switch them off.
  disable_on_destroy = false
}

data "google_project" "this" {
  project_id = var.project_id
}
