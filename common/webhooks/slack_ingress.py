"""Slack's Events API and interactivity endpoints: verify, hand off to Pub/Sub, then ack.

An event is acknowledged only once it is durably on the `slack-events` topic; if publishing fails
the reply is 503 and Slack retries. The publish is the ack's one round trip: a retry or duplicate
of an event is published again, and the consumer records it once (it creates each document only
if it does not exist, keyed by the event id: common/sync/slack_processing.py).
What is published leaves out Slack's legacy verification token and every response_url (see
`_without_secrets`), so neither reaches the topic, the consumer, the dead-letter store or a log."""

import hashlib
import json
import urllib.parse

import flask

from common.platform import clock
from common.platform.envelope import success
from common.platform.errors import BadRequest, Unavailable, UnsupportedMediaType
from common.platform.logs import get_logger
from common.platform.secrets import get_secret
from common.platform.settings import get_settings
from common.product.analytics import track
from common.product.events import publish_json
from common.product.flags import is_enabled
from common.product.rate_limit import limit_webhook
from common.serving.http import read_body
from common.webhooks.slack_signature import verify

log = get_logger(__name__)
WEBHOOKS_FLAG = "integration_webhooks_enabled"  # rolled out per Slack workspace
MAX_ATTRIBUTE_BYTES = 1024  # Pub/Sub's limit on an attribute value
# The legacy verification token (superseded by the signature we check) and a response_url, with
# which anyone may post as the app into the conversation for 30 minutes.
SECRET_FIELDS = ("token", "response_url")


def _verified_body(request: flask.Request, content_type: str) -> bytes:
    body = read_body(request, get_settings().webhook_max_body_bytes)
    verify(request.headers, body, get_secret("SLACK_SIGNING_SECRET"), clock.now())
    if request.mimetype != content_type:
        raise UnsupportedMediaType(f"Content-Type must be {content_type}")
    return body


def _json_object(text: bytes | str, what: str) -> dict:
    try:
        value = json.loads(text)
    except (ValueError, RecursionError):  # RecursionError: nested deeper than the parser's stack
        raise BadRequest(f"{what} is not JSON", code="invalid_json") from None
    if not isinstance(value, dict):
        raise BadRequest(f"{what} must be a JSON object", code="invalid_payload")
    return value


def _attribute(value, what: str) -> str:
    """A field that becomes a Pub/Sub attribute (and part of a document id and a rate-limit key):
    non-empty text that UTF-8 can encode within Pub/Sub's limit. Anything else is a 400: no retry
    could queue it (a JSON "\\ud800" escape decodes to a lone surrogate, which UTF-8 cannot encode)."""
    try:
        fits = isinstance(value, str) and 0 < len(value.encode()) <= MAX_ATTRIBUTE_BYTES
    except UnicodeEncodeError:
        fits = False
    if not fits:
        raise BadRequest(f"{what} must be text of at most {MAX_ATTRIBUTE_BYTES} bytes", code="invalid_payload")
    return value


def _without_secrets(payload: dict) -> dict:
    """The payload as it may be queued and kept: Slack's own, minus SECRET_FIELDS at the top and in
    each of a view submission's `response_urls`. No consumer reads them."""
    kept = {key: value for key, value in payload.items() if key not in SECRET_FIELDS}
    if isinstance(payload.get("response_urls"), list):
        kept["response_urls"] = [
            {key: value for key, value in item.items() if key not in SECRET_FIELDS}
            for item in payload["response_urls"]
            if isinstance(item, dict)
        ]
    return kept


def _hand_off(kind: str, payload: dict, attributes: dict, retry_num: str | None) -> flask.Response:
    limit_webhook(f"slack:{attributes['team_id']}")
    track("integration_webhook_received", provider="slack", eventType=attributes["event_type"], kind=kind)
    if not is_enabled(WEBHOOKS_FLAG, attributes["team_id"]):
        log.info("webhooks disabled for this workspace; acknowledged", extra={"fields": {"kind": kind}})
        return success({"ignored": "webhooks_disabled"})
    fields = {"eventId": attributes["event_id"], "kind": kind, "eventType": attributes.get("event_type"), "retryNum": retry_num}
    try:
        message_id = publish_json(
            get_settings().topic_slack_events,
            _without_secrets(payload),
            **attributes,
            kind=kind,
        )
    except Exception as error:
        log.error(
            "webhook not handed off",
            extra={"fields": {**fields, "metric": "webhook_failed", "provider": "slack", "error": type(error).__name__}},
        )
        raise Unavailable("The event could not be queued; retry", code="publish_failed") from None
    log.info("webhook handed off", extra={"fields": {**fields, "messageId": message_id}})
    return success({"queued": True})


def receive_event(request: flask.Request) -> flask.Response:
    envelope = _json_object(_verified_body(request, "application/json"), "The body")
    kind = envelope.get("type")
    if kind == "url_verification":
        challenge = envelope.get("challenge")
        if not isinstance(challenge, str) or not challenge:
            raise BadRequest("url_verification needs a challenge", code="invalid_payload")
        return flask.jsonify({"challenge": challenge})  # Slack reads this exact shape, not our envelope
    if kind != "event_callback":
        log.info("slack callback of another type acknowledged", extra={"fields": {"type": str(kind)[:64]}})
        return success({"ignored": True})
    event_id, event = _attribute(envelope.get("event_id"), "event_id"), envelope.get("event")
    if len(event_id) > 128 or "/" in event_id:
        raise BadRequest("event_callback needs an event_id", code="invalid_payload")
    if not isinstance(event, dict):
        raise BadRequest("event_callback needs team_id and event.type", code="invalid_payload")
    attributes = {
        "team_id": _attribute(envelope.get("team_id"), "team_id"),
        "event_type": _attribute(event.get("type"), "event.type"),
        "event_id": event_id,
    }
    return _hand_off("event_callback", envelope, attributes, request.headers.get("X-Slack-Retry-Num"))


def receive_interaction(request: flask.Request) -> flask.Response:
    body = _verified_body(request, "application/x-www-form-urlencoded")
    try:
        form = urllib.parse.parse_qs(body.decode("utf-8"), strict_parsing=False)
    except UnicodeDecodeError:
        raise BadRequest("The form is not UTF-8", code="invalid_payload") from None
    if "payload" not in form:
        raise BadRequest("The form has no payload field", code="missing_payload")
    payload = _json_object(form["payload"][0], "payload")
    if not isinstance(payload.get("team"), dict):
        raise BadRequest("payload needs type and team.id", code="invalid_payload")
    interaction_id = hashlib.sha256(body).hexdigest()[:40]  # interactions carry no event_id; identical deliveries dedupe
    attributes = {
        "team_id": _attribute(payload["team"].get("id"), "team.id"),
        "event_type": _attribute(payload.get("type"), "type"),
        "event_id": f"int-{interaction_id}",
    }
    return _hand_off("interaction", payload, attributes, request.headers.get("X-Slack-Retry-Num"))
