# Reads the two JSON maps (functions.json, topics.json) and derives, once, everything the other
# files need per function. Locals only use the JSON, variables and the project's data source (no
# resources), and every optional key has a default via try(), so functions.json can grow keys
# without breaking this.

locals {
  function_defs = jsondecode(file("${path.module}/functions.json"))
  # CPU, memory, per-instance concurrency and warm instances by kind of function, with the reason
  # for each (sizes.json; docs/infrastructure.md has the figures behind them).
  sizes    = jsondecode(file("${path.module}/sizes.json"))
  topics   = toset(jsondecode(file("${path.module}/topics.json")))
  dist_dir = "${path.module}/../dist"
  # The provider catalogue every bundle carries (common/providers/catalogue.json) names each
  # family's client id and secret settings. A family is offered where its client id is given (Slack
  # and Google always, through their own variables; the others through var.provider_client_ids):
  # only an offered family's id is set and only its secret declared and granted, so a deployment
  # without Asana needs no Asana secret and its functions answer 404 service_not_configured.
  provider_catalogue     = jsondecode(file("${path.module}/../common/providers/catalogue.json"))
  client_ids             = merge({ slack = var.slack_client_id, google = var.google_client_id }, var.provider_client_ids)
  client_secret_settings = { for family, id in local.client_ids : family => local.provider_catalogue.families[family].client.secret_setting }
  client_id_settings     = [for family in values(local.provider_catalogue.families) : family.client.id_setting]
  # Whose Firebase ID tokens the API accepts: the gateway checks them, and so does the code.
  firebase_project = coalesce(var.firebase_project, var.project_id)
  runtime          = "python311"

  # Deployed name: hyphens, so the function, its Cloud Run service and its URL share one name.
  slugs = { for key in keys(local.function_defs) : key => lower(replace(key, "_", "-")) }

  functions = {
    for key, fn in local.function_defs : key => {
      name        = local.slugs[key]
      description = try(fn.description, key)
      entry_point = try(fn.entry_point, key)
      zip         = "${local.dist_dir}/${key}.zip"
      # Service account id: 6-30 chars of [a-z0-9-], starting with a letter, no trailing hyphen:
      # "fn-<name>" cut to 30, or "fn-<name>-sa" when the name is too short ("me" -> fn-me-sa).
      account_id = (length(local.slugs[key]) < 3
        ? "fn-${local.slugs[key]}-sa"
        : replace(substr("fn-${local.slugs[key]}", 0, 30), "/-+$/", "")
      )
      http         = try(fn.http, null) != null
      public       = try(fn.http.public, false) == true
      pubsub_topic = try(fn.pubsub.topic, null)
      schedule     = try(fn.schedule, null)
      # Its own secrets plus the client secrets of the offered families whose tokens it uses
      # (functions.json "provider_clients": family names, or "*" for every one).
      secrets = toset(concat(try(fn.secrets, []), [
        for family, setting in local.client_secret_settings : setting
        if contains(try(fn.provider_clients, []), "*") || contains(try(fn.provider_clients, []), family)
      ]))
      memory          = local.sizes[fn.size].memory
      cpu             = local.sizes[fn.size].cpu
      concurrency     = local.sizes[fn.size].concurrency
      min_instances   = var.keep_warm ? local.sizes[fn.size].min_instances : 0
      timeout_seconds = try(fn.timeout_seconds, 60)
      max_instances   = try(fn.max_instances, 10)
      topics_used = toset(concat(
        keys(try(fn.topic_roles, {})),
        try(fn.publishes, []),
        try(fn.pubsub.topic, null) == null ? [] : [fn.pubsub.topic],
      ))
    }
  }

  # Flattened (function, role) pairs, keyed so for_each addresses stay stable across reorderings.
  project_role_grants = {
    for grant in distinct(flatten([
      for key, fn in local.function_defs : [for role in try(fn.project_roles, []) : { function = key, role = role }]
    ])) : "${grant.function}/${grant.role}" => grant
  }

  # topic_roles values may be one role or a list of roles; "publishes" adds roles/pubsub.publisher.
  topic_role_grants = {
    for grant in distinct(flatten([
      for key, fn in local.function_defs : concat(
        flatten([
          for topic, roles in try(fn.topic_roles, {}) : [for role in flatten([roles]) : { function = key, topic = topic, role = role }]
        ]),
        [for topic in try(fn.publishes, []) : { function = key, topic = topic, role = "roles/pubsub.publisher" }],
      )
    ])) : "${grant.function}/${grant.topic}/${grant.role}" => grant
  }

  # Every secret setting: the fixed list plus whatever any function asks for.
  secret_settings = toset(concat(var.known_secrets, flatten([for fn in local.functions : tolist(fn.secrets)])))
  secret_ids      = { for setting in local.secret_settings : setting => lower(replace(setting, "_", "-")) }

  secret_grants = {
    for grant in flatten([
      for key, fn in local.functions : [for setting in fn.secrets : { function = key, setting = setting }]
    ]) : "${grant.function}/${grant.setting}" => grant
  }

  # What var.extra_environment may not set (its validations): the settings this stack sets, the
  # endpoints production must leave empty, and the URL settings (common/platform/settings.py URL_SETTINGS)
  # not set from a variable, which production requires to be https.
  managed_settings = concat(local.client_id_settings, [
    "APP_ENV", "GCP_PROJECT", "FIREBASE_PROJECT", "SENTRY_ENVIRONMENT", "LOG_EXECUTION_ID", "PUSH_SERVICE_ACCOUNT",
    "PUBLIC_BASE_URL", "OAUTH_SUCCESS_URL", "OAUTH_FAILURE_URL",
    "CORS_ALLOWED_ORIGINS", "OAUTH_RETURN_ALLOWLIST", "APP_BACKEND_AUDIENCE", "APP_BACKEND_SERVICE_ACCOUNTS",
    "APP_WEBHOOK_URL", "APP_WEBHOOK_EVENT_TYPES", "APP_WEBHOOK_TIMEOUT_SECONDS",
  ])
  endpoint_settings = ["FIRESTORE_EMULATOR_HOST", "PUBSUB_EMULATOR_HOST", "SECRET_MANAGER_ENDPOINT"]
  url_settings = [
    "FIREBASE_CERTS_URL", "GOOGLE_OIDC_CERTS_URL", "SLACK_BASE_URL", "GOOGLE_ACCOUNTS_BASE_URL",
    "GOOGLE_OAUTH2_BASE_URL", "GOOGLE_OPENID_BASE_URL", "GMAIL_BASE_URL", "CALENDAR_BASE_URL", "ASANA_BASE_URL",
    "NOTION_BASE_URL", "MICROSOFT_LOGIN_BASE_URL", "MICROSOFT_GRAPH_BASE_URL",
  ]

  # Settings every function gets. Topic settings follow the topic ids: connection-events ->
  # TOPIC_CONNECTION_EVENTS, the names common/platform/settings.py reads. PUBLIC_BASE_URL follows the
  # gateway's hostname, so functions.tf adds it (locals here reference no resource).
  base_environment = merge(
    var.extra_environment,
    { for family, id in local.client_ids : local.provider_catalogue.families[family].client.id_setting => id },
    { for topic in local.topics : "TOPIC_${upper(replace(topic, "-", "_"))}" => topic },
    {
      APP_ENV          = "production"
      GCP_PROJECT      = var.project_id
      FIREBASE_PROJECT = local.firebase_project
      # API Gateway calls the functions as this account, with the caller's token moved to
      # X-Forwarded-Authorization (common/serving/identity.py); HTTP functions refuse to start without it.
      GATEWAY_SERVICE_ACCOUNT = local.gateway_email
      # ESPv2's default audience for a backend: the https origin of its address (docs/deploy.md).
      GATEWAY_AUDIENCE = local.backend_origin
      # Sentry tells the stages apart by this (APP_ENV is production in every deployed stage).
      SENTRY_ENVIRONMENT = var.environment
      # Cloud Functions sets this itself when absent; stating it avoids a diff on every plan.
      LOG_EXECUTION_ID       = "true"
      OAUTH_SUCCESS_URL      = var.oauth_success_url
      OAUTH_FAILURE_URL      = var.oauth_failure_url
      CORS_ALLOWED_ORIGINS   = join(",", var.cors_allowed_origins)
      OAUTH_RETURN_ALLOWLIST = join(",", var.oauth_return_allowlist)
      # The app's backend (common/access/backend_auth.py): both empty, its routes answer 503.
      APP_BACKEND_AUDIENCE         = var.app_backend_audience
      APP_BACKEND_SERVICE_ACCOUNTS = join(",", var.app_backend_service_accounts)
      # The app's signed webhooks (app_webhooks_worker; its secret is APP_WEBHOOK_SECRET).
      APP_WEBHOOK_URL             = var.app_webhook_url
      APP_WEBHOOK_EVENT_TYPES     = join(",", var.app_webhook_event_types)
      APP_WEBHOOK_TIMEOUT_SECONDS = tostring(var.app_webhook_timeout_seconds)
      # grpc runs each Firestore document get on the calling thread (common/platform/clients.py GRPC_ENVIRONMENT).
      GRPC_SINGLE_THREADED_UNARY_STREAM = "1"
    },
  )

  # A secret setting's value is the name of its latest Secret Manager version; the code resolves it.
  environment = {
    for key, fn in local.functions : key => merge(
      local.base_environment,
      # functions-framework's gunicorn threads (default 4 per visible CPU), set to the concurrency
      # Cloud Run sends, so an instance can serve every request it is given.
      { THREADS = tostring(fn.concurrency) },
      { for setting in fn.secrets : setting => "projects/${var.project_id}/secrets/${local.secret_ids[setting]}/versions/latest" },
      # Consumers accept only pushes carrying this account's OIDC token, minted for their own URL
      # (common/webhooks/consumer.py; local.push_urls below).
      fn.pubsub_topic == null ? {} : {
        PUSH_SERVICE_ACCOUNT = "${fn.account_id}@${var.project_id}.iam.gserviceaccount.com"
        PUSH_AUDIENCE        = local.push_urls[key]
      },
    )
  }

  # Each HTTP function's cloudfunctions.net URL, known before it exists, so the gateway (gateway.tf)
  # can be configured first and the functions then be given its hostname, in one apply. functions.tf
  # checks each deployed URL against it.
  backend_origin = "https://${var.region}-${var.project_id}.cloudfunctions.net"
  predicted_urls = { for key, fn in local.functions : key => "${local.backend_origin}/${fn.name}" }
  function_urls  = { for key, fn in local.functions : key => local.predicted_urls[key] if fn.http }
  # Each consumer's push subscription delivers to its URL with tokens minted for it, and the
  # function gets it as PUSH_AUDIENCE, the one audience it accepts (a postcondition in
  # functions.tf checks that Google deployed every function at its predicted URL).
  push_urls = { for key, fn in local.event_consumers : key => local.predicted_urls[key] }
  api_document_vars = {
    urls             = local.function_urls
    firebase_project = local.firebase_project
    # The gateway admits Google ID tokens for this audience to the backend routes; without a backend
    # configured, for a name nobody calls the gateway by (the functions answer 503 anyway).
    app_backend_audience = var.app_backend_audience != "" ? var.app_backend_audience : "app-backend-not-configured"
  }

  # The front door's account, spelled out so for_each keys are known at plan time (gateway.tf).
  gateway_email  = "api-gateway@${var.project_id}.iam.gserviceaccount.com"
  gateway_member = "serviceAccount:${local.gateway_email}"

  # Public HTTP functions x var.api_invoker_members: who may call them (roles/run.invoker).
  public_invoker_grants = {
    for pair in setproduct(
      [for key, fn in local.functions : key if fn.http && fn.public],
      concat(var.api_invoker_members, [local.gateway_member]),
    ) :
    "${pair[0]}/${pair[1]}" => { function = pair[0], member = pair[1] }
  }

  # Pub/Sub consumers: their push subscription authenticates as the function's own service account.
  event_consumers = { for key, fn in local.functions : key => fn if fn.pubsub_topic != null }
}
