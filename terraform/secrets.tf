# Secrets the service reads at start, each wired into Cloud Run with secret_key_ref
# (run.tf), never as a plain environment value.
#
# - The session secret key is generated here. The random value is ephemeral and sent
#   write-only, so it is never stored in the Terraform state or plan. Bump
#   var.secret_key_version to rotate it (signs everyone out).
# - The OAuth client id and secret come from Google Cloud Console. Terraform creates
#   only the empty secrets; you add the values with `gcloud secrets versions add`
#   (README "Deploy to Google Cloud"), so they never pass through tfvars, the state or CI logs.
locals {
  secret_env = {
    PICBUCKET_SECRET_KEY         = "${var.service_name}-secret-key"
    PICBUCKET_OIDC_CLIENT_ID     = "${var.service_name}-oidc-client-id"
    PICBUCKET_OIDC_CLIENT_SECRET = "${var.service_name}-oidc-client-secret"
  }
}

resource "google_secret_manager_secret" "app" {
  for_each = local.secret_env

  secret_id = each.value

  replication {
    auto {}
  }

  depends_on = [google_project_service.enabled]
}

ephemeral "random_password" "secret_key" {
  length  = 64
  special = false
}

resource "google_secret_manager_secret_version" "secret_key" {
  secret                 = google_secret_manager_secret.app["PICBUCKET_SECRET_KEY"].id
  secret_data_wo         = ephemeral.random_password.secret_key.result
  secret_data_wo_version = var.secret_key_version
}
