# Inputs of the stack. Everything about individual functions lives in functions.json instead,
# so adding a function never means adding a variable.

variable "project_id" {
  description = "Google Cloud project that hosts the functions, topics and secrets."
  type        = string

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{4,28}[a-z0-9]$", var.project_id))
    error_message = "project_id must be a Google Cloud project id: 6-30 lowercase letters, digits or hyphens, starting with a letter."
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
    Non-secret settings given to every function, e.g. SLACK_CLIENT_ID, GOOGLE_CLIENT_ID, LOG_LEVEL.
    Never put a secret here: secrets go to Secret Manager and functions.json "secrets". The settings
    this stack manages (APP_ENV, GCP_PROJECT, FIREBASE_PROJECT, TOPIC_*, secret references) win.
  EOT
  type        = map(string)
  default     = {}

  validation {
    condition     = alltrue([for name in keys(var.extra_environment) : can(regex("^[A-Z][A-Z0-9_]*$", name))])
    error_message = "extra_environment keys must be setting names in upper snake case."
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
