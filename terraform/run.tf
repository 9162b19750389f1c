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

  # Memory from the decode budget. The app decodes only while it holds a share of
  # PICBUCKET_DECODE_BUDGET_MB (uploads beyond it wait, then get 503 + Retry-After), so
  # memory no longer grows with the thread count:
  #   256 MiB  the process at rest: Python, Flask, Pillow, the Google clients, 8 threads
  # + decode_budget_mb  every decode in flight together
  # + 128 MiB  renditions being encoded and request/response buffers
  # = 768 MiB at the default budget (384), rounded up to the next size in Cloud Run's
  #   steps (512 MiB, 1, 2, 4, 8, 16, 32 GiB) -> 1 GiB (it was 4 GiB before the budget).
  # The step keeps a margin and matches the sizes Cloud Run documents per vCPU count.
  memory_needed_mib = 256 + var.decode_budget_mb + 128
  memory_mib        = max(512, pow(2, ceil(log(local.memory_needed_mib, 2))))
  # 1 vCPU allows up to 4 GiB, 2 up to 8, 4 up to 16, 6 up to 24, 8 up to 32.
  max_memory_mib = 4096 * tonumber(var.cpu)

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
    PICBUCKET_DECODE_BUDGET_MB        = tostring(var.decode_budget_mb)
    PICBUCKET_ADMIN_EMAILS            = join(",", var.admin_emails)
    # Every external URL (share links, the OAuth redirect URI, API image URLs) is built
    # from this, never from a request's Host header.
    PICBUCKET_SERVICE_URL = local.service_url
    # Cloud Run's front end is the one proxy whose X-Forwarded-* headers are trusted.
    PICBUCKET_PROXY_HOPS = "1"
    PICBUCKET_WORKERS    = tostring(var.gunicorn_workers)
    PICBUCKET_THREADS    = tostring(var.gunicorn_threads)
    PICBUCKET_LOG_LEVEL  = var.log_level
    # Read by the service (which size streams) and by the export job (how long a zip is
    # kept, written into each export's record).
    PICBUCKET_EXPORT_STREAM_MAX_MB = tostring(var.export_stream_max_mb)
    PICBUCKET_EXPORT_KEEP_DAYS     = tostring(var.export_keep_days)
  }

  # The service alone starts exports, so only it is told which job builds them. Kept out
  # of local.app_env: the export job builds its environment from that map and cannot
  # name itself in it (a dependency cycle).
  export_runner_env = {
    PICBUCKET_EXPORT_MODE = "job"
    # projects/<project>/locations/<region>/jobs/<name>, the name the Run API's :run
    # takes; referencing the job also makes Terraform create it before the service.
    PICBUCKET_EXPORT_JOB = google_cloud_run_v2_job.export.id
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
          memory = "${local.memory_mib}Mi"
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
        for_each = local.export_runner_env
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
              version = local.secret_versions[env.key]
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
      # An image at the pixel limit, decoded as RGBA (4 bytes a pixel), must fit in the
      # budget on its own, or it could never be decoded.
      condition     = var.max_pixels * 4 <= var.decode_budget_mb * 1048576
      error_message = "max_pixels ${var.max_pixels} needs ${ceil(var.max_pixels * 4 / 1048576)} MiB decoded, more than decode_budget_mb (${var.decode_budget_mb}). Raise decode_budget_mb or lower max_pixels."
    }
    precondition {
      condition     = local.memory_mib <= local.max_memory_mib
      error_message = "decode_budget_mb ${var.decode_budget_mb} needs ${local.memory_mib} MiB per instance, more than ${var.cpu} vCPU allows (${local.max_memory_mib} MiB). Lower decode_budget_mb or raise cpu."
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
    google_cloud_run_v2_job_iam_member.runtime_runs_export,
    google_secret_manager_secret_version.secret_key,
  ]
}
