"""The one place that reads the environment.

Every setting is declared once in SETTINGS (name, default, parser, help); the README's settings
table lists the same names (a test keeps them in step). Settings are validated as a whole at
start, with a message naming each bad setting and never echoing a secret's value.
"""

import base64
import dataclasses
import hashlib
import json
import os
import re
from collections.abc import Callable
from typing import Any

from common.platform.errors import ConfigError

DEV_KEY_ID = "dev-1"
DEV_KEY = base64.b64encode(hashlib.sha256(b"gateway dev-only key: never use in production").digest()).decode()
DEV_KEY_RING = json.dumps({"active": DEV_KEY_ID, "keys": {DEV_KEY_ID: DEV_KEY}})
DEV_APP_WEBHOOK_SECRET = "whsec_" + base64.b64encode(hashlib.sha256(b"gateway dev-only app webhook secret").digest()).decode()
# What the app can be sent (docs/app-webhooks.md): connection lifecycle, then processed provider events.
APP_WEBHOOK_TYPES = (
    "connection.connected",
    "connection.refresh_failed",
    "connection.needs_reauth",
    "connection.degraded",
    "connection.recovered",
    "connection.disconnected",
    "connection.erased",
    "slack.event_processed",
    "gmail.messages_stored",
    "calendar.changed",
)
GOOGLE_FIREBASE_CERTS_URL = "https://www.googleapis.com/robot/v1/metadata/x509/securetoken@system.gserviceaccount.com"
ENVIRONMENTS = ("dev", "test", "production")
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")


def _text(raw: str) -> str:
    return raw.strip()


def _choice(*choices: str) -> Callable[[str], str]:
    def parse(raw: str) -> str:
        value = raw.strip()
        if value not in choices:
            raise ValueError(f"must be one of {', '.join(choices)}")
        return value

    return parse


def _seconds(low: float, high: float) -> Callable[[str], float]:
    def parse(raw: str) -> float:
        try:
            value = float(raw)
        except ValueError:
            raise ValueError("must be a number of seconds") from None
        if not low < value <= high:
            raise ValueError(f"must be more than {low:g} and at most {high:g}")
        return value

    return parse


def _count(low: int, high: int) -> Callable[[str], int]:
    def parse(raw: str) -> int:
        if not raw.strip().isdigit() or not low <= int(raw) <= high:
            raise ValueError(f"must be a whole number from {low} to {high}")
        return int(raw)

    return parse


def _matching(pattern: str, rule: str, empty_ok: bool = False) -> Callable[[str], str]:
    """A parser that accepts text matching `pattern` and otherwise says the rule."""

    def parse(raw: str) -> str:
        value = raw.strip()
        if not (empty_ok and not value) and not re.match(pattern, value):
            raise ValueError(rule)
        return value

    return parse


_url = _matching(r"^https?://[^\s/]+(/\S*)?$", "must be an http(s) URL")
_host_port = _matching(r"^[\w.\-\[\]:]+:\d{1,5}$", "must be host:port", empty_ok=True)
_project_id = _matching(
    r"^[a-z][a-z0-9-]{4,28}[a-z0-9]$", "must be a Google Cloud project id (6-30 lowercase letters, digits, hyphens)"
)
_topic = _matching(r"^[A-Za-z][\w.~+%-]{2,254}$", "must be a Pub/Sub topic id")


def _url_list(raw: str) -> tuple[str, ...]:
    return tuple(_url(item) for item in raw.split(",") if item.strip())


def _origin_list(raw: str) -> tuple[str, ...]:
    origins = tuple(item.strip() for item in raw.split(",") if item.strip())
    for origin in origins:
        if not re.match(r"^https?://[^/\s]+$", origin):
            raise ValueError("must be origins like https://app.example.com (no path)")
    return origins


def _service_accounts(raw: str) -> tuple[str, ...]:
    accounts = tuple(item.strip() for item in raw.split(",") if item.strip())
    for account in accounts:
        if not re.match(r"^[a-z0-9][a-z0-9.-]*@[a-z0-9.-]+\.gserviceaccount\.com$", account):
            raise ValueError("must be service account emails like app@project.iam.gserviceaccount.com")
    return accounts


def _webhook_types(raw: str) -> tuple[str, ...]:
    types = tuple(item.strip() for item in raw.split(",") if item.strip())
    unknown = sorted(set(types) - set(APP_WEBHOOK_TYPES))
    if unknown:
        raise ValueError(f"names unknown event types {', '.join(unknown)} (known: {', '.join(APP_WEBHOOK_TYPES)})")
    return types


def _webhook_secret(raw: str) -> str:
    """A Standard Webhooks signing secret: whsec_ and the base64 of 24 to 64 random bytes (or a
    Secret Manager version name, checked when resolved)."""
    value = raw.strip()
    if SECRET_VERSION_NAME.match(value):
        return value
    try:
        key = base64.b64decode(value.removeprefix("whsec_"), validate=True)
    except ValueError:
        key = b""
    if not value.startswith("whsec_") or not 24 <= len(key) <= 64:
        raise ValueError("must be whsec_ followed by the base64 of 24 to 64 random bytes")
    return value


def _scopes(raw: str) -> tuple[str, ...]:
    scopes = tuple(item for item in re.split(r"[\s,]+", raw) if item)
    if not scopes:
        raise ValueError("must name at least one scope")
    return scopes


PROVIDER_URL_SETTINGS = (
    "SLACK_BASE_URL",
    "GOOGLE_ACCOUNTS_BASE_URL",
    "GOOGLE_OAUTH2_BASE_URL",
    "GOOGLE_OPENID_BASE_URL",
    "GMAIL_BASE_URL",
    "CALENDAR_BASE_URL",
    "ASANA_BASE_URL",
    "NOTION_BASE_URL",
    "MICROSOFT_LOGIN_BASE_URL",
    "MICROSOFT_GRAPH_BASE_URL",
)
URL_SETTINGS = (
    "FIREBASE_CERTS_URL",
    "GOOGLE_OIDC_CERTS_URL",
    "PUBLIC_BASE_URL",
    "OAUTH_SUCCESS_URL",
    "OAUTH_FAILURE_URL",
    *PROVIDER_URL_SETTINGS,
)


@dataclasses.dataclass(frozen=True)
class Setting:
    name: str
    default: str
    parse: Callable[[str], Any]
    help: str
    secret: bool = False
    dev_only_default: bool = False


SETTINGS: tuple[Setting, ...] = (
    Setting("APP_ENV", "dev", _choice(*ENVIRONMENTS), "dev, test or production; production refuses every dev-only default"),
    Setting(
        "GCP_PROJECT",
        "demo-gateway",
        _project_id,
        "Google Cloud project id (Firestore, Pub/Sub, Secret Manager)",
        dev_only_default=True,
    ),
    Setting("FIREBASE_PROJECT", "", _text, "Firebase project whose ID tokens are accepted; empty means GCP_PROJECT"),
    Setting(
        "FIREBASE_CERTS_URL",
        GOOGLE_FIREBASE_CERTS_URL,
        _url,
        "x509 certificates that sign Firebase ID tokens (the sandbox's in dev)",
    ),
    Setting(
        "GOOGLE_OIDC_CERTS_URL",
        "https://www.googleapis.com/oauth2/v1/certs",
        _url,
        "certificates of Google-signed OIDC tokens (Pub/Sub push)",
    ),
    Setting(
        "PUSH_SERVICE_ACCOUNT",
        "",
        _text,
        "account Pub/Sub pushes as; when set, consumers require its OIDC token (required in production)",
    ),
    Setting(
        "PUSH_AUDIENCE",
        "",
        _matching(r"^https://\S+$", "must be the consumer's own https URL", empty_ok=True),
        "audience a consumer requires of push tokens: its own https URL (Terraform sets it; required in production)",
    ),
    Setting(
        "GATEWAY_SERVICE_ACCOUNT",
        "",
        _text,
        "account API Gateway calls the functions as; when set, the user's ID token is read from X-Forwarded-Authorization"
        " and Authorization must be this account's token (required in production); empty: Authorization (make dev)",
    ),
    Setting(
        "GATEWAY_AUDIENCE",
        "",
        _matching(r"^https://\S+$", "must be an https origin", empty_ok=True),
        "audience of API Gateway's token: the https origin of the backend address it calls (Terraform sets it;"
        " required with GATEWAY_SERVICE_ACCOUNT)",
    ),
    Setting(
        "APP_BACKEND_AUDIENCE",
        "",
        _matching(r"^https://\S+$", "must be an https URL", empty_ok=True),
        "audience the app backend's Google ID tokens must be minted for (the gateway's URL); empty: backend routes answer 503",
    ),
    Setting(
        "APP_BACKEND_SERVICE_ACCOUNTS",
        "",
        _service_accounts,
        "comma-separated service accounts whose Google ID tokens act as the app's backend; empty: backend routes answer 503",
    ),
    Setting("FIRESTORE_EMULATOR_HOST", "", _host_port, "host:port of the Firestore emulator; must be empty in production"),
    Setting("PUBSUB_EMULATOR_HOST", "", _host_port, "host:port of the Pub/Sub emulator; must be empty in production"),
    Setting(
        "SECRET_MANAGER_ENDPOINT", "", _text, "Secret Manager API endpoint override (the sandbox in tests); empty means Google's"
    ),
    Setting(
        "TOKEN_KEY_RING",
        DEV_KEY_RING,
        _text,
        'token key ring JSON {"active": id, "keys": {id: base64 32-byte key}}',
        secret=True,
        dev_only_default=True,
    ),
    Setting(
        "TOKEN_KEY_RING_RELOAD_SECONDS",
        "30",
        _seconds(0, 3600),
        "an instance reads TOKEN_KEY_RING again at most once in this many seconds (on a value under a key id it lacks)",
    ),
    Setting(
        "TOKEN_KEY_RING_MAX_AGE_SECONDS",
        "600",
        _seconds(0, 86400),
        "an instance reads TOKEN_KEY_RING again once its ring is this old, so a new active key reaches every instance",
    ),
    Setting("SLACK_CLIENT_ID", "dev-slack-client-id", _text, "Slack app client id", dev_only_default=True),
    Setting(
        "SLACK_CLIENT_SECRET", "dev-slack-client-secret", _text, "Slack app client secret", secret=True, dev_only_default=True
    ),
    Setting(
        "SLACK_SIGNING_SECRET",
        "dev-slack-signing-secret",
        _text,
        "Slack request signing secret",
        secret=True,
        dev_only_default=True,
    ),
    Setting(
        "GOOGLE_CLIENT_ID",
        "dev-google-client-id.apps.googleusercontent.com",
        _text,
        "Google OAuth client id (Gmail and Calendar)",
        dev_only_default=True,
    ),
    Setting(
        "GOOGLE_CLIENT_SECRET",
        "dev-google-client-secret",
        _text,
        "Google OAuth client secret",
        secret=True,
        dev_only_default=True,
    ),
    # Asana, Notion and Microsoft 365 (flags at 0): unset in production, the service is not offered
    # (404 service_not_configured) and no function needs their secrets.
    Setting("ASANA_CLIENT_ID", "dev-asana-client-id", _text, "Asana app client id", dev_only_default=True),
    Setting(
        "ASANA_CLIENT_SECRET", "dev-asana-client-secret", _text, "Asana app client secret", secret=True, dev_only_default=True
    ),
    Setting("NOTION_CLIENT_ID", "dev-notion-client-id", _text, "Notion connection's OAuth client id", dev_only_default=True),
    Setting(
        "NOTION_CLIENT_SECRET",
        "dev-notion-client-secret",
        _text,
        "Notion public connection's OAuth client secret",
        secret=True,
        dev_only_default=True,
    ),
    Setting(
        "MICROSOFT_CLIENT_ID",
        "00000000-0000-4000-8000-00000000d0e5",
        _text,
        "Microsoft Entra app registration's application (client) id (Outlook mail and calendar)",
        dev_only_default=True,
    ),
    Setting(
        "MICROSOFT_CLIENT_SECRET",
        "dev-microsoft-client-secret",
        _text,
        "Microsoft Entra app registration's client secret",
        secret=True,
        dev_only_default=True,
    ),
    Setting(
        "PUBLIC_BASE_URL",
        "http://127.0.0.1:8080",
        _url,
        "public base URL of the API (OAuth redirect URIs are built on it)",
        dev_only_default=True,
    ),
    Setting(
        "OAUTH_SUCCESS_URL",
        "http://127.0.0.1:8080/",
        _url,
        "where the browser lands after a connection (?service=...)",
        dev_only_default=True,
    ),
    Setting(
        "OAUTH_FAILURE_URL",
        "http://127.0.0.1:8080/",
        _url,
        "where the browser lands after a failed connection (?service=...&reason=...)",
        dev_only_default=True,
    ),
    Setting("OAUTH_RETURN_ALLOWLIST", "", _url_list, "comma-separated further URLs that start may name as returnTo"),
    Setting(
        "CORS_ALLOWED_ORIGINS", "", _origin_list, "comma-separated origins of the app allowed to call the API with credentials"
    ),
    Setting("OAUTH_STATE_TTL_SECONDS", "600", _seconds(30, 3600), "lifetime of an OAuth state"),
    Setting(
        "PROVIDER_CATALOGUE",
        "",
        _text,
        "path of the provider catalogue (JSON, docs/providers.md); empty: the one in common/providers/",
    ),
    Setting("SLACK_BASE_URL", "https://slack.com", _url, "Slack's authorize page and Web API host (the sandbox in dev)"),
    Setting("GOOGLE_ACCOUNTS_BASE_URL", "https://accounts.google.com", _url, "Google's consent page host"),
    Setting("GOOGLE_OAUTH2_BASE_URL", "https://oauth2.googleapis.com", _url, "Google's token and revoke host"),
    Setting("GOOGLE_OPENID_BASE_URL", "https://openidconnect.googleapis.com", _url, "Google's userinfo host"),
    Setting("GMAIL_BASE_URL", "https://gmail.googleapis.com", _url, "Gmail API host"),
    Setting("CALENDAR_BASE_URL", "https://www.googleapis.com", _url, "Calendar API host"),
    Setting("ASANA_BASE_URL", "https://app.asana.com", _url, "Asana's OAuth and API host"),
    Setting("NOTION_BASE_URL", "https://api.notion.com", _url, "Notion's OAuth and API host"),
    Setting("MICROSOFT_LOGIN_BASE_URL", "https://login.microsoftonline.com", _url, "Microsoft identity platform host"),
    Setting("MICROSOFT_GRAPH_BASE_URL", "https://graph.microsoft.com", _url, "Microsoft Graph host"),
    Setting(
        "MICROSOFT_TENANT",
        "common",
        _matching(r"^[A-Za-z0-9.-]{1,64}$", "must be common, organizations, consumers, a tenant id or a domain"),
        "the {tenant} of Microsoft's authorize and token URLs: common, organizations, consumers or one tenant",
    ),
    Setting(
        "SLACK_USER_SCOPES", "channels:history,channels:read,users:read", _scopes, "Slack user scopes asked for and required"
    ),
    Setting(
        "GMAIL_SCOPES",
        "openid email https://www.googleapis.com/auth/gmail.readonly",
        _scopes,
        "Gmail scopes asked for and required",
    ),
    Setting(
        "CALENDAR_SCOPES",
        "openid email https://www.googleapis.com/auth/calendar.readonly",
        _scopes,
        "Calendar scopes asked for and required",
    ),
    Setting("ASANA_SCOPES", "openid email profile users:read tasks:read", _scopes, "Asana scopes asked for and required"),
    Setting(
        "OUTLOOK_MAIL_SCOPES",
        "offline_access openid email User.Read Mail.Read",
        _scopes,
        "Outlook mail (Microsoft Graph) scopes asked for; offline_access is asked for, never granted back",
    ),
    Setting(
        "OUTLOOK_CALENDAR_SCOPES",
        "offline_access openid email User.Read Calendars.Read",
        _scopes,
        "Outlook calendar (Microsoft Graph) scopes asked for; offline_access is asked for, never granted back",
    ),
    Setting("PROVIDER_TIMEOUT_SECONDS", "10", _seconds(0, 60), "timeout of each call to a provider"),
    Setting(
        "TOKEN_REFRESH_MARGIN_SLACK_SECONDS",
        "1800",
        _seconds(0, 21600),
        "refresh a Slack token read this close to expiry (12 h tokens)",
    ),
    Setting(
        "TOKEN_REFRESH_MARGIN_GOOGLE_SECONDS",
        "300",
        _seconds(0, 1800),
        "refresh a Google token read this close to expiry (1 h tokens)",
    ),
    Setting(
        "TOKEN_REFRESH_MARGIN_ASANA_SECONDS",
        "300",
        _seconds(0, 1800),
        "refresh an Asana token read this close to expiry (1 h tokens)",
    ),
    Setting(
        "TOKEN_REFRESH_MARGIN_MICROSOFT_SECONDS",
        "300",
        _seconds(0, 1800),
        "refresh a Microsoft token read this close to expiry (60 to 90 min tokens)",
    ),
    Setting(
        "TOKEN_REFRESH_WINDOW_SECONDS",
        "900",
        _seconds(0, 21600),
        "the scheduled job refreshes a connection this long before expiry (a token that lives less: half its lifetime after)",
    ),
    Setting(
        "GOOGLE_IDLE_REFRESH_DAYS",
        "30",
        _seconds(0, 150),
        "refresh an unused Google connection after this many days (its refresh token dies after 6 months unused)",
    ),
    Setting("TOKEN_LEASE_SECONDS", "60", _seconds(1, 300), "refresh lease lifetime: a crashed holder's lease expires after it"),
    Setting("TOKEN_WAIT_SECONDS", "20", _seconds(0, 120), "how long a reader waits for another instance's refresh"),
    Setting(
        "TOKEN_REFRESH_ATTEMPTS", "3", _count(1, 10), "provider calls per refresh before a transient failure becomes a cooldown"
    ),
    Setting(
        "TOKEN_REFRESH_COOLDOWN_SECONDS",
        "60",
        _seconds(0, 3600),
        "pause after transient refresh failures (longer when Retry-After says so)",
    ),
    Setting(
        "CONNECTION_DEGRADED_AFTER",
        "3",
        _count(1, 100),
        "failed calls in a row with a connection's tokens (refreshes, provider API calls) that make it `degraded`",
    ),
    Setting(
        "REFRESH_JOB_CHUNK_SIZE",
        "100",
        _count(1, 500),
        "connections per message the scheduled job hands to its workers (token_refresh_worker)",
    ),
    Setting("REFRESH_JOB_CONCURRENCY", "50", _count(1, 64), "refreshes a worker runs at once for one chunk"),
    Setting(
        "REFRESH_JOB_BUDGET_SECONDS",
        "240",
        _seconds(1, 3000),
        "time after which the scheduled job stops reading due connections",
    ),
    Setting("REENCRYPT_BATCH_SIZE", "200", _count(1, 500), "documents the re-encryption job rewrites per page"),
    Setting(
        "WEBHOOK_DEDUP_TTL_SECONDS",
        "3600",
        _seconds(599, 86400),
        "how long a webhook's id is remembered for deduplication (Slack retries for about 6 minutes)",
    ),
    Setting(
        "WEBHOOK_CLAIM_STALE_SECONDS",
        "30",
        _seconds(0, 600),
        "age at which an unfinished webhook claim is taken to be a crashed handler's and is taken over",
    ),
    Setting("WEBHOOK_MAX_BODY_BYTES", "524288", _count(1024, 10485760), "largest webhook body accepted (413 above it)"),
    Setting(
        "SLACK_EVENT_MAX_AGE_SECONDS",
        "21600",
        _seconds(60, 604800),
        "the Slack consumer drops events published longer ago than this",
    ),
    Setting(
        "PUBLISH_TIMEOUT_SECONDS",
        "10",
        _seconds(0, 60),
        "how long a publish may take before the request fails (webhooks then answer 503)",
    ),
    Setting("GMAIL_WATCH_LABELS", "INBOX", _scopes, "Gmail labels the watch reports (comma-separated)"),
    Setting("GMAIL_FULL_SYNC_MESSAGES", "50", _count(1, 500), "messages a Gmail full sync fetches (after a history gap)"),
    Setting("CALENDAR_ID", "primary", _text, "the calendar that is watched and synced"),
    Setting("CALENDAR_CHANNEL_DAYS", "7", _seconds(0, 30), "lifetime asked for a Calendar push channel"),
    Setting(
        "GOOGLE_PUSH_MAX_AGE_SECONDS",
        "86400",
        _seconds(60, 604800),
        "Gmail and Calendar consumers drop notifications older than this",
    ),
    Setting(
        "FLAGS_CACHE_SECONDS",
        "30",
        _seconds(-1, 3600),
        "how long an instance keeps feature flags and experiments before reading them again",
    ),
    Setting(
        "RATE_LIMIT_USER_PER_MINUTE", "120", _seconds(0, 100000), "requests a minute each signed-in user may make, per instance"
    ),
    Setting(
        "RATE_LIMIT_USER_BURST", "30", _seconds(0, 100000), "requests a user may make at once before the per-minute rate applies"
    ),
    Setting(
        "RATE_LIMIT_WEBHOOK_PER_MINUTE",
        "1200",
        _seconds(0, 1000000),
        "webhook deliveries a minute per Slack workspace or Calendar channel, per instance",
    ),
    Setting("RATE_LIMIT_WEBHOOK_BURST", "300", _seconds(0, 1000000), "webhook deliveries per source at once"),
    Setting(
        "RATE_LIMIT_PROXY_USER_PER_MINUTE",
        "120",
        _seconds(0, 100000),
        "proxied calls a minute per user, all services together, per instance",
    ),
    Setting("RATE_LIMIT_PROXY_USER_BURST", "30", _seconds(0, 100000), "proxied calls a user may make at once"),
    Setting(
        "RATE_LIMIT_PROXY_CONNECTION_PER_MINUTE",
        "60",
        _seconds(0, 100000),
        "proxied calls a minute per connection (one user's one service), per instance",
    ),
    Setting("RATE_LIMIT_PROXY_CONNECTION_BURST", "20", _seconds(0, 100000), "proxied calls a connection may make at once"),
    Setting(
        "PROXY_DEADLINE_SECONDS",
        "20",
        _seconds(1, 120),
        "time a proxied call may spend on the provider, retries and backoff included (the function's timeout is above it)",
    ),
    Setting(
        "PROXY_RETRY_ATTEMPTS",
        "3",
        _count(1, 10),
        "provider calls per proxied request for a 429, 5xx or network error (idempotent methods; others get one)",
    ),
    Setting("PROXY_MAX_REQUEST_BYTES", "1048576", _count(0, 10485760), "largest body a proxied request may carry (413 above it)"),
    Setting(
        "PROXY_MAX_RESPONSE_BYTES",
        "5242880",
        _count(1024, 31457280),
        "largest provider reply the proxy passes back (502 upstream_too_large above it)",
    ),
    Setting(
        "APP_WEBHOOK_URL",
        "",
        _matching(r"^https?://[^\s/]+(/\S*)?$", "must be an http(s) URL", empty_ok=True),
        "where the app's signed webhooks are delivered (https in production); empty: none are sent",
    ),
    Setting(
        "APP_WEBHOOK_SECRET",
        DEV_APP_WEBHOOK_SECRET,
        _webhook_secret,
        "Standard Webhooks signing secret the app verifies deliveries with (whsec_...)",
        secret=True,
        dev_only_default=True,
    ),
    Setting(
        "APP_WEBHOOK_EVENT_TYPES",
        "",
        _webhook_types,
        "comma-separated event types the app is sent (opt-in: empty sends none)",
    ),
    Setting(
        "APP_WEBHOOK_TIMEOUT_SECONDS",
        "15",
        _seconds(0, 50),
        "how long a webhook delivery may take before it counts as failed (and is retried)",
    ),
    Setting(
        "TOPIC_CONNECTION_EVENTS",
        "connection-events",
        _topic,
        "topic for connection lifecycle events and processed provider events (the app's webhooks)",
    ),
    Setting("TOPIC_KEY_ROTATION", "key-rotation", _topic, "topic that starts (and continues) the re-encryption job"),
    Setting(
        "TOPIC_CONNECTION_MIGRATION",
        "connection-migration",
        _topic,
        "topic that starts (and continues) the connection-id migration",
    ),
    Setting(
        "TOPIC_GMAIL_NOTIFICATIONS",
        "gmail-notifications",
        _topic,
        "topic Gmail publishes mailbox changes to (its watch's topicName)",
    ),
    Setting(
        "TOPIC_CALENDAR_NOTIFICATIONS",
        "calendar-notifications",
        _topic,
        "topic the Calendar push endpoint hands notifications to",
    ),
    Setting(
        "TOPIC_ANALYTICS_EVENTS",
        "analytics-events",
        _topic,
        "topic the analytics events go to (a BigQuery subscription stores them)",
    ),
    Setting("TOPIC_SLACK_EVENTS", "slack-events", _topic, "topic the Slack webhooks hand events to"),
    Setting(
        "TOPIC_TOKEN_REFRESH_CHUNKS",
        "token-refresh-chunks",
        _topic,
        "topic the scheduled refresh publishes its chunks of due connections to",
    ),
    Setting("HEALTH_TIMEOUT_SECONDS", "2", _seconds(0, 30), "deadline for each dependency probe of the health endpoints"),
    Setting("ID_TOKEN_CLOCK_SKEW_SECONDS", "10", _seconds(-1, 300), "clock skew allowed when checking ID-token exp and iat"),
    Setting("LOG_LEVEL", "INFO", _choice(*LOG_LEVELS), "lowest log severity written"),
    Setting(
        "SENTRY_DSN",
        "",
        _matching(r"^https?://[^\s@/]+@[^\s/]+(/\S*)?/\d+$", "must be a Sentry DSN like https://key@o1.ingest.sentry.io/2", True),
        "Sentry DSN: error log lines and unhandled exceptions go there, scrubbed like the logs; empty: off",
    ),
    Setting(
        "SENTRY_ENVIRONMENT", "", _text, "environment name on Sentry events (Terraform sets dev, staging or prod); empty: APP_ENV"
    ),
)

SECRET_VERSION_NAME = re.compile(r"^projects/[^/\s]+/secrets/[^/\s]+/versions/[^/\s]+$")


@dataclasses.dataclass(frozen=True, repr=False)
class Settings:
    """Parsed settings; attribute names are the setting names in lower case."""

    values: dict

    def __getattr__(self, name: str) -> Any:
        try:
            value = self.values[name.upper()]
        except KeyError:
            raise AttributeError(name) from None
        if value is None:
            raise ConfigError(f"{name.upper()} is not set; production has no default for it")
        return value

    @property
    def production(self) -> bool:
        return self.app_env == "production"

    @property
    def firebase_audience(self) -> str:
        """Firebase project of the accepted ID tokens."""
        return self.firebase_project or self.gcp_project

    def __repr__(self) -> str:
        shown = {s.name: ("***" if s.secret and self.values[s.name] else self.values[s.name]) for s in SETTINGS}
        return f"Settings({shown})"


def load_settings(environ: dict | None = None) -> Settings:
    """Parse and validate every setting; raise ConfigError naming all bad ones."""
    values, problems = parse_settings(environ)
    if problems:
        raise ConfigError("Invalid settings: " + "; ".join(problems))
    return Settings(values)


def parse_settings(environ: dict | None = None) -> tuple[dict, list[str]]:
    """Every setting parsed, and a line for each bad one (a secret's value is never shown)."""
    environ = os.environ if environ is None else environ
    production = environ.get("APP_ENV", "").strip() == "production"
    values, problems = {}, []
    for setting in SETTINGS:
        raw = environ.get(setting.name) or None
        if raw is None and production and setting.dev_only_default:
            values[setting.name] = None  # refused when read: each function needs only its own secrets
            continue
        raw = setting.default if raw is None else raw
        try:
            values[setting.name] = setting.parse(raw)
        except ValueError as error:
            shown = "" if setting.secret else f" (got {raw!r})"
            problems.append(f"{setting.name} {error}{shown}")
            continue
        if setting.secret and raw.startswith("projects/") and not SECRET_VERSION_NAME.match(raw):
            problems.append(f"{setting.name} looks like a Secret Manager name but is not projects/*/secrets/*/versions/*")
    if not problems and values["TOKEN_LEASE_SECONDS"] < 3 * values["PROVIDER_TIMEOUT_SECONDS"]:
        problems.append(
            "TOKEN_LEASE_SECONDS must be at least 3 x PROVIDER_TIMEOUT_SECONDS (a refresh call must end inside its lease)"
        )
    if not problems and bool(values["APP_BACKEND_AUDIENCE"]) != bool(values["APP_BACKEND_SERVICE_ACCOUNTS"]):
        problems.append("APP_BACKEND_AUDIENCE and APP_BACKEND_SERVICE_ACCOUNTS are set together or not at all")
    if not problems and production:
        problems += _production_problems(values)
    return values, problems


def _production_problems(values: dict) -> list[str]:
    problems = []
    if values["GCP_PROJECT"] is None:
        problems.append("GCP_PROJECT must be set in production")
    for setting in SETTINGS:
        if setting.dev_only_default and values[setting.name] == setting.parse(setting.default):
            problems.append(f"{setting.name} is a dev-only default and is refused in production")
    if values["TOKEN_KEY_RING"] and DEV_KEY in values["TOKEN_KEY_RING"]:
        problems.append("TOKEN_KEY_RING contains the dev-only key and is refused in production")
    for name in ("FIRESTORE_EMULATOR_HOST", "PUBSUB_EMULATOR_HOST", "SECRET_MANAGER_ENDPOINT"):
        if values[name]:
            problems.append(f"{name} must be empty in production")
    for name in URL_SETTINGS:
        if values[name] is not None and not values[name].startswith("https://"):
            problems.append(f"{name} must be https in production")
    if values["APP_WEBHOOK_URL"] and not values["APP_WEBHOOK_URL"].startswith("https://"):
        problems.append("APP_WEBHOOK_URL must be https in production")
    if any(not url.startswith("https://") for url in (*values["OAUTH_RETURN_ALLOWLIST"], *values["CORS_ALLOWED_ORIGINS"])):
        problems.append("OAUTH_RETURN_ALLOWLIST and CORS_ALLOWED_ORIGINS must hold only https URLs in production")
    return problems


_settings: Settings | None = None


def get_settings() -> Settings:
    """The settings of this instance, parsed once."""
    global _settings
    if _settings is None:
        _settings = load_settings()
    return _settings


def reset_settings() -> None:
    """Forget the parsed settings (tests that change the environment call this)."""
    global _settings
    _settings = None
