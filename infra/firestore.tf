# Firestore policies the code relies on: TTL on the documents that expire (OAuth states after 10
# minutes, refresh leases, webhook dedup records after an hour, erasure fences a day after the
# erasure); the code never trusts a stale one itself, since TTL deletion can lag by a day. And an index for every query the code makes.

resource "google_firestore_field" "ttl" {
  for_each = toset(["oauth_states", "token_leases", "webhook_dedup", "erasures"])

  project    = var.project_id
  database   = "(default)"
  collection = each.value
  field      = "expiresAt"

  ttl_config {}

  depends_on = [google_project_service.api]
}

# The scheduled refresh job's query: collection group `connections`, status == "active",
# refreshDueAt <= now, ordered by refreshDueAt (common/refresh_job.py, due_query).
resource "google_firestore_index" "connections_due" {
  project     = var.project_id
  database    = "(default)"
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

  depends_on = [google_project_service.api]
}

# The watch renewal job's query: collection group `sync_state`, renewAt <= now (common/watches.py).
resource "google_firestore_field" "sync_state_renew_at" {
  project    = var.project_id
  database   = "(default)"
  collection = "sync_state"
  field      = "renewAt"

  index_config {
    indexes {
      order       = "ASCENDING"
      query_scope = "COLLECTION_GROUP"
    }
  }

  depends_on = [google_project_service.api]
}
