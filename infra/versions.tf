# Pins the Terraform and provider versions so every machine plans with the same schema: exact
# provider versions, locked with their registry checksums in .terraform.lock.hcl, and the same
# versions whose schemas `make test` checks every block against (local/tf_schema.py).
# State lives in GCS, one prefix per environment (cloudbuild.yaml passes bucket and prefix).

terraform {
  required_version = ">= 1.11"

  # State per environment in a GCS bucket: terraform init -backend-config=bucket=<bucket> -backend-config=prefix=<env>
  backend "gcs" {}

  required_providers {
    google = {
      source  = "hashicorp/google"
      version = "6.50.0"
    }
    google-beta = {
      source  = "hashicorp/google-beta"
      version = "6.50.0"
    }
    time = {
      source  = "hashicorp/time"
      version = "0.13.1"
    }
  }
}
