# Settings of the dev environment that are not secrets. project_id comes from Cloud Build's PROJECT_ID.
environment = "dev"
region      = "europe-west1"
