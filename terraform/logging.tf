# Share links carry their whole secret in the path: /s/<token>. The app never logs it
# (it logs the route, README "Operations"), but Cloud Run's own request log does: every
# request to the service becomes an entry in run.googleapis.com/requests whose
# httpRequest.requestUrl is the full URL, token included, readable by anyone with
# roles/logging.viewer and kept for the bucket's retention (30 days in _Default).
#
# This exclusion drops those entries before they are stored. Excluded entries are never
# ingested into the _Default bucket (nor billed), so the token is not kept; the app's own
# JSON line for the same request still records status, latency and the /s/<token> route.
# Only request-log entries of this service whose path starts with /s/ are dropped.
resource "google_logging_project_exclusion" "share_token_requests" {
  name        = "${var.service_name}-share-token-requests"
  description = "Cloud Run request log entries for ${var.service_name} share links (/s/<token>): the path is the link's secret."

  filter = join(" AND ", [
    "resource.type = \"cloud_run_revision\"",
    "resource.labels.service_name = \"${var.service_name}\"",
    "logName = \"projects/${var.project_id}/logs/run.googleapis.com%2Frequests\"",
    # Any host (the run.app URL or a custom domain), then a path starting with /s/.
    "httpRequest.requestUrl =~ \"^https?://[^/]+/s/\"",
  ])

  depends_on = [google_project_service.enabled]
}
