# Pins the Terraform and provider versions so every machine plans with the same schema.
# State lives in GCS, one prefix per environment (cloudbuild.yaml passes bucket and prefix).

terraform {
  required_version = ">= 1.5"

  # State per environment in a GCS bucket: terraform init -backend-config=bucket=<bucket> -backend-config=prefix=<env>
  backend "gcs" {}

  required_providers {
    google = {
      source  = "hashicorp/google"
      version = "~> 6.0"
    }
    google-beta = {
      source  = "hashicorp/google-beta"
      version = "~> 6.0"
    }
    time = {
      source  = "hashicorp/time"
      version = "~> 0.12"
    }
  }
}
