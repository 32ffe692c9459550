# Inputs of the stack. Everything about individual functions lives in functions.json instead,
# so adding a function never means adding a variable.

variable "project_id" {
  description = "Google Cloud project that hosts the functions, topics and secrets."
  type        = string

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{4,28}[a-z0-9]$", var.project_id)) && var.project_id != "demo-gateway"
    error_message = "project_id must be a Google Cloud project id: 6-30 lowercase letters, digits or hyphens, starting with a letter (and not demo-gateway, the local stack's)."
  }
}

variable "region" {
  description = "Region of the functions, the gateway and (by default) the source bucket."
  type        = string
  default     = "europe-west1"
}

variable "environment" {
  description = "Deployment stage, used for labels only. The code always runs with APP_ENV=production once deployed."
  type        = string

  validation {
    condition     = contains(["dev", "staging", "prod"], var.environment)
    error_message = "environment must be one of dev, staging, prod."
  }
}

variable "firebase_project" {
  description = "Firebase project whose ID tokens the API accepts (FIREBASE_PROJECT); null means project_id."
  type        = string
  default     = null

  validation {
    condition     = var.firebase_project == null || can(regex("^[a-z][a-z0-9-]{4,28}[a-z0-9]$", var.firebase_project))
    error_message = "firebase_project must be null or a Google Cloud project id."
  }
}

variable "firestore_location" {
  description = "Location of the Firestore database (a region such as europe-west1, or a multi-region such as eur3); null means the region. Fixed once created."
  type        = string
  default     = null
}

# The settings production has no default for (common/platform/settings.py refuses the dev ones), declared as
# inputs so a wrong or missing value stops `terraform plan` instead of the first request.

variable "slack_client_id" {
  description = "Client ID of the Slack app (Basic Information > App Credentials): SLACK_CLIENT_ID."
  type        = string

  validation {
    condition     = can(regex("^[0-9]+\\.[0-9]+$", var.slack_client_id))
    error_message = "var.slack_client_id must be the Slack app's Client ID, digits.digits (api.slack.com/apps > Basic Information)."
  }
}

variable "google_client_id" {
  description = "OAuth client ID of the Google Cloud project users consent to (Gmail, Calendar): GOOGLE_CLIENT_ID."
  type        = string

  validation {
    condition     = can(regex("^[0-9]+-[a-z0-9]+\\.apps\\.googleusercontent\\.com$", var.google_client_id))
    error_message = "var.google_client_id must be a Google OAuth client ID, <number>-<id>.apps.googleusercontent.com (APIs & Services > Credentials)."
  }
}

variable "provider_client_ids" {
  description = <<-EOT
    Client ids of the catalogue's other provider families (common/providers/catalogue.json), by
    family: asana (ASANA_CLIENT_ID), notion (NOTION_CLIENT_ID), microsoft (MICROSOFT_CLIENT_ID). A
    family given here is offered: its id is set on every function and its client secret declared in
    Secret Manager and granted to the functions that use provider tokens (add the secret's value
    before applying). A family left out is not offered (404 service_not_configured).
  EOT
  type        = map(string)
  default     = {}

  validation {
    condition = alltrue([
      for family, id in var.provider_client_ids :
      contains(keys(local.provider_catalogue.families), family) && !contains(["slack", "google"], family) && length(trimspace(id)) > 0
    ])
    error_message = "var.provider_client_ids keys must be families of common/providers/catalogue.json other than slack and google (their own variables), each with a non-empty client id: ${join(", ", sort(keys(var.provider_client_ids)))}."
  }
}

variable "public_base_url" {
  description = "Public base URL of the API (PUBLIC_BASE_URL), when a custom domain fronts the gateway; null means the gateway's own https://<hostname>. OAuth redirect URIs are <it>/api/v1/oauth/<service>/callback."
  type        = string
  default     = null

  validation {
    condition     = var.public_base_url == null || can(regex("^https://[a-z0-9.-]+(:[0-9]{1,5})?$", var.public_base_url))
    error_message = "var.public_base_url must be null or https://<host> (no path, no trailing slash)."
  }
}

variable "oauth_success_url" {
  description = "Where the browser lands after a connection (OAUTH_SUCCESS_URL), an https page of the app."
  type        = string

  validation {
    condition     = can(regex("^https://[^\\s/]+(/\\S*)?$", var.oauth_success_url))
    error_message = "var.oauth_success_url must be an https URL of the app."
  }
}

variable "oauth_failure_url" {
  description = "Where the browser lands after a failed connection (OAUTH_FAILURE_URL), an https page of the app."
  type        = string

  validation {
    condition     = can(regex("^https://[^\\s/]+(/\\S*)?$", var.oauth_failure_url))
    error_message = "var.oauth_failure_url must be an https URL of the app."
  }
}

variable "cors_allowed_origins" {
  description = "Origins of the app allowed to call the API from a browser (CORS_ALLOWED_ORIGINS); [] for none."
  type        = list(string)

  validation {
    condition     = alltrue([for origin in var.cors_allowed_origins : can(regex("^https://[^\\s/]+$", origin))])
    error_message = "var.cors_allowed_origins must hold https origins such as https://app.example.com (no path)."
  }
}

variable "oauth_return_allowlist" {
  description = "Further https URLs that OAuth start may name as returnTo (OAUTH_RETURN_ALLOWLIST)."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for url in var.oauth_return_allowlist : can(regex("^https://[^\\s/]+(/\\S*)?$", url))])
    error_message = "var.oauth_return_allowlist must hold https URLs."
  }
}

variable "keep_warm" {
  description = "Keep the warm instances sizes.json asks for (min_instances: one per webhook acknowledgement, so a burst of Slack events meets no cold start against Slack's 3 s deadline). false: scale every function to zero (cheaper, for a dev stage)."
  type        = bool
  default     = true
}

variable "app_webhook_url" {
  description = "Where the app's signed webhooks are delivered (APP_WEBHOOK_URL, docs/app-webhooks.md); \"\" sends none."
  type        = string
  default     = ""

  validation {
    condition     = var.app_webhook_url == "" || can(regex("^https://[^\\s/]+(/\\S*)?$", var.app_webhook_url))
    error_message = "var.app_webhook_url must be \"\" or an https URL of the app."
  }
}

variable "app_webhook_event_types" {
  description = "Event types the app is sent (APP_WEBHOOK_EVENT_TYPES), e.g. [\"connection.needs_reauth\", \"gmail.messages_stored\"]; [] sends none."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for type in var.app_webhook_event_types : can(regex("^[a-z]+\\.[a-z_]+$", type))])
    error_message = "var.app_webhook_event_types must hold event types such as connection.needs_reauth (common/platform/settings.py APP_WEBHOOK_TYPES)."
  }
}

variable "app_webhook_timeout_seconds" {
  description = "How long a webhook delivery may take before it fails and is retried (APP_WEBHOOK_TIMEOUT_SECONDS)."
  type        = number
  default     = 15

  validation {
    condition     = var.app_webhook_timeout_seconds > 0 && var.app_webhook_timeout_seconds <= 50
    error_message = "var.app_webhook_timeout_seconds must be more than 0 and at most 50 (the delivery function's timeout is 60)."
  }
}

variable "app_backend_audience" {
  description = "Audience the app backend's Google ID tokens are minted for (APP_BACKEND_AUDIENCE), an https URL such as the API's public base URL; \"\" (with no app_backend_service_accounts) turns backend access off."
  type        = string
  default     = ""

  validation {
    condition     = var.app_backend_audience == "" || can(regex("^https://\\S+$", var.app_backend_audience))
    error_message = "var.app_backend_audience must be \"\" or an https URL."
  }
}

variable "app_backend_service_accounts" {
  description = "Service accounts whose Google ID tokens act as the app's backend (APP_BACKEND_SERVICE_ACCOUNTS); set with app_backend_audience, or neither."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for account in var.app_backend_service_accounts : can(regex("^[a-z0-9][a-z0-9.-]*@[a-z0-9.-]+\\.gserviceaccount\\.com$", account))])
    error_message = "var.app_backend_service_accounts must hold service account emails such as app@project.iam.gserviceaccount.com."
  }

  validation {
    condition     = (var.app_backend_audience == "") == (length(var.app_backend_service_accounts) == 0)
    error_message = "Set var.app_backend_audience and var.app_backend_service_accounts together, or neither."
  }
}

variable "source_bucket_location" {
  description = "Location of the bucket holding the function zips; null means the region."
  type        = string
  default     = null
}

variable "api_invoker_members" {
  description = <<-EOT
    Principals granted roles/run.invoker on every function whose functions.json entry has
    "http": {"public": true}, besides the API Gateway's own service account (always granted). The
    default [] makes the gateway the only way in; add "allUsers" only to call functions directly.
  EOT
  type        = list(string)
  default     = []

  validation {
    condition = alltrue([
      for member in var.api_invoker_members :
      can(regex("^(allUsers|allAuthenticatedUsers|(user|serviceAccount|group|domain|principal|principalSet):.+)$", member))
    ])
    error_message = "api_invoker_members must hold IAM members such as allUsers or serviceAccount:name@project.iam.gserviceaccount.com."
  }
}

variable "known_secrets" {
  description = <<-EOT
    Secret settings (environment variable names) declared in Secret Manager even when no function
    uses them yet, so their values can be added before the code that reads them ships. The secrets
    every function lists in functions.json are declared too (the union of both).
  EOT
  type        = list(string)
  default     = ["TOKEN_KEY_RING", "SLACK_CLIENT_SECRET", "SLACK_SIGNING_SECRET", "GOOGLE_CLIENT_SECRET"]

  validation {
    condition     = alltrue([for name in var.known_secrets : can(regex("^[A-Z][A-Z0-9_]*$", name))])
    error_message = "known_secrets must be setting names in upper snake case, such as TOKEN_KEY_RING."
  }
}

variable "extra_environment" {
  description = <<-EOT
    Non-secret settings given to every function, e.g. LOG_LEVEL or SENTRY_DSN. Never put a secret
    here: secrets go to Secret Manager and functions.json "secrets". Settings this stack sets itself
    (APP_ENV, GCP_PROJECT, TOPIC_*, every catalogue family's client id, URLs and origins of the variables above) are
    refused, and so is what production refuses: emulator hosts, endpoint overrides, http URLs.
  EOT
  type        = map(string)
  default     = {}

  validation {
    condition     = alltrue([for name in keys(var.extra_environment) : can(regex("^[A-Z][A-Z0-9_]*$", name))])
    error_message = "var.extra_environment keys must be setting names in upper snake case."
  }

  # Each condition's list names the offending settings in its message.
  validation {
    condition     = length([for name in keys(var.extra_environment) : name if contains(local.managed_settings, name) || startswith(name, "TOPIC_")]) == 0
    error_message = "var.extra_environment must not set what this stack sets (use the variable of that name instead): ${join(", ", sort([for name in keys(var.extra_environment) : name if contains(local.managed_settings, name) || startswith(name, "TOPIC_")]))}."
  }

  validation {
    condition     = length([for name, value in var.extra_environment : name if contains(local.endpoint_settings, name) && trimspace(value) != ""]) == 0
    error_message = "var.extra_environment must not point production at an emulator or another endpoint: ${join(", ", sort([for name, value in var.extra_environment : name if contains(local.endpoint_settings, name) && trimspace(value) != ""]))}."
  }

  validation {
    condition     = length([for name, value in var.extra_environment : name if contains(local.url_settings, name) && !startswith(value, "https://")]) == 0
    error_message = "var.extra_environment URLs must be https in production: ${join(", ", sort([for name, value in var.extra_environment : name if contains(local.url_settings, name) && !startswith(value, "https://")]))}."
  }
}

variable "alert_emails" {
  description = "Addresses that receive the alerts of monitoring.tf (refresh failure rate, webhook errors, dead letters)."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for email in var.alert_emails : can(regex("^[^@\\s]+@[^@\\s]+\\.[^@\\s]+$", email))])
    error_message = "alert_emails must hold email addresses."
  }
}

variable "alert_refresh_failure_ratio" {
  description = "Share of token refreshes failing over 15 minutes above which the refresh alert fires."
  type        = number
  default     = 0.2

  validation {
    condition     = var.alert_refresh_failure_ratio > 0 && var.alert_refresh_failure_ratio < 1
    error_message = "alert_refresh_failure_ratio must be between 0 and 1."
  }
}

variable "alert_refresh_min_failures" {
  description = "Failed refreshes within 15 minutes needed before the refresh alert fires (one revoked grant among few refreshes is not an incident)."
  type        = number
  default     = 5
}

variable "alert_webhook_failures" {
  description = "Webhook deliveries failing (hand-off or processing) within 5 minutes above which the webhook alert fires."
  type        = number
  default     = 10
}

variable "alert_function_5xx_ratio" {
  description = "Share of a function's (or the gateway's) answers over 10 minutes that are 5xx above which its alert fires."
  type        = number
  default     = 0.05

  validation {
    condition     = var.alert_function_5xx_ratio > 0 && var.alert_function_5xx_ratio < 1
    error_message = "alert_function_5xx_ratio must be between 0 and 1."
  }
}

variable "alert_min_requests" {
  description = "Requests within 10 minutes needed before a 5xx ratio alert fires (one failure among three requests is not an incident)."
  type        = number
  default     = 20
}

variable "alert_http_p95_ms" {
  description = "p95 latency (ms) of an HTTP function above which its alert fires; Pub/Sub consumers use 80% of their timeout."
  type        = number
  default     = 2000
}

variable "alert_oldest_unacked_seconds" {
  description = "Age (s) of a subscription's oldest unacknowledged message above which the backlog alert fires. The default outlasts the retry backoff of a message that fails a few times."
  type        = number
  default     = 1800
}
