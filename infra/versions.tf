# Pins the Terraform and provider versions so every machine plans with the same schema.
# No backend block: state is local (infra/*.tfstate is git-ignored); pass a GCS backend with
# `terraform init -backend-config=...` from a file next to this one when the project gets one.

terraform {
  required_version = ">= 1.5"

  required_providers {
    google = {
      source  = "hashicorp/google"
      version = "~> 6.0"
    }
    google-beta = {
      source  = "hashicorp/google-beta"
      version = "~> 6.0"
    }
  }
}
