# Settings of the staging environment that are not secrets. project_id comes from Cloud Build's PROJECT_ID.
environment = "staging"
region      = "europe-west1"
