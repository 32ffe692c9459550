"""POST /api/v1/webhooks/calendar/push: Google's bodiless channel notification, checked (known
channel, its secret token and resource id, compared in constant time), queued, acknowledged.
Needs no provider token: the sync happens in the consumer (common/sync/calendar_sync.py)."""

import hashlib
import hmac
import re
import threading
from collections import OrderedDict

import flask

from common.platform.envelope import success
from common.platform.errors import BadRequest, NotFound, Unauthenticated, Unavailable
from common.platform.logs import get_logger
from common.platform.settings import get_settings
from common.product.analytics import track
from common.product.events import publish_json
from common.product.flags import is_enabled
from common.product.rate_limit import limit_webhook
from common.stores import sync_state
from common.stores.document_ids import is_document_id

log = get_logger(__name__)
CHANNEL_ID = re.compile(r"[A-Za-z0-9\-_+=/]{1,64}")  # Google's channel-id alphabet
CACHED_CHANNELS = 10_000  # per instance, least recently used beyond it forgotten (about 2 MB)
# What never changes for a channel id: its token hash, resource id and user. Its status does (a stop
# is a tombstone written by another function), so the consumer checks it (calendar_sync).
CHANNEL_FIELDS = ("tokenHash", "resourceId", "uid")
_channels: OrderedDict[str, dict] = OrderedDict()
_channels_lock = threading.Lock()


def token_hash(token: str) -> str:
    """What is stored of a channel's secret token."""
    return hashlib.sha256(token.encode()).hexdigest()


def _channel(channel_id: str) -> dict:
    """The channel's unchanging fields, read once per instance: a known channel's ack is then one
    publish. An unknown channel is not cached (it may be created any moment)."""
    with _channels_lock:
        if channel_id in _channels:
            _channels.move_to_end(channel_id)
            return _channels[channel_id]
    snapshot = sync_state.channel_ref(channel_id).get()
    if not snapshot.exists:
        raise NotFound("Unknown channel", code="unknown_channel")
    channel = {field: snapshot.get(field) for field in CHANNEL_FIELDS}
    with _channels_lock:
        _channels[channel_id] = channel
        while len(_channels) > CACHED_CHANNELS:
            _channels.popitem(last=False)
    return channel


def receive_push(request: flask.Request) -> flask.Response:
    """POST /api/v1/webhooks/calendar/push: Google's bodiless notification."""
    headers = request.headers
    channel_id = headers.get("X-Goog-Channel-ID", "")
    if not CHANNEL_ID.fullmatch(channel_id) or not is_document_id(channel_id):  # it names a document
        raise BadRequest("X-Goog-Channel-ID is missing or malformed", code="invalid_channel")
    channel = _channel(channel_id)
    if (
        not hmac.compare_digest(token_hash(headers.get("X-Goog-Channel-Token", "")), channel["tokenHash"])
        or headers.get("X-Goog-Resource-ID") != channel["resourceId"]
    ):
        raise Unauthenticated("Channel token or resource does not match", code="invalid_channel_token")
    # Spent only now: the channel id travels in every notification, the token does not, so a sender
    # without it must not be able to exhaust the channel's budget (and have Google's notifications refused).
    limit_webhook(f"calendar:{channel_id}")
    state = headers.get("X-Goog-Resource-State", "")
    if state not in ("exists", "not_exists"):
        return success({"acknowledged": state or "unknown"})
    if not is_enabled("integration_webhooks_enabled", channel["uid"]):
        return success({"ignored": "webhooks_disabled"})
    number = headers.get("X-Goog-Message-Number", "")
    track("integration_webhook_received", uid=channel["uid"], provider="calendar", eventType=state)
    try:
        publish_json(
            get_settings().topic_calendar_notifications,
            {"uid": channel["uid"], "channelId": channel_id, "state": state, "messageNumber": number},
            channel_id=channel_id,
            state=state,
        )
    except Exception as error:
        log.error(
            "calendar notification not handed off",
            extra={"fields": {"metric": "webhook_failed", "provider": "calendar", "error": type(error).__name__}},
        )
        raise Unavailable("The notification could not be queued; retry", code="publish_failed") from None
    return success({"queued": True})
