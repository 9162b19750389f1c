output "service_url" {
  description = "URL of the app (Cloud Run's deterministic URL)."
  value       = local.service_url
}

output "service_uri_reported" {
  description = "URL as Cloud Run reports it after deploy; the same service as service_url."
  value       = google_cloud_run_v2_service.app.uri
}

output "oauth_redirect_uri" {
  description = "Register this exact URI under Authorized redirect URIs of the OAuth client (Web application)."
  value       = "${local.service_url}/auth/callback"
}

output "oauth_redirect_uris" {
  description = "Every redirect URI to register, including those of extra_origins."
  value       = [for origin in local.app_origins : "${origin}/auth/callback"]
}

output "bucket_name" {
  description = "Cloud Storage bucket holding the images."
  value       = google_storage_bucket.images.name
}

output "firestore_database" {
  description = "Firestore database holding the records."
  value       = google_firestore_database.main.name
}

output "image_repository" {
  description = "Push images here: docker push <image_repository>/picbucket:<tag>."
  value       = "${var.region}-docker.pkg.dev/${var.project_id}/${google_artifact_registry_repository.images.repository_id}"
}

output "runtime_service_account" {
  description = "Service account the Cloud Run service runs as."
  value       = google_service_account.runtime.email
}

output "reconcile_service_account" {
  description = "Service account the reconcile job runs as (no access to the OAuth client secret)."
  value       = google_service_account.reconcile.email
}

output "service_memory" {
  description = "Memory per Cloud Run instance, computed from decode_budget_mb (run.tf)."
  value       = "${local.memory_mib}Mi"
}

output "oauth_secret_names" {
  description = "Secret Manager secrets to fill with the OAuth client id and secret (gcloud secrets versions add)."
  value = {
    client_id     = google_secret_manager_secret.app["PICBUCKET_OIDC_CLIENT_ID"].secret_id
    client_secret = google_secret_manager_secret.app["PICBUCKET_OIDC_CLIENT_SECRET"].secret_id
  }
}

output "reconcile_job" {
  description = "Cloud Run job that runs picbucket reconcile: gcloud run jobs execute <reconcile_job> --region <region> --wait."
  value       = google_cloud_run_v2_job.reconcile.name
}

output "export_job" {
  description = "Cloud Run job that builds large exports; the service starts it (executions: gcloud run jobs executions list --job <export_job> --region <region>)."
  value       = google_cloud_run_v2_job.export.name
}

output "export_service_account" {
  description = "Service account the export job runs as (reads the bucket, writes only under exports/)."
  value       = google_service_account.export.email
}
