# `picbucket reconcile` on a schedule: removes what crashes left behind (stale pending
# and deleting records, orphan blobs, abandoned incoming/ uploads; README "Reconcile").
#
#   Cloud Scheduler --(POST jobs/<name>:run, OAuth as the scheduler account)--> Cloud Run job
#
# The job runs the service's image with the service's plain environment (local.app_env,
# run.tf), so it sees exactly the bucket, database and settings the app uses. It runs as
# an account of its own (iam.tf) and gets every secret but the OAuth client secret
# (local.reconcile_secret_env, secrets.tf): it never signs anyone in. The scheduler's own
# account may do one thing: start this job.

locals {
  # Cloud Run job names are up to 63 characters; service_name is at most 26.
  reconcile_job_name = "${var.service_name}-reconcile"
}

resource "google_cloud_run_v2_job" "reconcile" {
  name     = local.reconcile_job_name
  location = var.region

  # The job holds no data and Terraform recreates it as it was, so it is not worth a
  # second switch at teardown; protection would also block a replacement (a renamed
  # service_name) in CI. The provider (6.x) protects jobs by default: say so explicitly.
  deletion_protection = false

  template {
    # One task, one attempt at a time: reconcile walks the whole bucket and database.
    task_count  = 1
    parallelism = 1

    template {
      service_account = google_service_account.reconcile.email
      # A transient failure (Firestore or Cloud Storage unavailable, exit 1 on an item
      # it could not remove) is retried once; the next scheduled run retries anyway.
      max_retries = 1
      # A personal image host reconciles in seconds to minutes. Two attempts of 20
      # minutes fit inside the hourly default schedule, so executions do not overlap.
      timeout = "1200s"

      containers {
        image   = var.image
        command = ["picbucket"]
        args    = ["reconcile", "--grace-minutes", tostring(var.reconcile_grace_minutes)]

        resources {
          limits = {
            # Reconcile lists object names and record ids and deletes blobs; it never
            # decodes an image. 1 vCPU with 1 GiB is ample for listing pages and the
            # Google clients, and a job is billed only while it runs. The one-off
            # `--args=renditions,--backfill` execution (README "Images") decodes one
            # image at a time within the default decode budget: the service's own
            # formula (256 MiB + 384 MiB budget + 128 MiB) fits in the same 1 GiB.
            cpu    = "1"
            memory = "1Gi"
          }
        }

        dynamic "env" {
          for_each = local.app_env
          content {
            name  = env.key
            value = env.value
          }
        }

        dynamic "env" {
          for_each = local.reconcile_secret_env
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
      }
    }
  }

  # The first execution must reach the bucket, Firestore and its secrets.
  depends_on = [
    google_project_service.enabled,
    google_storage_bucket_iam_member.reconcile_objects,
    google_project_iam_member.reconcile_firestore,
    google_secret_manager_secret_iam_member.reconcile_secrets,
    google_secret_manager_secret_version.secret_key,
  ]
}

# The identity Cloud Scheduler calls the Cloud Run API as. "-sch" keeps
# "<service_name>-sch" within the 30-character account id limit, like "-run".
resource "google_service_account" "scheduler" {
  count = var.reconcile_enabled ? 1 : 0

  account_id   = "${var.service_name}-sch"
  display_name = "Picbucket reconcile scheduler"
  description  = "Starts the ${local.reconcile_job_name} Cloud Run job on a schedule; no other permission."

  depends_on = [google_project_service.enabled]
}

# Its only grant: run (execute) this one job. roles/run.invoker carries run.jobs.run;
# it cannot change the job, override its arguments, or reach any data.
resource "google_cloud_run_v2_job_iam_member" "scheduler_runs_reconcile" {
  count = var.reconcile_enabled ? 1 : 0

  name     = google_cloud_run_v2_job.reconcile.name
  location = google_cloud_run_v2_job.reconcile.location
  role     = "roles/run.invoker"
  member   = "serviceAccount:${google_service_account.scheduler[0].email}"
}

resource "google_cloud_scheduler_job" "reconcile" {
  count = var.reconcile_enabled ? 1 : 0

  name        = local.reconcile_job_name
  region      = var.region
  description = "Runs picbucket reconcile (Cloud Run job ${local.reconcile_job_name})."
  schedule    = var.reconcile_schedule
  time_zone   = "Etc/UTC"

  # The :run call returns a long-running operation at once; it does not wait for the
  # execution, so a short deadline is enough.
  attempt_deadline = "60s"

  retry_config {
    # A failed trigger is not retried: a retry could start a second execution if the
    # first call did get through, and the next run is one schedule interval away.
    retry_count = 0
  }

  http_target {
    http_method = "POST"
    uri         = "https://run.googleapis.com/v2/projects/${var.project_id}/locations/${google_cloud_run_v2_job.reconcile.location}/jobs/${google_cloud_run_v2_job.reconcile.name}:run"

    # An OAuth access token (not an OIDC ID token): the target is a Google API.
    oauth_token {
      service_account_email = google_service_account.scheduler[0].email
      scope                 = "https://www.googleapis.com/auth/cloud-platform"
    }
  }

  depends_on = [
    google_project_service.enabled,
    google_cloud_run_v2_job_iam_member.scheduler_runs_reconcile,
  ]
}
