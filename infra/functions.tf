# One Cloud Function (gen2) per functions.json entry, built from its zip in the source bucket.
# HTTP functions accept traffic from anywhere (IAM still decides who may invoke them, see iam.tf);
# Pub/Sub consumers only take internal traffic: their push subscription (pubsub.tf) delivers to them.

resource "google_cloudfunctions2_function" "fn" {
  # checkov:skip=CKV_GCP_124:API Gateway reaches the HTTP functions over the internet, so ingress is ALL for them (IAM still admits only the gateway's account); consumers are internal-only.
  for_each = local.functions

  name        = each.value.name
  location    = var.region
  description = each.value.description
  labels      = { function = each.value.name }

  build_config {
    runtime         = local.runtime
    entry_point     = each.value.entry_point
    service_account = google_service_account.build.id

    source {
      storage_source {
        bucket = google_storage_bucket.source.name
        object = google_storage_bucket_object.source[each.key].name
      }
    }
  }

  service_config {
    service_account_email            = google_service_account.fn[each.key].email
    environment_variables            = merge(local.environment[each.key], { PUBLIC_BASE_URL = local.public_base_url })
    available_memory                 = each.value.memory
    available_cpu                    = each.value.cpu
    max_instance_request_concurrency = each.value.concurrency
    timeout_seconds                  = each.value.timeout_seconds
    max_instance_count               = each.value.max_instances
    min_instance_count               = each.value.min_instances
    ingress_settings                 = each.value.http ? "ALLOW_ALL" : "ALLOW_INTERNAL_ONLY"
    all_traffic_on_latest_revision   = true
  }

  # Grants first, so a new function starts with the rights it needs.
  depends_on = [
    google_project_service.api,
    google_project_iam_member.build,
    google_project_iam_member.fn,
    google_pubsub_topic.topic,
    google_pubsub_topic_iam_member.fn,
    google_secret_manager_secret_iam_member.accessor,
  ]

  lifecycle {
    # The gateway was configured with the predicted URL (main.tf): stop if Google gave another.
    postcondition {
      condition     = local.predicted_urls[each.key] == self.url
      error_message = "Function ${each.key} was deployed at ${self.url}, not at ${local.predicted_urls[each.key]} where the gateway or its push subscription sends its requests."
    }
    precondition {
      condition     = length(setintersection(keys(var.extra_environment), local.secret_settings)) == 0
      error_message = "extra_environment must not set a secret setting (${join(", ", setintersection(keys(var.extra_environment), local.secret_settings))}): list it under the function's \"secrets\" instead."
    }
  }
}
