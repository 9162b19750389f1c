# Docker repository the image is pushed to (README "Deploy to Google Cloud", step 4; CI pushes here too).
resource "google_artifact_registry_repository" "images" {
  #checkov:skip=CKV_GCP_84:Google-managed encryption is enough for a public-source app image; a CMEK adds a KMS key and its cost for no confidentiality gain.
  location      = var.region
  repository_id = var.artifact_repository_id
  description   = "Picbucket container images"
  format        = "DOCKER"

  docker_config {
    # Each build gets a new tag (CI uses the commit SHA), so a tag always names one image.
    immutable_tags = true
  }

  # Storage is the only idle cost here: keep the newest images for rollbacks, delete the
  # rest after 30 days. KEEP wins over DELETE, so the running image is never removed.
  cleanup_policy_dry_run = false
  cleanup_policies {
    id     = "keep-recent"
    action = "KEEP"
    most_recent_versions {
      keep_count = var.keep_image_versions
    }
  }
  cleanup_policies {
    id     = "delete-old"
    action = "DELETE"
    condition {
      tag_state  = "ANY"
      older_than = "2592000s"
    }
  }

  depends_on = [google_project_service.enabled]
}
