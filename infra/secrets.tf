# Secret Manager secrets, declared without versions: values are added out of band
# (gcloud secrets versions add ...) and never pass through Terraform or its state. A function gets
# the version name, not the value, and reads it at run time with its own service account, which
# is granted access to exactly the secrets it lists in functions.json, secret by secret.

resource "google_secret_manager_secret" "secret" {
  for_each = local.secret_ids

  secret_id = each.value
  labels    = { setting = lower(each.key) }

  replication {
    auto {}
  }

  depends_on = [google_project_service.api]
}

resource "google_secret_manager_secret_iam_member" "accessor" {
  for_each = local.secret_grants

  secret_id = google_secret_manager_secret.secret[each.value.setting].secret_id
  role      = "roles/secretmanager.secretAccessor"
  member    = "serviceAccount:${google_service_account.fn[each.value.function].email}"
}
