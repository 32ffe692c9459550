# Settings of the prod environment that are not secrets. project_id comes from Cloud Build's PROJECT_ID.
environment = "prod"
region      = "europe-west1"
