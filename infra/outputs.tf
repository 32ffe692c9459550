# What callers of this stack (scripts, the later API front door, humans) need to find things.

output "function_uris" {
  description = "HTTPS URI of each function, keyed by its functions.json name."
  value       = { for key, fn in google_cloudfunctions2_function.fn : key => fn.service_config[0].uri }
}

output "function_service_accounts" {
  description = "Service account email each function runs as, keyed by its functions.json name."
  value       = { for key, sa in google_service_account.fn : key => sa.email }
}

output "topic_ids" {
  description = "Full id (projects/<project>/topics/<topic>) of each topic, keyed by topic id."
  value       = { for key, topic in google_pubsub_topic.topic : key => topic.id }
}

output "secret_ids" {
  description = "Secret Manager secret of each secret setting; add values with `gcloud secrets versions add`."
  value       = { for setting, secret in google_secret_manager_secret.secret : setting => secret.id }
}

output "source_bucket" {
  description = "Bucket holding the uploaded function zips."
  value       = google_storage_bucket.source.name
}

output "public_url" {
  description = "The API's public base URL, every function's PUBLIC_BASE_URL: register <it>/api/v1/oauth/<service>/callback with Slack and Google."
  value       = local.public_base_url
}

output "dead_letter_topics" {
  description = "Dead-letter topic of each dead-lettering subscription: the consumers and analytics_bigquery (messages kept a week in <topic>-store)."
  value       = { for key, topic in google_pubsub_topic.dead_letter : key => topic.id }
}
