# One google provider for the whole stack: project and region come from variables, and every
# resource that takes labels gets the same app/environment labels without repeating them.

provider "google" {
  project = var.project_id
  region  = var.region

  default_labels = {
    app         = "oauth-webhook-gateway"
    environment = var.environment
    managed_by  = "terraform"
  }
}

# API Gateway resources are only in the beta provider.
provider "google-beta" {
  project = var.project_id
  region  = var.region
}
