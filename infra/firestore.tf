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
