# Identities and least-privilege grants. Each function runs as its own service account holding
# only what its functions.json entry asks for: project_roles at project level, topic_roles and
# "publishes" on single topics, secrets on single secrets (secrets.tf). Builds run as a dedicated
# account, because new projects no longer give the default build account enough rights. The
# identity applying this needs to be allowed to act as these accounts (e.g. project Owner).

resource "google_service_account" "fn" {
  for_each = local.functions

  account_id   = each.value.account_id
  display_name = "Cloud Function ${each.value.name}"
  description  = substr(each.value.description, 0, 256)

  depends_on = [google_project_service.api]

  lifecycle {
    precondition {
      condition     = can(regex("^[a-z][a-z0-9-]{4,28}[a-z0-9]$", each.value.account_id))
      error_message = "Function ${each.key}: derived service account id \"${each.value.account_id}\" is not a valid account id."
    }
    precondition {
      condition = alltrue([
        length(distinct([for fn in local.functions : fn.account_id])) == length(local.functions),
        length(distinct([for fn in local.functions : fn.name])) == length(local.functions),
      ])
      error_message = "Two functions derive the same deployed name or service account id (ids are cut to 30 characters); rename one."
    }
    precondition {
      condition     = length(setsubtract(each.value.topics_used, local.topics)) == 0
      error_message = "Function ${each.key} uses topics missing from topics.json: ${join(", ", setsubtract(each.value.topics_used, local.topics))}."
    }
    precondition {
      condition     = !(each.value.http && each.value.pubsub_topic != null)
      error_message = "Function ${each.key} has both \"http\" and \"pubsub\": a function is either an HTTP endpoint or a Pub/Sub consumer."
    }
  }
}

resource "google_project_iam_member" "fn" {
  for_each = local.project_role_grants

  project = var.project_id
  role    = each.value.role
  member  = "serviceAccount:${google_service_account.fn[each.value.function].email}"
}

resource "google_pubsub_topic_iam_member" "fn" {
  for_each = local.topic_role_grants

  topic  = google_pubsub_topic.topic[each.value.topic].name
  role   = each.value.role
  member = "serviceAccount:${google_service_account.fn[each.value.function].email}"
}

resource "google_service_account" "build" {
  account_id   = "gcf-build"
  display_name = "Cloud Functions builds"
  description  = "Cloud Build runs function builds as this account."

  depends_on = [google_project_service.api]
}

resource "google_project_iam_member" "build" {
  # checkov:skip=CKV_GCP_49:roles/cloudbuild.builds.builder is the role Cloud Functions builds need when they run as a dedicated account.
  project = var.project_id
  role    = "roles/cloudbuild.builds.builder"
  member  = "serviceAccount:${google_service_account.build.email}"
}

# Who may call the public HTTP functions: see var.api_invoker_members.
resource "google_cloud_run_service_iam_member" "public" {
  for_each   = local.public_invoker_grants
  depends_on = [google_service_account.gateway]

  location = google_cloudfunctions2_function.fn[each.value.function].location
  service  = google_cloudfunctions2_function.fn[each.value.function].service_config[0].service
  role     = "roles/run.invoker"
  member   = each.value.member
}

# A Pub/Sub consumer's trigger pushes as the function's own account, which must be able to invoke it.
resource "google_cloud_run_service_iam_member" "event" {
  for_each = local.event_consumers

  location = google_cloudfunctions2_function.fn[each.key].location
  service  = google_cloudfunctions2_function.fn[each.key].service_config[0].service
  role     = "roles/run.invoker"
  member   = "serviceAccount:${google_service_account.fn[each.key].email}"
}
