"""Builds the sandbox's Flask app from its parts."""

import flask

from common.platform.secrets import get_secret
from common.platform.settings import get_settings
from common.providers.catalogue import catalogue
from local.sandbox import (
    accounts,
    app_webhooks,
    browser_access,
    bulk,
    calendar,
    catalogued,
    control,
    gmail,
    google,
    identity,
    secret_manager,
    sentry,
    slack,
    slack_events,
)


def create_sandbox_app(project: str) -> flask.Flask:
    """The sandbox accepts the same client ids and secrets the gateway is configured with."""
    settings = get_settings()
    app = flask.Flask("provider_sandbox")
    app.json.sort_keys = False
    state = control.SandboxState()
    control.register(app, state)
    bulk.register(app, state)
    accounts.register(app)
    identity.register(app, identity.Issuer(project))
    secret_manager.register(app, state)
    slack.register(app, state, settings.slack_client_id, get_secret("SLACK_CLIENT_SECRET"))
    google.register(app, state, settings.google_client_id, get_secret("GOOGLE_CLIENT_SECRET"))
    catalogued.register(app, state, catalogue(), settings)
    gmail.register(app, state)
    calendar.register(app, state)
    sentry.register(app, sentry.SentryInbox())
    slack_events.register(app)
    browser_access.register(app, settings.public_base_url)
    app_webhooks.register(app, state, get_secret("APP_WEBHOOK_SECRET"))

    @app.get("/_sandbox/health")
    def sandbox_health():
        return {"ok": True}

    return app
