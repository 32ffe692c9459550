"""Publishing to Pub/Sub: JSON bodies, string attributes; hand-offs wait for the server's ack, connection
events do not."""

import json

from common.clients import publisher_client
from common.logs import get_logger, traceparent
from common.settings import get_settings
from common.timeutil import iso, utcnow

log = get_logger(__name__)


def _send(topic: str, payload: dict, attributes: dict):
    """The publish's future; the message carries the current trace (`traceparent`) to its consumer."""
    attributes = {"traceparent": traceparent(), **attributes}
    path = publisher_client().topic_path(get_settings().gcp_project, topic)
    data = json.dumps(payload, separators=(",", ":"), default=str).encode()
    return publisher_client().publish(path, data, **attributes)


def publish_json(topic: str, payload: dict, **attributes: str) -> str:
    """Publish and wait until Pub/Sub has it; returns the message id. Raises if it did not."""
    return _send(topic, payload, attributes).result(timeout=get_settings().publish_timeout_seconds)


def publish_json_many(topic: str, payloads: list[dict], **attributes: str) -> list[str]:
    """Publish them all at once (the client batches them), then wait until Pub/Sub has every one."""
    futures = [_send(topic, payload, attributes) for payload in payloads]
    return [future.result(timeout=get_settings().publish_timeout_seconds) for future in futures]


def publish_connection_event(
    event_type: str, uid: str, service: str, account: dict | None, *, tags: dict | None = None, **details
) -> None:
    """Tell the app what happened to a connection, with the tags its backend gave it. Never carries
    tokens. Best effort, so not waited for: the change it reports is already stored, and the request
    that made it answers without one more round trip; a failure is logged when Pub/Sub reports it."""
    event = {
        "type": event_type,
        "uid": uid,
        "service": service,
        "account": account,
        "tags": tags or {},
        "time": iso(utcnow()),
        **details,
    }

    def logged(future) -> None:
        if future.exception() is not None:
            _not_published(event_type, service, future.exception())

    try:
        _send(get_settings().topic_connection_events, event, {"type": event_type, "service": service}).add_done_callback(logged)
    except Exception as error:
        _not_published(event_type, service, error)


def _not_published(event_type: str, service: str, error: BaseException) -> None:
    fields = {"type": event_type, "service": service, "error": type(error).__name__}
    log.error("connection event not published", extra={"fields": fields})
