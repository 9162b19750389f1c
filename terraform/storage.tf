# Image bytes: originals and thumbnails under users/<user-id>/<image-id>/, direct
# browser uploads under incoming/ until the app verifies and moves them, and export
# zips under exports/<user-id>/ until their owner has had time to download them.
resource "google_storage_bucket" "images" {
  #checkov:skip=CKV_GCP_62:Access is audited with Cloud Audit Logs (Data Access) rather than legacy usage logs, which need a second bucket and cost storage for no extra insight.
  #checkov:skip=CKV_GCP_78:Versioning is opt-in (var.bucket_versioning): with it on, a deleted image would survive as a noncurrent version, and users are told deleting removes it.
  name     = local.bucket_name
  location = local.bucket_location

  storage_class               = "STANDARD"
  uniform_bucket_level_access = true
  # No object can ever be made public: share links go through the app or signed URLs.
  public_access_prevention = "enforced"
  # With deletion protection on, `terraform destroy` refuses a bucket with images in it.
  force_destroy = !var.deletion_protection

  versioning {
    enabled = var.bucket_versioning
  }

  # Deleted objects stay restorable this long (0 turns soft delete off).
  soft_delete_policy {
    retention_duration_seconds = var.bucket_soft_delete_days * 86400
  }

  # Direct uploads the browser started but the app never finalized.
  lifecycle_rule {
    condition {
      age            = 1
      matches_prefix = ["incoming/"]
    }
    action {
      type = "Delete"
    }
  }

  # Export zips (exports/<user>/<id>.zip, exports.tf): reconcile deletes each with its
  # record once export_keep_days are over. This is the backstop for a zip whose record
  # is gone or a reconcile that does not run: Cloud Storage deletes it a day later.
  lifecycle_rule {
    condition {
      age            = var.export_keep_days + 1
      matches_prefix = ["exports/"]
    }
    action {
      type = "Delete"
    }
  }

  dynamic "lifecycle_rule" {
    for_each = var.bucket_versioning ? [1] : []
    content {
      condition {
        days_since_noncurrent_time = var.noncurrent_version_retention_days
        with_state                 = "ARCHIVED"
      }
      action {
        type = "Delete"
      }
    }
  }

  # The browser PUTs large files straight to a signed URL; only the app's own origins
  # may do that. GCS answers the OPTIONS preflight itself from this policy, which must
  # list every header the browser sends with the PUT (the signed headers of
  # GcsBlobStore.upload_ticket: type, size range, create-only).
  cors {
    origin          = local.app_origins
    method          = ["PUT"]
    response_header = ["Content-Type", "x-goog-content-length-range", "x-goog-if-generation-match"]
    max_age_seconds = 3600
  }

  depends_on = [google_project_service.enabled]
}

locals {
  bucket_name     = coalesce(var.bucket_name, "${var.project_id}-picbucket")
  bucket_location = coalesce(var.bucket_location, var.region)
}
