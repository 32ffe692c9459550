# Alerting on what the functions log. Log lines that feed a metric carry a "metric" field (set in
# common/: token refreshes, webhook failures, consumer failures, degraded connections); a log-based
# metric counts each kind, alert policies watch them and the dead-letter subscriptions, and mail
# var.alert_emails. A test checks that every metric here is logged by the code and the reverse.

locals {
  log_metrics = {
    token_refresh_succeeded = { label = "service", description = "Token refreshes that stored a new access token." }
    token_refresh_failed    = { label = "service", description = "Token refreshes that failed (cooldown or needs re-auth)." }
    token_refresh_in_doubt  = { label = "service", description = "Grant errors after a lease takeover: no verdict until the stalled holder lands (a rise means instances stall past TOKEN_LEASE_SECONDS)." }
    webhook_failed          = { label = "provider", description = "Webhook deliveries not handed off to Pub/Sub or not processed." }
    consumer_failed         = { label = "function", description = "Messages of the scheduled consumers that failed." }
    connection_degraded     = { label = "service", description = "Connections that reached CONNECTION_DEGRADED_AFTER failures in a row." }
    proxy_call              = { label = "service", description = "Calls through the proxy (docs/proxy.md), every status." }
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

# What a platform team expects of any stack like this one, from Google's own metrics (no code):
# per function (Cloud Run revision metrics, one series per service) the share of 5xx answers and
# the p95 latency; the gateway's share of 5xx; the age of the oldest unacknowledged message of every
# subscription; and any Cloud Scheduler attempt that failed. PromQL names follow Google's mapping
# (https://cloud.google.com/monitoring/promql/promql-mapping): run.googleapis.com/request_count is
# run_googleapis_com:request_count, a distribution's buckets are <name>_bucket.
locals {
  # service_name matches only this stack's functions, not other Cloud Run services of the project.
  function_services = join("|", sort([for fn in local.functions : fn.name]))
  backlog_alert_subscriptions = concat(
    [for subscription in google_pubsub_subscription.push : subscription.name],
    [google_pubsub_subscription.analytics_to_bigquery.name],
  )
}

resource "google_monitoring_alert_policy" "function_5xx_ratio" {
  display_name          = "Gateway (${var.environment}): a function answers 5xx"
  combiner              = "OR"
  notification_channels = local.alert_channels

  conditions {
    display_name = "More than ${var.alert_function_5xx_ratio * 100}% (and at least ${var.alert_min_requests} requests) of a function's answers were 5xx over 10 minutes"
    condition_prometheus_query_language {
      duration            = "300s"
      evaluation_interval = "60s"
      query               = <<-EOT
        (
          sum by (service_name) (increase(run_googleapis_com:request_count{monitored_resource="cloud_run_revision",response_code_class="5xx",service_name=~"${local.function_services}"}[10m]))
          / sum by (service_name) (increase(run_googleapis_com:request_count{monitored_resource="cloud_run_revision",service_name=~"${local.function_services}"}[10m]))
          > ${var.alert_function_5xx_ratio}
        )
        and
        sum by (service_name) (increase(run_googleapis_com:request_count{monitored_resource="cloud_run_revision",service_name=~"${local.function_services}"}[10m])) >= ${var.alert_min_requests}
      EOT
    }
  }

  documentation {
    mime_type = "text/markdown"
    content   = "A function answers 5xx (the service_name label says which). Its error-level log lines (and Sentry, when SENTRY_DSN is set) carry the stack traces; a Pub/Sub consumer's 5xx are redeliveries, which end in its dead-letter topic after ${local.max_delivery_attempts} attempts."
  }
}

# The latency a function is allowed: var.alert_http_p95_ms for HTTP functions, 80% of the timeout
# for Pub/Sub consumers (whose runs are long by design: a sync, a refresh page).
resource "google_monitoring_alert_policy" "function_latency_p95" {
  for_each = local.functions

  display_name          = "Gateway (${var.environment}): ${each.value.name} p95 latency"
  combiner              = "OR"
  notification_channels = local.alert_channels

  conditions {
    display_name = "p95 latency of ${each.value.name} above ${each.value.http ? var.alert_http_p95_ms : each.value.timeout_seconds * 800} ms for 10 minutes"
    condition_prometheus_query_language {
      duration            = "600s"
      evaluation_interval = "60s"
      query               = <<-EOT
        histogram_quantile(0.95, sum by (le) (rate(run_googleapis_com:request_latencies_bucket{monitored_resource="cloud_run_revision",service_name="${each.value.name}"}[5m])))
        > ${each.value.http ? var.alert_http_p95_ms : each.value.timeout_seconds * 800}
      EOT
    }
  }

  documentation {
    mime_type = "text/markdown"
    content   = "${each.value.name} is slow at the 95th percentile. Provider calls are the usual cause (PROVIDER_TIMEOUT_SECONDS bounds each); the message processed log lines carry durationMs, and the trace of a slow request shows which call took the time."
  }
}

resource "google_monitoring_alert_policy" "gateway_5xx_ratio" {
  display_name          = "Gateway (${var.environment}): the API Gateway answers 5xx"
  combiner              = "OR"
  notification_channels = local.alert_channels

  conditions {
    display_name = "More than ${var.alert_function_5xx_ratio * 100}% (and at least ${var.alert_min_requests} requests) of the gateway's answers were 5xx over 10 minutes"
    condition_prometheus_query_language {
      duration            = "300s"
      evaluation_interval = "60s"
      query               = <<-EOT
        (
          sum(increase(apigateway_googleapis_com:proxy_request_count{monitored_resource="apigateway.googleapis.com/Gateway",response_code_class="5xx"}[10m]))
          / sum(increase(apigateway_googleapis_com:proxy_request_count{monitored_resource="apigateway.googleapis.com/Gateway"}[10m]))
          > ${var.alert_function_5xx_ratio}
        )
        and on()
        sum(increase(apigateway_googleapis_com:proxy_request_count{monitored_resource="apigateway.googleapis.com/Gateway"}[10m])) >= ${var.alert_min_requests}
      EOT
    }
  }

  documentation {
    mime_type = "text/markdown"
    content   = "The API Gateway answers 5xx: either the functions do (see the function 5xx alert), or the gateway cannot reach them (its service account lost roles/run.invoker, or a function's URL changed: functions.tf checks it on apply)."
  }
}

resource "google_monitoring_alert_policy" "subscription_backlog_age" {
  display_name          = "Gateway (${var.environment}): messages waiting too long"
  combiner              = "OR"
  notification_channels = local.alert_channels

  conditions {
    display_name = "A subscription's oldest unacknowledged message is older than ${var.alert_oldest_unacked_seconds} s"
    condition_threshold {
      filter          = "resource.type = \"pubsub_subscription\" AND metric.type = \"pubsub.googleapis.com/subscription/oldest_unacked_message_age\" AND resource.label.subscription_id = one_of(${join(", ", [for name in local.backlog_alert_subscriptions : "\"${name}\""])})"
      comparison      = "COMPARISON_GT"
      threshold_value = var.alert_oldest_unacked_seconds
      duration        = "300s"
      aggregations {
        alignment_period   = "60s"
        per_series_aligner = "ALIGN_MAX"
      }
    }
  }

  documentation {
    mime_type = "text/markdown"
    content   = "A subscription (the subscription_id label says which) is not keeping up or keeps failing: its consumer is down, too slow, or answers errors until the message is dead-lettered. See the consumer's logs and the function 5xx alert."
  }
}

# Cloud Scheduler logs every failed attempt at severity ERROR on the cloud_scheduler_job resource
# (https://cloud.google.com/scheduler/docs/view-logs); a log-match condition needs a rate limit.
resource "google_monitoring_alert_policy" "scheduler_failures" {
  display_name          = "Gateway (${var.environment}): a scheduled job failed"
  combiner              = "OR"
  notification_channels = local.alert_channels

  conditions {
    display_name = "A Cloud Scheduler attempt failed"
    condition_matched_log {
      filter = "resource.type=\"cloud_scheduler_job\" AND severity>=ERROR"
      label_extractors = {
        job_id = "EXTRACT(resource.labels.job_id)"
      }
    }
  }

  alert_strategy {
    notification_rate_limit {
      period = "3600s"
    }
    auto_close = "86400s"
  }

  documentation {
    mime_type = "text/markdown"
    content   = "A Cloud Scheduler job (job_id label: <function>-tick) could not publish its tick, so the scheduled function did not run (token refresh every 5 minutes, watch renewal daily). The log entry's status says why; a PERMISSION_DENIED means the scheduler lost the right to publish to the tick topic."
  }
}
