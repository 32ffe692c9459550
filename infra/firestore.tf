# Firestore policies the code relies on: TTL on the documents that expire (OAuth states after 10
# minutes, refresh leases, webhook dedup records after an hour, erasure fences a day after the
# erasure, scheduled refresh runs and their chunks after a week); the code never trusts a stale one itself, since TTL deletion can lag by a day. And an index for every query the code makes.

# The database itself, which a new project does not have. ABANDON: destroying the stack leaves the
# users' data in place (and delete protection refuses a manual delete). A project whose (default)
# database already exists imports it once before the first apply:
#   terraform import -var-file=env/<env>.tfvars -var project_id=<project> google_firestore_database.default "projects/<project>/databases/(default)"
resource "google_firestore_database" "default" {
  name                              = "(default)"
  location_id                       = coalesce(var.firestore_location, var.region)
  type                              = "FIRESTORE_NATIVE"
  concurrency_mode                  = "PESSIMISTIC"
  app_engine_integration_mode       = "DISABLED"
  point_in_time_recovery_enablement = "POINT_IN_TIME_RECOVERY_ENABLED"
  delete_protection_state           = "DELETE_PROTECTION_ENABLED"
  deletion_policy                   = "ABANDON"

  depends_on = [google_project_service.api]
}

resource "google_firestore_field" "ttl" {
  for_each = toset(["oauth_states", "token_leases", "webhook_dedup", "erasures", "refresh_runs", "chunks"])

  project    = var.project_id
  database   = google_firestore_database.default.name
  collection = each.value
  field      = "expiresAt"

  ttl_config {}
}

# The scheduled refresh job's query: collection group `connections`, status == "active",
# refreshDueAt <= now, ordered by refreshDueAt (common/tokens/refresh_job.py, due_query).
resource "google_firestore_index" "connections_due" {
  project     = var.project_id
  database    = google_firestore_database.default.name
  collection  = "connections"
  query_scope = "COLLECTION_GROUP"

  fields {
    field_path = "status"
    order      = "ASCENDING"
  }
  fields {
    field_path = "refreshDueAt"
    order      = "ASCENDING"
  }
}

# The watch renewal job's query: collection group `sync_state`, renewAt <= now (common/sync/watches.py).
resource "google_firestore_field" "sync_state_renew_at" {
  project    = var.project_id
  database   = google_firestore_database.default.name
  collection = "sync_state"
  field      = "renewAt"

  index_config {
    indexes {
      order       = "ASCENDING"
      query_scope = "COLLECTION_GROUP"
    }
  }
}

# The backend's listing by tag: collection group `connections`, equality on `tags.<key>` (any key
# the backend chose), in document order (common/access/connection_tags.py). An index setting on a map
# field is inherited by its subfields, so this one covers every tag key; several tag filters are
# merged from these single-field indexes.
resource "google_firestore_field" "connection_tags" {
  project    = var.project_id
  database   = google_firestore_database.default.name
  collection = "connections"
  field      = "tags"

  index_config {
    indexes {
      order       = "ASCENDING"
      query_scope = "COLLECTION_GROUP"
    }
  }
}

# The security rules for the Firebase client SDKs (infra/firestore.rules, docs/security.md#security-rules):
# a signed-in user reads her own synced data, nobody writes; the functions' service accounts are
# not subject to them. A ruleset is immutable: a changed file is a new ruleset (created before the
# old one goes), and the release `cloud.firestore` (the (default) database's) is replaced to point
# at it (its ruleset_name forces a new release), as in
# https://firebase.google.com/docs/projects/terraform/get-started. Between the two, clients are denied.
resource "google_firebaserules_ruleset" "firestore" {
  project = var.project_id

  source {
    files {
      name    = "firestore.rules"
      content = file("${path.module}/firestore.rules")
    }
  }

  depends_on = [google_firestore_database.default, google_project_service.api]

  lifecycle {
    create_before_destroy = true
  }
}

resource "google_firebaserules_release" "firestore" {
  project      = var.project_id
  name         = "cloud.firestore"
  ruleset_name = google_firebaserules_ruleset.firestore.name

  lifecycle {
    replace_triggered_by = [google_firebaserules_ruleset.firestore]
  }
}
