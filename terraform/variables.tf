# --- Where ---------------------------------------------------------------------------

variable "project_id" {
  description = "Google Cloud project ID to deploy into (not the project number)."
  type        = string

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{4,28}[a-z0-9]$", var.project_id))
    error_message = "project_id must be a project ID: 6-30 lowercase letters, digits or hyphens, starting with a letter."
  }
}

variable "region" {
  description = "Region for Cloud Run, Artifact Registry and (by default) the bucket and Firestore, e.g. europe-west1."
  type        = string
  default     = "us-central1"

  validation {
    condition     = can(regex("^[a-z]+-[a-z]+[0-9]+$", var.region))
    error_message = "region must be a Google Cloud region such as us-central1 or europe-west1."
  }
}

variable "service_name" {
  description = "Name of the Cloud Run service; also prefixes the service account and secret names."
  type        = string
  default     = "picbucket"

  validation {
    # 26 keeps "<name>-run" within the 30-character service account limit, and
    # "<name>-<project number>" within the 63-character label of the deterministic URL.
    condition     = can(regex("^[a-z][a-z0-9-]{1,24}[a-z0-9]$", var.service_name))
    error_message = "service_name must be 3-26 lowercase letters, digits or hyphens, starting with a letter."
  }
}

variable "labels" {
  description = "Extra labels put on every resource that takes labels."
  type        = map(string)
  default     = {}
}

# --- What runs -----------------------------------------------------------------------

variable "image" {
  description = "Container image to run, e.g. us-central1-docker.pkg.dev/PROJECT/picbucket/picbucket:TAG (or @sha256:DIGEST). See the image_repository output."
  type        = string

  validation {
    condition     = can(regex("^[a-z0-9.-]+(:[0-9]+)?/[^ ]+(:[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}|@sha256:[a-f0-9]{64})$", var.image))
    error_message = "image must be a full reference with a registry host and a tag or digest; \"latest\" is not pinned enough to roll back to."
  }

  validation {
    condition     = !endswith(var.image, ":latest")
    error_message = "Deploy an immutable tag (the commit SHA) or a digest, not :latest."
  }
}

variable "artifact_repository_id" {
  description = "Artifact Registry repository (Docker format) that holds the images."
  type        = string
  default     = "picbucket"

  validation {
    condition     = can(regex("^[a-z]([a-z0-9-]{0,61}[a-z0-9])?$", var.artifact_repository_id))
    error_message = "artifact_repository_id must be lowercase letters, digits and hyphens, starting with a letter."
  }
}

variable "keep_image_versions" {
  description = "How many of the newest images Artifact Registry keeps; older ones are deleted after 30 days."
  type        = number
  default     = 10

  validation {
    condition     = var.keep_image_versions >= 2 && floor(var.keep_image_versions) == var.keep_image_versions
    error_message = "keep_image_versions must be a whole number of at least 2 (the running image and one to roll back to)."
  }
}

# --- Sizing --------------------------------------------------------------------------

variable "gunicorn_workers" {
  description = "Gunicorn worker processes per instance (PICBUCKET_WORKERS). Cloud Run scales by instances, so 1."
  type        = number
  default     = 1

  validation {
    condition     = var.gunicorn_workers >= 1 && var.gunicorn_workers <= 8 && floor(var.gunicorn_workers) == var.gunicorn_workers
    error_message = "gunicorn_workers must be a whole number from 1 to 8."
  }
}

variable "gunicorn_threads" {
  description = "Threads per gunicorn worker (PICBUCKET_THREADS). Cloud Run concurrency is workers x threads."
  type        = number
  default     = 8

  validation {
    condition     = var.gunicorn_threads >= 1 && var.gunicorn_threads <= 80 && floor(var.gunicorn_threads) == var.gunicorn_threads
    error_message = "gunicorn_threads must be a whole number from 1 to 80."
  }
}

variable "cpu" {
  description = "vCPUs per instance (Cloud Run limit), e.g. \"1\" or \"2\"."
  type        = string
  default     = "1"

  validation {
    condition     = contains(["1", "2", "4", "6", "8"], var.cpu)
    error_message = "cpu must be 1, 2, 4, 6 or 8: concurrency above 1 needs at least one whole vCPU."
  }
}

variable "decode_budget_mb" {
  description = "MiB of decoded pixels one instance holds at once (PICBUCKET_DECODE_BUDGET_MB); uploads beyond it wait, then get 503. Sets the instance memory (run.tf)."
  type        = number
  default     = 384

  validation {
    # At least one 12 MP photo decoded as RGBA (~46 MiB) with room for a second; at most
    # what 8 vCPU (32 GiB) can hold next to the 384 MiB baseline.
    condition     = var.decode_budget_mb >= 64 && var.decode_budget_mb <= 32000 && floor(var.decode_budget_mb) == var.decode_budget_mb
    error_message = "decode_budget_mb must be a whole number from 64 to 32000."
  }
}

variable "min_instances" {
  description = "Instances kept warm. 0 scales to zero (no cost when idle, a cold start on the first request)."
  type        = number
  default     = 0

  validation {
    condition     = var.min_instances >= 0 && floor(var.min_instances) == var.min_instances
    error_message = "min_instances must be a whole number, 0 or more."
  }
}

variable "max_instances" {
  description = "Upper bound on instances: caps the bill and the load on Firestore."
  type        = number
  default     = 4

  validation {
    condition     = var.max_instances >= 1 && var.max_instances <= 100 && floor(var.max_instances) == var.max_instances
    error_message = "max_instances must be a whole number from 1 to 100."
  }
}

variable "request_timeout_seconds" {
  description = "Longest a request may run before Cloud Run ends it (slow uploads on poor connections need minutes)."
  type        = number
  default     = 300

  validation {
    condition     = var.request_timeout_seconds >= 10 && var.request_timeout_seconds <= 3600
    error_message = "request_timeout_seconds must be between 10 and 3600."
  }
}

# --- Application settings (PICBUCKET_*) ----------------------------------------------

variable "allowed_emails" {
  description = "Google accounts allowed to sign in (PICBUCKET_ALLOWED_EMAILS). At least one of allowed_emails / allowed_domains must be set."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for email in var.allowed_emails : can(regex("^[^@,\\s]+@[^@,\\s]+\\.[^@,\\s]+$", email))])
    error_message = "allowed_emails must be plain email addresses (no commas or spaces)."
  }
}

variable "admin_emails" {
  description = "Signed-in accounts that may use the administration pages (PICBUCKET_ADMIN_EMAILS). Empty: nobody."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for email in var.admin_emails : can(regex("^[^@,\\s]+@[^@,\\s]+\\.[^@,\\s]+$", email))])
    error_message = "admin_emails must be plain email addresses (no commas or spaces)."
  }
}

variable "allowed_domains" {
  description = "Email domains whose accounts may sign in, e.g. [\"example.com\"] (PICBUCKET_ALLOWED_DOMAINS)."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for domain in var.allowed_domains : can(regex("^[a-z0-9-]+(\\.[a-z0-9-]+)+$", domain))])
    error_message = "allowed_domains must be lowercase domain names such as example.com, without @."
  }
}

variable "oidc_issuer" {
  description = "OpenID Connect issuer users sign in with (PICBUCKET_OIDC_ISSUER)."
  type        = string
  default     = "https://accounts.google.com"

  validation {
    condition     = startswith(var.oidc_issuer, "https://")
    error_message = "oidc_issuer must be an https:// URL."
  }
}

variable "share_delivery" {
  description = "How share links deliver image bytes (PICBUCKET_SHARE_DELIVERY): \"proxy\" streams through the app, \"signed-url\" redirects to a short-lived Cloud Storage URL."
  type        = string
  default     = "proxy"

  validation {
    condition     = contains(["proxy", "signed-url"], var.share_delivery)
    error_message = "share_delivery must be \"proxy\" or \"signed-url\"."
  }
}

variable "max_upload_mb" {
  description = "Largest upload accepted through the app, in MiB (PICBUCKET_MAX_UPLOAD_MB). Cloud Run caps request bodies at 32 MiB."
  type        = number
  default     = 25

  validation {
    condition     = var.max_upload_mb >= 1 && var.max_upload_mb <= 31 && floor(var.max_upload_mb) == var.max_upload_mb
    error_message = "max_upload_mb must be a whole number from 1 to 31."
  }
}

variable "max_pixels" {
  description = "Largest image accepted, in pixels (PICBUCKET_MAX_PIXELS). One decode of it must fit in decode_budget_mb."
  type        = number
  default     = 50000000

  validation {
    condition     = var.max_pixels >= 1000000 && var.max_pixels <= 200000000 && floor(var.max_pixels) == var.max_pixels
    error_message = "max_pixels must be a whole number from 1,000,000 to 200,000,000."
  }
}

variable "log_level" {
  description = "Application and gunicorn log level (PICBUCKET_LOG_LEVEL)."
  type        = string
  default     = "INFO"

  validation {
    condition     = contains(["DEBUG", "INFO", "WARNING", "ERROR"], var.log_level)
    error_message = "log_level must be DEBUG, INFO, WARNING or ERROR."
  }
}

variable "extra_origins" {
  description = "Other https origins that serve the app (custom domains), allowed in the bucket CORS policy. Register <origin>/auth/callback for each in the OAuth client too."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for origin in var.extra_origins : can(regex("^https://[a-z0-9.-]+(:[0-9]+)?$", origin))])
    error_message = "extra_origins must be https://host[:port] origins, without a path or trailing slash."
  }
}

variable "secret_key_version" {
  description = "Bump to generate a new session secret key (rotation signs every user out)."
  type        = number
  default     = 1

  validation {
    condition     = var.secret_key_version >= 1 && floor(var.secret_key_version) == var.secret_key_version
    error_message = "secret_key_version must be a whole number, 1 or more."
  }
}

# --- Scheduled reconcile (reconcile.tf) ----------------------------------------------

variable "reconcile_enabled" {
  description = "Run `picbucket reconcile` on reconcile_schedule with Cloud Scheduler. Off: the Cloud Run job stays and can be run by hand."
  type        = bool
  default     = true
}

variable "reconcile_schedule" {
  description = "When Cloud Scheduler runs the reconcile job: a five-field cron expression, in UTC."
  type        = string
  default     = "17 * * * *"

  validation {
    condition     = length(split(" ", trimspace(var.reconcile_schedule))) == 5
    error_message = "reconcile_schedule must be a five-field cron expression, e.g. \"17 * * * *\" (hourly at :17)."
  }
}

variable "reconcile_grace_minutes" {
  description = "Minutes reconcile leaves new blobs, pending records and incoming/ uploads alone (uploads in progress)."
  type        = number
  default     = 60

  validation {
    # Shorter, and an upload still being stored (its pending record, or an incoming/
    # object not yet picked up) could be removed under it.
    condition     = var.reconcile_grace_minutes >= 10 && floor(var.reconcile_grace_minutes) == var.reconcile_grace_minutes
    error_message = "reconcile_grace_minutes must be a whole number, 10 or more."
  }
}

# --- Export everything (exports.tf) --------------------------------------------------

variable "export_stream_max_mb" {
  description = "Accounts storing more than this many MiB get their export built by the export job into the bucket, offered as a 15-minute signed link; smaller ones stream within the request (PICBUCKET_EXPORT_STREAM_MAX_MB)."
  type        = number
  default     = 256

  validation {
    # What Settings accepts. At ~10 MB/s to a slow client, 256 MiB streams in well
    # under the default 300 s request timeout; raise both together.
    condition     = var.export_stream_max_mb >= 0 && var.export_stream_max_mb <= 10000000 && floor(var.export_stream_max_mb) == var.export_stream_max_mb
    error_message = "export_stream_max_mb must be a whole number from 0 (every export by the job) to 10000000."
  }
}

variable "export_keep_days" {
  description = "Days a finished export zip stays in the bucket for its owner to download; then reconcile deletes it (PICBUCKET_EXPORT_KEEP_DAYS)."
  type        = number
  default     = 7

  validation {
    condition     = var.export_keep_days >= 1 && var.export_keep_days <= 365 && floor(var.export_keep_days) == var.export_keep_days
    error_message = "export_keep_days must be a whole number from 1 to 365."
  }
}

# --- Data ----------------------------------------------------------------------------

variable "bucket_name" {
  description = "Name of the image bucket (globally unique). Default: <project_id>-picbucket."
  type        = string
  default     = null

  validation {
    condition     = var.bucket_name == null || can(regex("^[a-z0-9][a-z0-9_-]{1,61}[a-z0-9]$", coalesce(var.bucket_name, "ok")))
    error_message = "bucket_name must be 3-63 lowercase letters, digits, hyphens or underscores."
  }
}

variable "bucket_location" {
  description = "Location of the image bucket. Default: the region (keeps Cloud Run to bucket traffic free)."
  type        = string
  default     = null
}

variable "bucket_versioning" {
  description = "Keep noncurrent object versions (they expire after noncurrent_version_retention_days). Off: deleting an image deletes its bytes."
  type        = bool
  default     = false
}

variable "noncurrent_version_retention_days" {
  description = "With bucket_versioning on, days a replaced or deleted object version is kept."
  type        = number
  default     = 7

  validation {
    condition     = var.noncurrent_version_retention_days >= 1
    error_message = "noncurrent_version_retention_days must be at least 1."
  }
}

variable "bucket_soft_delete_days" {
  description = "Days deleted objects stay restorable (Cloud Storage soft delete); 0 turns it off."
  type        = number
  default     = 7

  validation {
    condition     = var.bucket_soft_delete_days == 0 || (var.bucket_soft_delete_days >= 7 && var.bucket_soft_delete_days <= 90)
    error_message = "bucket_soft_delete_days must be 0 or from 7 to 90."
  }
}

variable "firestore_database" {
  description = "Firestore database ID (PICBUCKET_FIRESTORE_DATABASE). \"(default)\" is free-tier eligible."
  type        = string
  default     = "(default)"

  validation {
    condition     = var.firestore_database == "(default)" || can(regex("^[a-z][a-z0-9-]{2,61}[a-z0-9]$", var.firestore_database))
    error_message = "firestore_database must be \"(default)\" or 4-63 lowercase letters, digits and hyphens."
  }
}

variable "firestore_location" {
  description = "Firestore location, e.g. a region or a multi-region such as nam5 / eur3. Default: the region. Cannot be changed later."
  type        = string
  default     = null
}

variable "firestore_point_in_time_recovery" {
  description = "Keep 7 days of Firestore versions for point-in-time recovery (billed as storage)."
  type        = bool
  default     = false
}

variable "deletion_protection" {
  description = "Refuse to destroy the Cloud Run service, the Firestore database and a non-empty bucket. Set false, apply, then destroy to tear down."
  type        = bool
  default     = true
}
