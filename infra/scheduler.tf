# Cloud Scheduler: a function with a "schedule" in functions.json is a Pub/Sub consumer of its tick
# topic, and a job publishes to that topic on the schedule (token_refresh every 5 minutes).
# Delivery is at least once and runs can overlap; the code is safe for both (refresh leases).

resource "google_cloud_scheduler_job" "tick" {
  for_each = { for key, fn in local.functions : key => fn if fn.schedule != null }

  name      = "${each.value.name}-tick"
  region    = var.region
  schedule  = each.value.schedule
  time_zone = "Etc/UTC"

  pubsub_target {
    topic_name = google_pubsub_topic.topic[each.value.pubsub_topic].id
    data       = base64encode(jsonencode({ job = each.key }))
  }

  lifecycle {
    precondition {
      condition     = each.value.pubsub_topic != null
      error_message = "Function ${each.key} has a schedule but no pubsub trigger topic to tick."
    }
  }

  depends_on = [google_project_service.api]
}
