# The identity the Cloud Run service runs as, and the only roles it holds. Each grant is
# on the narrowest resource that works; nothing is granted at project level except
# Firestore access, which has no finer scope.
resource "google_service_account" "runtime" {
  account_id   = "${var.service_name}-run"
  display_name = "Picbucket Cloud Run runtime"
  description  = "Runs the Picbucket service: reads and writes its bucket, Firestore and secrets."

  depends_on = [google_project_service.enabled]
}

locals {
  runtime_member = "serviceAccount:${google_service_account.runtime.email}"
}

# Create, read and delete image objects in this bucket only.
resource "google_storage_bucket_iam_member" "runtime_objects" {
  bucket = google_storage_bucket.images.name
  role   = "roles/storage.objectAdmin"
  member = local.runtime_member
}

# Read and write Firestore documents (the role cannot be scoped to one database).
resource "google_project_iam_member" "runtime_firestore" {
  project = var.project_id
  role    = "roles/datastore.user"
  member  = local.runtime_member
}

# Read each of its own secrets, and no other secret in the project.
resource "google_secret_manager_secret_iam_member" "runtime_secrets" {
  for_each = google_secret_manager_secret.app

  secret_id = each.value.id
  role      = "roles/secretmanager.secretAccessor"
  member    = local.runtime_member
}

# Sign Cloud Storage URLs (direct uploads, signed-url share delivery) through IAM
# signBlob as itself: Cloud Run has no private key file to sign with.
resource "google_service_account_iam_member" "runtime_signs_as_itself" {
  service_account_id = google_service_account.runtime.name
  role               = "roles/iam.serviceAccountTokenCreator"
  member             = local.runtime_member
}

# Anyone on the internet may reach the service. This is the only grant to allUsers, and
# it is safe: Picbucket does its own sign-in (Google OpenID Connect + the allow-list),
# every page but share links and health checks requires a session or an API token, and
# share links carry an unguessable token. Cloud Run IAM sign-in would break browsers,
# ShareX and public share links alike.
resource "google_cloud_run_v2_service_iam_member" "public_invoker" {
  name     = google_cloud_run_v2_service.app.name
  location = google_cloud_run_v2_service.app.location
  role     = "roles/run.invoker"
  member   = "allUsers"
}
