# Firestore policies the code relies on. OAuth states carry `expiresAt`; the TTL policy removes
# abandoned ones (the code also refuses expired states, since TTL deletion can lag by a day).

resource "google_firestore_field" "oauth_states_ttl" {
  project    = var.project_id
  database   = "(default)"
  collection = "oauth_states"
  field      = "expiresAt"

  ttl_config {}

  depends_on = [google_project_service.api]
}

# The scheduled refresh job's query: collection group `connections`, status == "active",
# refreshDueAt <= now + window, ordered by refreshDueAt (common/refresh_job.py, due_query).
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

# Refresh leases of crashed holders expire in the code; the TTL policy removes the documents.
resource "google_firestore_field" "token_leases_ttl" {
  project    = var.project_id
  database   = "(default)"
  collection = "token_leases"
  field      = "expiresAt"

  ttl_config {}

  depends_on = [google_project_service.api]
}

# Webhook dedup records live at least an hour (Slack retries for about six minutes).
resource "google_firestore_field" "webhook_dedup_ttl" {
  project    = var.project_id
  database   = "(default)"
  collection = "webhook_dedup"
  field      = "expiresAt"

  ttl_config {}

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
