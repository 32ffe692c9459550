"""Publishing to Pub/Sub: JSON bodies, string attributes, and waiting for the server's ack."""

import hashlib
import json
import uuid

from common.clients import publisher_client
from common.logs import get_logger, traceparent
from common.settings import get_settings
from common.timeutil import iso, utcnow

log = get_logger(__name__)


def publish_json(topic: str, payload: dict, **attributes: str) -> str:
    """Publish and wait until Pub/Sub has it; returns the message id. Raises if it did not.
    The message carries the current trace (`traceparent` attribute) to its consumer."""
    attributes = {"traceparent": traceparent(), **attributes}
    path = publisher_client().topic_path(get_settings().gcp_project, topic)
    data = json.dumps(payload, separators=(",", ":"), default=str).encode()
    return publisher_client().publish(path, data, **attributes).result(timeout=get_settings().publish_timeout_seconds)


def derived_id(*parts: str) -> str:
    """An event id from what names the event (the same parts, the same id): `msg_` and 32 hex
    digits, never a `.`, which Standard Webhooks' signed content uses as its separator."""
    return "msg_" + hashlib.sha256("\x1f".join(parts).encode()).hexdigest()[:32]


def publish_connection_event(
    event_type: str, uid: str, service: str | None, account: dict | None, *, event_id: str | None = None, **details
) -> None:
    """Tell the app what happened to a connection. Never carries tokens; a failure is logged, not raised,
    because the change it reports is already stored. `id` names the event for good (the app's
    webhook-id): a random one, or `event_id` when the event can be announced twice (a retried Slack event)."""
    event = {
        "id": event_id or f"msg_{uuid.uuid4().hex}",
        "type": event_type,
        "uid": uid,
        "service": service,
        "account": account,
        "time": iso(utcnow()),
        **details,
    }
    try:
        publish_json(get_settings().topic_connection_events, event, type=event_type, service=service or "")
    except Exception as error:
        log.error(
            "connection event not published",
            extra={"fields": {"type": event_type, "service": service, "error": type(error).__name__}},
        )
