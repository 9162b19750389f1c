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

  # What the reconcile job (reconcile.tf) gets: every secret but the OAuth client
  # secret. Reconcile never signs anyone in.
  reconcile_secret_env = {
    for name, secret_id in local.secret_env : name => secret_id
    if name != "PICBUCKET_OIDC_CLIENT_SECRET"
  }

  # The secret version each container reads. The OAuth values are added by hand, so
  # instances read "latest" when they start. The session key is pinned to the version
  # Terraform made: bumping secret_key_version then changes the service and the job,
  # so a new revision rolls out with the new key on every instance at once (see below).
  secret_versions = {
    for name in keys(local.secret_env) : name => (
      name == "PICBUCKET_SECRET_KEY" ? google_secret_manager_secret_version.secret_key.version : "latest"
    )
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

# Bumping secret_key_version replaces this version. Replaced the default way (destroy,
# then create), there would be a moment with no readable version: any instance starting
# then (a cold start, a scale-out, a crash restart) could not read its key and would fail.
# create_before_destroy reverses the order, and because the service and the job name
# this exact version (local.secret_versions), Terraform destroys the old one only after
# they point at the new one: Terraform creates the new version, rolls out the revision
# that reads it, and then destroys the previous version, which until then stays enabled
# for instances of the old revision that are still starting or serving.
resource "google_secret_manager_secret_version" "secret_key" {
  secret                 = google_secret_manager_secret.app["PICBUCKET_SECRET_KEY"].id
  secret_data_wo         = ephemeral.random_password.secret_key.result
  secret_data_wo_version = var.secret_key_version

  lifecycle {
    create_before_destroy = true
  }
}
