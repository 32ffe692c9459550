# The one public host: API Gateway, configured from openapi.json (the API's reference document),
# with each path's x-google-backend filled in with the URL of the function that serves it.
# Chosen over an HTTPS load balancer with serverless NEGs because the OpenAPI document is then the
# routing table itself (no URL map to keep in step), the gateway checks Firebase ID tokens before a
# function runs (securityDefinitions), and it needs no reserved IP or certificate management.
# The gateway calls the functions as its own service account, the only default invoker (main.tf).
# allowCors lets CORS preflights through to the functions, which answer them for CORS_ALLOWED_ORIGINS.

resource "google_service_account" "gateway" {
  account_id   = "api-gateway"
  display_name = "API Gateway front door"

  depends_on = [google_project_service.api]
}

resource "google_api_gateway_api" "api" {
  provider = google-beta
  api_id   = "oauth-webhook-gateway"

  depends_on = [google_project_service.api]
}

resource "google_api_gateway_api_config" "api" {
  provider             = google-beta
  api                  = google_api_gateway_api.api.api_id
  api_config_id_prefix = "config-"

  openapi_documents {
    document {
      path = "openapi.json"
      contents = base64encode(templatefile("${path.module}/openapi.json", {
        # The Cloud Run URI: the gateway's token for a backend has its https origin as audience, which
        # is then the Host the function sees (common/identity.py pins it), and paths arrive unprefixed.
        urls             = { for key, fn in google_cloudfunctions2_function.fn : key => fn.service_config[0].uri }
        firebase_project = coalesce(var.firebase_project, var.project_id)
        managed_service  = google_api_gateway_api.api.managed_service
      }))
    }
  }

  gateway_config {
    backend_config {
      google_service_account = google_service_account.gateway.email
    }
  }

  lifecycle {
    create_before_destroy = true
  }
}

resource "google_api_gateway_gateway" "api" {
  provider   = google-beta
  gateway_id = "oauth-webhook-gateway"
  api_config = google_api_gateway_api_config.api.id
  region     = var.region
}
