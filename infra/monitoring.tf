# Alerting on what the functions log. Log lines that feed a metric carry a "metric" field (set in
# common/: token refreshes, webhook failures, consumer failures, degraded connections); a log-based
# metric counts each kind, alert policies watch them and the dead-letter subscriptions, and mail
# var.alert_emails. A test checks that every metric here is logged by the code and the reverse.

locals {
  log_metrics = {
    token_refresh_succeeded = { label = "service", description = "Token refreshes that stored a new access token." }
    token_refresh_failed    = { label = "service", description = "Token refreshes that failed (cooldown or needs re-auth)." }
    webhook_failed          = { label = "provider", description = "Webhook deliveries not handed off to Pub/Sub or not processed." }
    consumer_failed         = { label = "function", description = "Messages of the scheduled consumers that failed." }
    connection_degraded     = { label = "service", description = "Connections that reached CONNECTION_DEGRADED_AFTER failures in a row." }
  }
}

resource "google_logging_metric" "signal" {
  for_each = local.log_metrics

  name        = each.key
  description = each.value.description
  filter      = "resource.type=\"cloud_run_revision\" AND jsonPayload.metric=\"${each.key}\""

  metric_descriptor {
    metric_kind = "DELTA"
    value_type  = "INT64"
    unit        = "1"
    labels {
      key        = each.value.label
      value_type = "STRING"
    }
  }
  label_extractors = {
    (each.value.label) = "EXTRACT(jsonPayload.${each.value.label})"
  }

  depends_on = [google_project_service.api]
}

resource "google_monitoring_notification_channel" "email" {
  for_each = toset(var.alert_emails)

  display_name = "Gateway alerts (${var.environment}): ${each.value}"
  type         = "email"
  labels = {
    email_address = each.value
  }

  depends_on = [google_project_service.api]
}

locals {
  alert_channels = [for channel in google_monitoring_notification_channel.email : channel.id]
}

# A new log-based metric takes minutes to become visible to alert policies; creating a policy on it
# at once fails with "Cannot find metric(s)" (hashicorp/terraform-provider-google#11102).
resource "time_sleep" "log_metrics_visible" {
  create_duration = "180s"
  triggers = {
    metrics = join(",", sort(keys(local.log_metrics)))
  }

  depends_on = [google_logging_metric.signal]
}

resource "google_monitoring_alert_policy" "refresh_failure_rate" {
  display_name          = "Gateway (${var.environment}): token refreshes failing"
  combiner              = "OR"
  notification_channels = local.alert_channels

  conditions {
    display_name = "More than ${var.alert_refresh_failure_ratio * 100}% (and at least ${var.alert_refresh_min_failures}) of refreshes failed over 15 minutes"
    condition_prometheus_query_language {
      duration            = "300s"
      evaluation_interval = "60s"
      query               = <<-EOT
        (
          sum(increase(logging_googleapis_com:user_token_refresh_failed{monitored_resource="cloud_run_revision"}[15m]))
          / clamp_min(
              sum(increase(logging_googleapis_com:user_token_refresh_failed{monitored_resource="cloud_run_revision"}[15m]))
              + (sum(increase(logging_googleapis_com:user_token_refresh_succeeded{monitored_resource="cloud_run_revision"}[15m])) or vector(0)),
              1
            )
          > ${var.alert_refresh_failure_ratio}
        )
        and on()
        sum(increase(logging_googleapis_com:user_token_refresh_failed{monitored_resource="cloud_run_revision"}[15m])) >= ${var.alert_refresh_min_failures}
      EOT
    }
  }

  documentation {
    mime_type = "text/markdown"
    content   = "Token refreshes are failing. The log lines with jsonPayload.metric=\"token_refresh_failed\" name the service and the provider's error; a provider outage shows as http_5xx, revoked grants as invalid_grant (those connections become needs_reauth)."
  }

  depends_on = [time_sleep.log_metrics_visible]
}

resource "google_monitoring_alert_policy" "webhook_failures" {
  display_name          = "Gateway (${var.environment}): webhook deliveries failing"
  combiner              = "OR"
  notification_channels = local.alert_channels

  conditions {
    display_name = "More than ${var.alert_webhook_failures} webhook failures in 5 minutes"
    condition_threshold {
      filter          = "resource.type = \"cloud_run_revision\" AND metric.type = \"logging.googleapis.com/user/${google_logging_metric.signal["webhook_failed"].name}\""
      comparison      = "COMPARISON_GT"
      threshold_value = var.alert_webhook_failures
      duration        = "0s"
      aggregations {
        alignment_period     = "300s"
        per_series_aligner   = "ALIGN_SUM"
        cross_series_reducer = "REDUCE_SUM"
      }
    }
  }

  documentation {
    mime_type = "text/markdown"
    content   = "Webhooks are not being handed off or processed. Filter the logs on jsonPayload.metric=\"webhook_failed\": errorCode says why; retryable failures are redelivered by Pub/Sub, the rest end in the dead-letter topics."
  }

  depends_on = [time_sleep.log_metrics_visible]
}

resource "google_monitoring_alert_policy" "dead_letter_backlog" {
  display_name          = "Gateway (${var.environment}): messages in dead-letter topics"
  combiner              = "OR"
  notification_channels = local.alert_channels

  conditions {
    display_name = "A dead-letter store subscription holds messages for 5 minutes"
    condition_threshold {
      filter          = "resource.type = \"pubsub_subscription\" AND metric.type = \"pubsub.googleapis.com/subscription/num_undelivered_messages\" AND resource.label.subscription_id = monitoring.regex.full_match(\".*-dead-letter-store\")"
      comparison      = "COMPARISON_GT"
      threshold_value = 0
      duration        = "300s"
      aggregations {
        alignment_period   = "300s"
        per_series_aligner = "ALIGN_MAX"
      }
    }
  }

  documentation {
    mime_type = "text/markdown"
    content   = "A consumer gave up on messages after ${local.max_delivery_attempts} attempts. They are kept for 7 days in the <consumer>-dead-letter-store subscription: pull them to inspect, fix the cause, then republish them to the consumer's topic."
  }

  depends_on = [google_pubsub_subscription.dead_letter_store]
}
