"""Announcing what the consumers did with a provider's events (a Slack event recorded, new mail
stored, a calendar changed) on `connection-events`, for the app's webhooks (common/webhooks/app_webhooks.py).
Thin: ids and counts, never message text or tokens. Work that can run twice (a redelivery, a
Slack retry) names its announcement by what it did, so both runs share one webhook-id."""

from common.product.events import derived_id, publish_connection_event
from common.stores.connections import get_connection, service_of

MAX_IDS = 100  # ids listed per announcement (the count says how many there were): payloads stay small


def announce(event_type: str, uid: str, connection_id: str, key: str | None, read: dict | None = None, **details) -> None:
    """Publish `event_type` for the user's connection, with its account and tags as the work `read`
    them (its token's read, a moment before) or as stored now; `key` names the work within the
    connection (None: announced only once, a random id)."""
    record = read if read is not None else (get_connection(uid, connection_id) or {})
    tags = {"tags": record["tags"]} if record.get("tags") else {}
    event_id = derived_id(event_type, uid, _scoped(connection_id, key)) if key else None
    publish_connection_event(event_type, uid, connection_id, record.get("account"), event_id=event_id, **tags, **details)


def _scoped(connection_id: str, key: str) -> str:
    """The work's key among the user's connections: two mailboxes reach the same history id. The
    service-named connection keeps the bare key, so its ids are those it had before connection ids."""
    return key if connection_id == service_of(connection_id) else f"{connection_id}:{key}"
