# The Pub/Sub topics, one per id in topics.json. Functions receive their names as TOPIC_* settings
# (see main.tf); who may publish or read is granted per function in iam.tf.

resource "google_pubsub_topic" "topic" {
  # checkov:skip=CKV_GCP_83:Google-managed encryption at rest; messages carry no tokens (webhook payloads, ids) and live at most 7 days.
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

# Delivery to each consumer: a push subscription with an OIDC token for the consumer's own service
# account (Cloud Run checks it, and so does the consumer), exponential retry, and a dead-letter topic
# after MAX_DELIVERY_ATTEMPTS, where a storage subscription keeps the poison messages for a week.
locals {
  # Retries back off from 10 s, roughly doubling up to 600 s: the sixth attempt comes about 5 minutes
  # after the first, past a crashed Calendar sync's 300 s lease (its notification must outlast it);
  # ten attempts give a message about 40 minutes before it is dead-lettered.
  max_delivery_attempts = 10
}

# Every subscription that dead-letters, by key: each consumer's push subscription, and the BigQuery
# subscription (a row BigQuery refuses, such as a payload that is not JSON, is set aside there
# instead of being redelivered forever).
locals {
  dead_letter_sources = merge(
    { for key, fn in local.event_consumers : key => fn.name },
    { analytics_bigquery = "analytics-events-bigquery" },
  )
}

resource "google_pubsub_topic" "dead_letter" {
  # checkov:skip=CKV_GCP_83:Google-managed encryption at rest; the same messages as the source topics, kept 7 days.
  for_each = local.dead_letter_sources

  name = "${each.value}-dead-letter"

  depends_on = [google_project_service.api]
}

resource "google_pubsub_subscription" "dead_letter_store" {
  for_each = local.dead_letter_sources

  name                       = "${each.value}-dead-letter-store"
  topic                      = google_pubsub_topic.dead_letter[each.key].id
  message_retention_duration = "604800s"
  ack_deadline_seconds       = 60
  expiration_policy {
    ttl = ""
  }
}

resource "google_pubsub_subscription" "push" {
  for_each = local.event_consumers

  name                 = "${each.value.name}-push"
  topic                = google_pubsub_topic.topic[each.value.pubsub_topic].id
  ack_deadline_seconds = min(600, max(10, each.value.timeout_seconds))

  push_config {
    push_endpoint = local.push_urls[each.key]
    oidc_token {
      service_account_email = google_service_account.fn[each.key].email
      audience              = local.push_urls[each.key]
    }
  }

  retry_policy {
    minimum_backoff = "10s"
    maximum_backoff = "600s"
  }

  dead_letter_policy {
    dead_letter_topic     = google_pubsub_topic.dead_letter[each.key].id
    max_delivery_attempts = local.max_delivery_attempts
  }

  expiration_policy {
    ttl = ""
  }

  depends_on = [google_cloud_run_service_iam_member.event]
}

# The Pub/Sub service agent forwards dead letters (publisher on the dead-letter topic, subscriber on
# the source subscription), mints the push OIDC tokens (token creator on the pushing account) and
# writes the BigQuery rows. A new project may not have it until Pub/Sub first needs it, so it is
# created here (beta provider only) before anything is granted to it.
resource "google_project_service_identity" "pubsub" {
  provider = google-beta
  service  = "pubsub.googleapis.com"

  depends_on = [google_project_service.api]
}

locals {
  pubsub_agent = "serviceAccount:${google_project_service_identity.pubsub.email}"
}

resource "google_pubsub_topic_iam_member" "dead_letter_publisher" {
  for_each = local.dead_letter_sources

  topic  = google_pubsub_topic.dead_letter[each.key].name
  role   = "roles/pubsub.publisher"
  member = local.pubsub_agent
}

resource "google_pubsub_subscription_iam_member" "dead_letter_subscriber" {
  for_each = local.event_consumers

  subscription = google_pubsub_subscription.push[each.key].name
  role         = "roles/pubsub.subscriber"
  member       = local.pubsub_agent
}

resource "google_service_account_iam_member" "push_token_creator" {
  for_each = local.event_consumers

  service_account_id = google_service_account.fn[each.key].name
  role               = "roles/iam.serviceAccountTokenCreator"
  member             = local.pubsub_agent
}

# Analytics events land in BigQuery through a BigQuery subscription (no code in between).
resource "google_bigquery_dataset" "analytics" {
  # checkov:skip=CKV_GCP_81:Google-managed encryption at rest; analytics events hold no tokens or message content (common/product/analytics.py).
  dataset_id = "integration_analytics"
  location   = coalesce(var.source_bucket_location, var.region)

  depends_on = [google_project_service.api]
}

resource "google_bigquery_table" "analytics_events" {
  # checkov:skip=CKV_GCP_80:Google-managed encryption at rest, as for its dataset.
  dataset_id          = google_bigquery_dataset.analytics.dataset_id
  table_id            = "analytics_events"
  deletion_protection = true

  time_partitioning {
    type  = "DAY"
    field = "publish_time"
  }

  schema = jsonencode([
    { name = "subscription_name", type = "STRING", mode = "NULLABLE" },
    { name = "message_id", type = "STRING", mode = "NULLABLE" },
    { name = "publish_time", type = "TIMESTAMP", mode = "NULLABLE" },
    { name = "data", type = "JSON", mode = "NULLABLE" },
    { name = "attributes", type = "JSON", mode = "NULLABLE" },
  ])
}

resource "google_bigquery_dataset_iam_member" "analytics_writer" {
  dataset_id = google_bigquery_dataset.analytics.dataset_id
  role       = "roles/bigquery.dataEditor"
  member     = local.pubsub_agent
}

resource "google_pubsub_subscription" "analytics_to_bigquery" {
  name  = "analytics-events-bigquery"
  topic = google_pubsub_topic.topic["analytics-events"].id

  bigquery_config {
    table          = "${google_bigquery_table.analytics_events.project}.${google_bigquery_table.analytics_events.dataset_id}.${google_bigquery_table.analytics_events.table_id}"
    write_metadata = true
  }

  dead_letter_policy {
    dead_letter_topic     = google_pubsub_topic.dead_letter["analytics_bigquery"].id
    max_delivery_attempts = local.max_delivery_attempts
  }

  depends_on = [google_bigquery_dataset_iam_member.analytics_writer]
}

resource "google_pubsub_subscription_iam_member" "bigquery_dead_letter_subscriber" {
  subscription = google_pubsub_subscription.analytics_to_bigquery.name
  role         = "roles/pubsub.subscriber"
  member       = local.pubsub_agent
}
