# Settings of the dev environment that are not secrets. project_id comes from Cloud Build's PROJECT_ID.
environment = "dev"
region      = "europe-west1"

# No warm instances on dev: every function scales to zero (webhooks may meet a cold start).
keep_warm = false

# Fill these in before the first deploy: until then `terraform plan` refuses them, naming each.
slack_client_id      = "" # Slack app > Basic Information > App Credentials > Client ID
google_client_id     = "" # Google Cloud console > APIs & Services > Credentials > OAuth client ID
oauth_success_url    = "" # https page of the app the browser lands on after connecting an account
oauth_failure_url    = "" # https page of the app the browser lands on after a failed connection
cors_allowed_origins = [] # https origins of the app that call the API from a browser
