locals {
  # Cloud Run's deterministic URL, known before the service exists, so the bucket CORS
  # policy and the OAuth redirect URI can name it without a dependency cycle
  # (bucket -> service env -> bucket). var.service_name is length-limited so the
  # "<name>-<project-number>" DNS label fits in 63 characters.
  service_url = "https://${var.service_name}-${data.google_project.this.number}.${var.region}.run.app"
  app_origins = concat([local.service_url], var.extra_origins)

  # One instance serves workers x threads requests at once (gunicorn.conf.py). Cloud Run
  # must send exactly that many: fewer wastes threads, more queues inside gunicorn where
  # the autoscaler cannot see it.
  concurrency = var.gunicorn_workers * var.gunicorn_threads

  # Memory for the pixel limit. Pillow holds a decoded image at 4 bytes a pixel (RGB is
  # padded to RGBA), so a 50 MP upload is 200 MB; applying the EXIF orientation and
  # re-encoding make one more full-size copy before the first is freed: 400 MB peak per
  # request. Animations get the same budget: all frames together are at most max_pixels
  # (imaging.py), each held as RGBA. Every thread may be decoding at once, plus ~256 MiB for Python, Flask,
  # Pillow and the Google clients:
  #   8 threads x 381 MiB + 256 MiB = 3,308 MiB  ->  4 GiB (the most 1 vCPU allows).
  # 2 GiB would be enough on average but not for eight simultaneous 50 MP uploads, and an
  # out-of-memory kill drops every request on the instance. Billing is per request-second
  # and scale to zero keeps idle cost at 0, so the headroom costs little.
  decode_mib_per_request = ceil(var.max_pixels * 4 * 2 / 1048576)
  min_memory_mib         = 256 + local.concurrency * local.decode_mib_per_request

  # Plain (non-secret) configuration; secrets come from local.secret_env (secrets.tf).
  # The one list of settings: the service (below) and the reconcile job (reconcile.tf)
  # both build their environment from these two maps, so the job always sees the same
  # bucket, database, secrets and allow-list as the app it cleans up after.
  app_env = {
    PICBUCKET_ENV                     = "production"
    PICBUCKET_BLOB_STORE              = "gcs"
    PICBUCKET_RECORD_STORE            = "firestore"
    PICBUCKET_GCS_BUCKET              = google_storage_bucket.images.name
    PICBUCKET_GCP_PROJECT             = var.project_id
    PICBUCKET_FIRESTORE_DATABASE      = google_firestore_database.main.name
    PICBUCKET_SIGNING_SERVICE_ACCOUNT = google_service_account.runtime.email
    PICBUCKET_SHARE_DELIVERY          = var.share_delivery
    PICBUCKET_OIDC_ISSUER             = var.oidc_issuer
    PICBUCKET_ALLOWED_EMAILS          = join(",", var.allowed_emails)
    PICBUCKET_ALLOWED_DOMAINS         = join(",", var.allowed_domains)
    PICBUCKET_MAX_UPLOAD_MB           = tostring(var.max_upload_mb)
    PICBUCKET_MAX_PIXELS              = tostring(var.max_pixels)
    # Cloud Run's front end is the one proxy whose X-Forwarded-* headers are trusted.
    PICBUCKET_PROXY_HOPS = "1"
    PICBUCKET_WORKERS    = tostring(var.gunicorn_workers)
    PICBUCKET_THREADS    = tostring(var.gunicorn_threads)
    PICBUCKET_LOG_LEVEL  = var.log_level
  }
}

resource "google_cloud_run_v2_service" "app" {
  name     = var.service_name
  location = var.region
  ingress  = "INGRESS_TRAFFIC_ALL"

  deletion_protection = var.deletion_protection

  template {
    service_account                  = google_service_account.runtime.email
    max_instance_request_concurrency = local.concurrency
    timeout                          = "${var.request_timeout_seconds}s"

    scaling {
      # 0: no instance (and no bill) while nobody uses it; the first request after idle
      # waits for a cold start of a few seconds.
      min_instance_count = var.min_instances
      max_instance_count = var.max_instances
    }

    containers {
      image = var.image

      ports {
        # Cloud Run passes this to the container as PORT; gunicorn.conf.py binds it.
        container_port = 8080
      }

      resources {
        limits = {
          cpu    = var.cpu
          memory = "${var.memory_mib}Mi"
        }
        # CPU only while serving requests (request-based billing).
        cpu_idle = true
        # Extra CPU while the instance starts, to shorten cold starts.
        startup_cpu_boost = true
      }

      dynamic "env" {
        for_each = local.app_env
        content {
          name  = env.key
          value = env.value
        }
      }

      dynamic "env" {
        for_each = local.secret_env
        content {
          name = env.key
          value_source {
            secret_key_ref {
              secret  = google_secret_manager_secret.app[env.key].secret_id
              version = "latest"
            }
          }
        }
      }

      # Traffic reaches a new instance only once its backends answer: a revision that
      # cannot reach its bucket, database or secrets never replaces the one serving.
      startup_probe {
        http_get {
          path = "/readyz"
        }
        period_seconds    = 3
        timeout_seconds   = 3
        failure_threshold = 40
      }

      # Restart only a wedged process, not one whose backend has a blip: /healthz does
      # not touch the backends.
      liveness_probe {
        http_get {
          path = "/healthz"
        }
        period_seconds    = 30
        timeout_seconds   = 5
        failure_threshold = 3
      }
    }
  }

  lifecycle {
    precondition {
      condition     = length(var.allowed_emails) + length(var.allowed_domains) > 0
      error_message = "Set allowed_emails and/or allowed_domains: without an allow-list any Google account could sign in."
    }
    precondition {
      condition     = var.memory_mib >= local.min_memory_mib
      error_message = "memory_mib is below ${local.min_memory_mib}: gunicorn_workers x gunicorn_threads simultaneous decodes of max_pixels images need that much. Raise memory_mib or lower the threads or max_pixels."
    }
  }

  # The first revision must be able to read its secrets, bucket and database, or its
  # startup probe fails. Secret values for the OAuth client are added by hand before the
  # first full apply (README "Deploy to Google Cloud").
  depends_on = [
    google_project_service.enabled,
    google_storage_bucket_iam_member.runtime_objects,
    google_project_iam_member.runtime_firestore,
    google_secret_manager_secret_iam_member.runtime_secrets,
    google_service_account_iam_member.runtime_signs_as_itself,
    google_secret_manager_secret_version.secret_key,
  ]
}
