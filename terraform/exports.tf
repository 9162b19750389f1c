# "Export everything" for accounts too large to stream within one request (README
# "Export everything"):
#
#   Settings -> service --(POST jobs/<name>:run, args overridden: OWNER EXPORT_ID)--> job
#   job --(zip of originals + manifest.json)--> bucket exports/<user>/<id>.zip
#   Settings -> service --(302, signed URL valid 15 minutes)--> browser downloads from GCS
#
# Cloud Run ends a request at the service's timeout (request_timeout_seconds), and a
# person on a slow link cannot pull gigabytes within it; a job has no request to time
# out, and the finished zip downloads straight from Cloud Storage, resumable, at
# whatever speed the client manages. The job runs the service's image with the
# service's settings (local.app_env) as an account of its own (iam.tf) that may write
# only under exports/. The service's runtime account may start this one job, with
# arguments, and nothing else in Cloud Run.

locals {
  # Cloud Run job names are up to 63 characters; service_name is at most 26.
  export_job_name = "${var.service_name}-export"
}

resource "google_cloud_run_v2_job" "export" {
  name     = local.export_job_name
  location = var.region

  # Holds no data (the zips are in the bucket); see reconcile.tf.
  deletion_protection = false

  template {
    # One execution per export: one task builds one zip. Executions for different
    # people run side by side.
    task_count  = 1
    parallelism = 1

    template {
      service_account = google_service_account.export.email
      # No automatic retry: a build that fails has already shown its owner why, with
      # "Try again" (one whose instance is lost reads "interrupted" after 10 minutes).
      # A retry behind that page would flip a failed export back to running while its
      # owner may have started a new one: two full copies built for one request.
      max_retries = 0
      # Zipping is as fast as Cloud Storage reads and writes (tens of MB/s or more from
      # one instance), so 6 hours covers hundreds of GB; a personal library is minutes.
      timeout = "21600s"

      containers {
        image   = var.image
        command = ["picbucket"]
        # Each execution replaces these with ["exports", "build", "--", OWNER_ID, EXPORT_ID]
        # (the service's Cloud Run runner); run without them, the command exits 2 and
        # asks for both.
        args = ["exports", "build"]

        resources {
          limits = {
            # Nothing is decoded: each original is copied into the zip 64 KiB at a
            # time and uploaded in 8 MiB resumable chunks, so memory does not grow with
            # the size of the export, only with the number of photos (their records and
            # manifest.json, a few KiB each). 1 GiB holds the process at rest (~256
            # MiB) plus that for ~100,000 photos, five times the default photo quota;
            # it is billed only while a build runs (cents for hours).
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
    google_storage_bucket_iam_member.export_reads,
    google_storage_bucket_iam_member.export_writes,
    google_project_iam_member.export_firestore,
    google_secret_manager_secret_iam_member.export_secrets,
    google_secret_manager_secret_version.secret_key,
  ]
}

# The service starts an execution for each export with the owner and export id as
# arguments: run.jobs.runWithOverrides, on this job only, not project-wide. The role
# holds run.jobs.run, run.jobs.runWithOverrides and run.executions.cancel: it cannot
# read or change the job, its image or its account, nor run any other job.
resource "google_cloud_run_v2_job_iam_member" "runtime_runs_export" {
  name     = google_cloud_run_v2_job.export.name
  location = google_cloud_run_v2_job.export.location
  role     = "roles/run.jobsExecutorWithOverrides"
  member   = local.runtime_member
}
