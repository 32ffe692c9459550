# The Pub/Sub topics, one per id in topics.json. Functions receive their names as TOPIC_* settings
# (see main.tf); who may publish or read is granted per function in iam.tf.

resource "google_pubsub_topic" "topic" {
  for_each = local.topics

  name = each.value

  depends_on = [google_project_service.api]
}

# Gmail publishes mailbox changes (users.watch) as this Google-owned account.
resource "google_pubsub_topic_iam_member" "gmail_push" {
  topic  = google_pubsub_topic.topic["gmail-notifications"].name
  role   = "roles/pubsub.publisher"
  member = "serviceAccount:gmail-api-push@system.gserviceaccount.com"
}
