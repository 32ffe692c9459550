# The APIs the stack needs: those its resources call (a test maps each resource type to its API),
# and those the users' tokens call, enabled on the project of the Google OAuth client (this one):
# Gmail and Calendar. disable_on_destroy = false: destroying this stack must never switch off an
# API that something else in the project may rely on.

resource "google_project_service" "api" {
  for_each = toset([
    "artifactregistry.googleapis.com",
    "cloudbuild.googleapis.com",
    "apigateway.googleapis.com",
    "bigquery.googleapis.com",
    "calendar-json.googleapis.com",
    "cloudresourcemanager.googleapis.com",
    "servicecontrol.googleapis.com",
    "servicemanagement.googleapis.com",
    "cloudfunctions.googleapis.com",
    "cloudscheduler.googleapis.com",
    "firebaserules.googleapis.com",
    "firestore.googleapis.com",
    "gmail.googleapis.com",
    "iam.googleapis.com",
    "logging.googleapis.com",
    "monitoring.googleapis.com",
    "pubsub.googleapis.com",
    "run.googleapis.com",
    "secretmanager.googleapis.com",
    "serviceusage.googleapis.com",
    "storage.googleapis.com",
  ])

  service            = each.value
  disable_on_destroy = false
}
