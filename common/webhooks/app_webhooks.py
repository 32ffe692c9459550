"""Signed webhooks to the app (docs/app-webhooks.md). Each event on `connection-events` whose type
the app opted into (APP_WEBHOOK_EVENT_TYPES) is POSTed to APP_WEBHOOK_URL as a Standard Webhook,
signed by the standardwebhooks library with APP_WEBHOOK_SECRET. A failed delivery (not 2xx, a
timeout, no connection) raises a retryable error: Pub/Sub redelivers with backoff and, after its
last attempt, dead-letters the message. Every attempt carries the event's own id as webhook-id
(a fresh webhook-timestamp and signature), so the app drops repeats."""

import json
import time

import requests
from standardwebhooks import Webhook

from common.platform.clients import http_session
from common.platform.errors import ConfigError, Unavailable
from common.platform.logs import get_logger
from common.platform.secrets import get_secret
from common.platform.settings import get_settings
from common.platform.timeutil import ms_since, utcnow
from common.product.events import derived_id

log = get_logger(__name__)
ENVELOPE_FIELDS = ("id", "type", "uid", "service", "connectionId", "account", "time", "tags")
SECRET_WORDS = ("token", "secret", "password", "credential", "authorization")


def webhook_type(event_type: str) -> str:
    """Lifecycle events are published as `needs_reauth`; the app sees `connection.needs_reauth`."""
    return event_type if "." in event_type else f"connection.{event_type}"


def webhook_id(event: dict) -> str:
    """The event's id; one published before events carried ids is named by its content."""
    return event.get("id") or derived_id(json.dumps(event, sort_keys=True, default=str))


def _without_secrets(details: dict) -> dict:
    """Events never carry tokens; a detail whose name says it is one is dropped all the same."""
    return {key: value for key, value in details.items() if not any(word in key.lower() for word in SECRET_WORDS)}


def webhook_payload(event: dict) -> dict:
    """`{type, timestamp, data: {uid, service, connectionId, account, details, tags?}}`; timestamp is
    when it happened; connectionId is null for an event about the user (and in one published before
    connections had ids)."""
    data = {
        "uid": event.get("uid"),
        "service": event.get("service"),
        "connectionId": event.get("connectionId"),
        "account": event.get("account"),
        "details": _without_secrets({k: v for k, v in event.items() if k not in ENVELOPE_FIELDS}),
    }
    if event.get("tags"):
        data["tags"] = event["tags"]
    return {"type": webhook_type(str(event.get("type") or "")), "timestamp": event.get("time"), "data": data}


def _signer() -> Webhook:
    """A secret that is missing or malformed is a retryable failure: the delivery waits for the fix
    (and ends in the dead letter, to be replayed) instead of being dropped."""
    try:
        return Webhook(get_secret("APP_WEBHOOK_SECRET"))
    except (ConfigError, ValueError) as error:
        raise Unavailable(
            f"APP_WEBHOOK_SECRET cannot sign ({type(error).__name__}); the delivery waits", code="app_webhook_misconfigured"
        ) from None


def deliver(event: dict) -> str:
    """What became of the event: `off` (no APP_WEBHOOK_URL), `not_opted_in` or `delivered`;
    raises Unavailable when the app's endpoint did not take it."""
    settings = get_settings()
    kind = webhook_type(str(event.get("type") or ""))
    if not settings.app_webhook_url:
        return "off"
    if kind not in settings.app_webhook_event_types:
        return "not_opted_in"
    body = json.dumps(webhook_payload(event), separators=(",", ":"), default=str)
    msg_id, now = webhook_id(event), utcnow()
    headers = {
        "Content-Type": "application/json",
        "webhook-id": msg_id,
        "webhook-timestamp": str(int(now.timestamp())),
        "webhook-signature": _signer().sign(msg_id, now, body),
    }
    fields = {"type": kind, "webhookId": msg_id}
    started = time.perf_counter()
    try:
        response = http_session().post(
            settings.app_webhook_url,
            data=body.encode(),
            headers=headers,
            timeout=settings.app_webhook_timeout_seconds,
            allow_redirects=False,  # a redirect is a failure (Standard Webhooks: update the URL instead)
        )
        response.close()
    except requests.RequestException as error:
        log.warning("app webhook not delivered", extra={"fields": {**fields, "error": type(error).__name__}})
        raise Unavailable(
            f"The app's webhook endpoint did not answer ({type(error).__name__})", code="app_webhook_failed"
        ) from None
    fields.update(status=response.status_code, latencyMs=ms_since(started))
    if not 200 <= response.status_code < 300:
        log.warning("app webhook refused", extra={"fields": fields})
        raise Unavailable(f"The app's webhook endpoint answered {response.status_code}", code="app_webhook_failed")
    log.info("app webhook delivered", extra={"fields": fields})
    return "delivered"
