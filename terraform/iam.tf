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
# signBlob as itself: Cloud Run has no private key file to sign with. A custom role with
# signBlob alone, not roles/iam.serviceAccountTokenCreator: that role also carries
# getAccessToken, getOpenIdToken and implicitDelegation, so code running as the account
# could mint bearer tokens for itself and hand them out. Signing a URL needs none of it.
resource "google_project_iam_custom_role" "sign_blob" {
  # Role ids allow letters, digits, _ and . only. A deleted custom role keeps its id for
  # 37 days; re-creating it within that time undeletes it (the provider does this).
  role_id     = "${replace(var.service_name, "-", "_")}_signBlob"
  title       = "Picbucket URL signer (${var.service_name})"
  description = "Sign bytes as a service account (Cloud Storage signed URLs); no token minting."
  permissions = ["iam.serviceAccounts.signBlob"]

  depends_on = [google_project_service.enabled]
}

# Bound on the runtime account itself only: it may sign as itself, as no other account.
resource "google_service_account_iam_member" "runtime_signs_as_itself" {
  service_account_id = google_service_account.runtime.name
  role               = google_project_iam_custom_role.sign_blob.id
  member             = local.runtime_member
}

# --- Reconcile job identity --------------------------------------------------------------

# The scheduled reconcile job (reconcile.tf) runs as an account of its own, not as the
# service's: it needs the bucket, Firestore and the session key (settings validation),
# but never the OAuth client secret, and it never signs URLs. With its own account it
# cannot read the client secret even by calling Secret Manager directly.
# "-job" keeps "<service_name>-job" within the 30-character account id limit, like "-run".
resource "google_service_account" "reconcile" {
  account_id   = "${var.service_name}-job"
  display_name = "Picbucket reconcile job"
  description  = "Runs picbucket reconcile: its bucket, Firestore and the session key; no OAuth client secret."

  depends_on = [google_project_service.enabled]
}

locals {
  reconcile_member = "serviceAccount:${google_service_account.reconcile.email}"
}

# Lists, reads and deletes orphan objects and stale incoming/ uploads in this bucket only.
resource "google_storage_bucket_iam_member" "reconcile_objects" {
  bucket = google_storage_bucket.images.name
  role   = "roles/storage.objectAdmin"
  member = local.reconcile_member
}

# Reads and removes stale records (the role cannot be scoped to one database).
resource "google_project_iam_member" "reconcile_firestore" {
  project = var.project_id
  role    = "roles/datastore.user"
  member  = local.reconcile_member
}

# The secrets in local.reconcile_secret_env (secrets.tf) and no other: not the OAuth
# client secret.
resource "google_secret_manager_secret_iam_member" "reconcile_secrets" {
  for_each = local.reconcile_secret_env

  secret_id = google_secret_manager_secret.app[each.key].id
  role      = "roles/secretmanager.secretAccessor"
  member    = local.reconcile_member
}

# --- Export job identity -----------------------------------------------------------------

# The export job (exports.tf) zips one person's originals into exports/<user>/<id>.zip.
# It runs as an account of its own, narrower than reconcile's: it reads every object but
# may create and delete only under exports/, so a fault in the build cannot touch a
# photo. Like reconcile it gets no OAuth client secret and never signs URLs (the service
# signs the download link as itself). "-exp" keeps "<service_name>-exp" within the
# 30-character account id limit, like "-run".
resource "google_service_account" "export" {
  account_id   = "${var.service_name}-exp"
  display_name = "Picbucket export job"
  description  = "Runs picbucket exports build: reads its bucket, writes only under exports/, Firestore and the session key; no OAuth client secret."

  depends_on = [google_project_service.enabled]
}

locals {
  export_member = "serviceAccount:${google_service_account.export.email}"
  # IAM condition resource name of the objects under exports/ in the image bucket.
  export_objects = "projects/_/buckets/${google_storage_bucket.images.name}/objects/exports/"
}

# Reads the originals it zips (and lists, to find a leftover zip), in this bucket only.
resource "google_storage_bucket_iam_member" "export_reads" {
  bucket = google_storage_bucket.images.name
  role   = "roles/storage.objectViewer"
  member = local.export_member
}

# Creates the zip and deletes a partial or leftover one: under exports/ only. Conditions
# on a bucket need uniform bucket-level access (storage.tf has it on). objectUser, not
# objectAdmin: no object IAM permissions either.
resource "google_storage_bucket_iam_member" "export_writes" {
  bucket = google_storage_bucket.images.name
  role   = "roles/storage.objectUser"
  member = local.export_member

  condition {
    title       = "exports-prefix-only"
    description = "Objects under exports/ (export zips) only."
    expression  = "resource.name.startsWith(\"${local.export_objects}\")"
  }
}

# Reads the person's records and saves the export's progress (no finer scope exists).
resource "google_project_iam_member" "export_firestore" {
  project = var.project_id
  role    = "roles/datastore.user"
  member  = local.export_member
}

# The secrets the maintenance CLI validates at start (local.reconcile_secret_env), as
# for reconcile: not the OAuth client secret.
resource "google_secret_manager_secret_iam_member" "export_secrets" {
  for_each = local.reconcile_secret_env

  secret_id = google_secret_manager_secret.app[each.key].id
  role      = "roles/secretmanager.secretAccessor"
  member    = local.export_member
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
