# Records: users, images, shares and tokens, in a Firestore database in native mode.
resource "google_firestore_database" "main" {
  name        = var.firestore_database
  location_id = local.firestore_location
  type        = "FIRESTORE_NATIVE"

  app_engine_integration_mode       = "DISABLED"
  point_in_time_recovery_enablement = var.firestore_point_in_time_recovery ? "POINT_IN_TIME_RECOVERY_ENABLED" : "POINT_IN_TIME_RECOVERY_DISABLED"
  # Two locks: the API refuses to delete a protected database, and Terraform deletes it
  # (rather than forgetting it) only once protection is off.
  delete_protection_state = var.deletion_protection ? "DELETE_PROTECTION_ENABLED" : "DELETE_PROTECTION_DISABLED"
  deletion_policy         = "DELETE"

  depends_on = [google_project_service.enabled]
}

# Composite indexes come from firestore.indexes.json at the repository root (the format
# `firebase deploy --only firestore:indexes` reads), the one list the app's queries and
# the Firestore emulator tests share. Add an index there, not here.
locals {
  firestore_location     = coalesce(var.firestore_location, var.region)
  firestore_index_config = jsondecode(file("${path.module}/../firestore.indexes.json"))

  firestore_indexes = {
    for index in try(local.firestore_index_config.indexes, []) :
    join(" ", concat(
      [index.collectionGroup, try(index.queryScope, "COLLECTION")],
      [for field in index.fields : "${field.fieldPath}:${try(field.order, field.arrayConfig)}"],
    )) => index
  }

  firestore_field_overrides = {
    for override in try(local.firestore_index_config.fieldOverrides, []) :
    "${override.collectionGroup} ${override.fieldPath}" => override
  }
}

resource "google_firestore_index" "composite" {
  for_each = local.firestore_indexes

  database    = google_firestore_database.main.name
  collection  = each.value.collectionGroup
  query_scope = try(each.value.queryScope, "COLLECTION")

  dynamic "fields" {
    for_each = each.value.fields
    content {
      field_path   = fields.value.fieldPath
      order        = try(fields.value.order, null)
      array_config = try(fields.value.arrayConfig, null)
    }
  }
}

# Single-field index exemptions and TTL policies ("fieldOverrides" in the same file).
# Among them: a TTL policy on the `idempotency` collection group's `expires_at` (each
# Idempotency-Key is deleted by Firestore a day after its upload; a TTL field is not
# indexed, so it makes no hotspot), and a collection-group index on `created` for
# reconcile's count of the keys TTL has not deleted yet.
resource "google_firestore_field" "override" {
  for_each = local.firestore_field_overrides

  database   = google_firestore_database.main.name
  collection = each.value.collectionGroup
  field      = each.value.fieldPath

  # An "indexes" list replaces the automatic single-field indexes; an empty list
  # exempts the field. Without the key the field keeps the default indexes.
  dynamic "index_config" {
    for_each = can(each.value.indexes) ? [each.value.indexes] : []
    content {
      dynamic "indexes" {
        for_each = index_config.value
        content {
          order        = try(indexes.value.order, null)
          array_config = try(indexes.value.arrayConfig, null)
          query_scope  = try(indexes.value.queryScope, null)
        }
      }
    }
  }

  dynamic "ttl_config" {
    for_each = try(each.value.ttl, false) ? [1] : []
    content {}
  }
}
