"""Google Calendar: push channels (events.watch) and incremental sync (the push endpoint is
common/webhooks/calendar_push.py).

A channel's secret token is stored only as its SHA-256 and compared in constant time. Renewal opens
the new channel before stopping the old one, so no change falls in a gap. Sync pages through
events.list from the stored syncToken and stores the next one only after the last page; 410 Gone
drops the token and runs a full sync. Cancelled events are written as cancelled. Every write is an
upsert keyed by the event id, so repeated syncs have no second effect. A page's events (with the
next sync token on the last page) and a new channel's records are each stored in one transaction
guarded by the erasure fence, so work that began before the user was erased stores nothing after."""

import datetime
import secrets

from common.platform.errors import BadRequest, Unavailable
from common.platform.logs import get_logger
from common.platform.settings import get_settings
from common.platform.timeutil import utcnow
from common.product.flags import AUTO_SYNC_FLAG, is_enabled
from common.stores import leases, sync_state
from common.stores.connections import NotConnected, delete_synced, synced_ref
from common.stores.document_ids import is_document_id
from common.stores.erasures import UserErased
from common.sync.google_api import ConnectionCalls, ProviderRejected, google_call
from common.webhooks.calendar_push import token_hash
from common.webhooks.processed_events import MAX_IDS, announce

log = get_logger(__name__)
SERVICE = "calendar"
RENEW_BEFORE = datetime.timedelta(days=2)
EVENTS = "calendar_events"
# The consumer's timeout (infra/functions.json): a crashed sync's lease lapses with it, and the
# subscription's delivery attempts (infra/pubsub.tf) outlast it, so the notification is not dead-lettered.
SYNC_LEASE_SECONDS = 300


def _calendar_url(path: str) -> str:
    settings = get_settings()
    return f"{settings.calendar_base_url}/calendar/v3/calendars/{settings.calendar_id}/{path}"


def start_channel(uid: str, connection_id: str, since, fresh_token: str | None = None) -> dict:
    """Open a new push channel for the connection and record it; returns the channel record.
    `since`: when the work doing it started (the erasure fence)."""
    settings = get_settings()
    channel_id, token = secrets.token_hex(20), secrets.token_urlsafe(32)
    expiration_ms = int((utcnow() + datetime.timedelta(days=settings.calendar_channel_days)).timestamp() * 1000)
    response = google_call(
        uid,
        connection_id,
        "POST",
        _calendar_url("events/watch"),
        fresh_token=fresh_token,
        json={
            "id": channel_id,
            "type": "web_hook",
            "address": f"{settings.public_base_url}/api/v1/webhooks/calendar/push",
            "token": token,
            "expiration": expiration_ms,
        },
    )
    reply = response.json()
    expiration = datetime.datetime.fromtimestamp(int(reply.get("expiration") or expiration_ms) / 1000, datetime.UTC)
    channel = {
        "uid": uid,
        "connectionId": connection_id,
        "resourceId": reply["resourceId"],
        "tokenHash": token_hash(token),
        "expiration": expiration,
        "status": "active",
        "createdAt": utcnow(),
    }
    sync_state.merge_state(
        uid,
        connection_id,
        {
            "service": SERVICE,
            "uid": uid,
            "channelId": channel_id,
            "resourceId": reply["resourceId"],
            "channelExpiration": expiration,
            "renewAt": expiration - RENEW_BEFORE,
        },
        since,
        [(sync_state.channel_ref(channel_id), channel)],
    )
    return {"id": channel_id, **channel}


def stop_channel(uid: str, connection_id: str, channel_id: str | None) -> None:
    """Stop a channel at Google (best effort) and keep a tombstone, so late notifications are ignored."""
    if not channel_id:
        return
    snapshot = sync_state.channel_ref(channel_id).get()
    if not snapshot.exists:
        return
    # Tombstone first: even if the call below fails, notifications on this channel are ignored from now on.
    sync_state.channel_ref(channel_id).update({"status": "stopped", "stoppedAt": utcnow()})
    stop = {"id": channel_id, "resourceId": snapshot.get("resourceId")}
    stop_url = f"{get_settings().calendar_base_url}/calendar/v3/channels/stop"
    google_call(uid, connection_id, "POST", stop_url, handled=(404,), json=stop)


def renew_channel(uid: str, connection_id: str, since) -> None:
    old = sync_state.get_state(uid, connection_id).get("channelId")
    start_channel(uid, connection_id, since)
    stop_channel(uid, connection_id, old)


def sync(uid: str, connection_id: str) -> str:
    """One sync at a time per connection (a lease): a notification arriving meanwhile is redelivered
    and syncs after it, so an older page can never overwrite a newer one. The sync started when it
    took the lease (a server time: the erasure fence's `since`); its last store gives the lease back."""
    key = f"{connection_id}-sync"
    taken_at = leases.try_take(uid, key, secrets.token_hex(8), SYNC_LEASE_SECONDS)
    if taken_at is None:
        raise Unavailable("A calendar sync of this connection is running", code="in_flight", retry_after=5)
    lease = leases.Held(uid, key, taken_at)
    try:
        return _sync(uid, connection_id, lease)
    finally:
        lease.release()  # unless the last store did


def _sync(uid: str, connection_id: str, lease: leases.Held) -> str:
    """Incremental sync from the stored token (full when there is none, or after 410)."""
    since = lease.taken_at
    state, _, connection = sync_state.read_state_and_connection(uid, connection_id)
    token, page_token, changed = state.get("syncToken"), None, []
    calls = ConnectionCalls(uid, connection_id, read=connection)
    while True:
        params = {"syncToken": token} if token else {}
        if page_token:
            params["pageToken"] = page_token
        response = calls.call("GET", _calendar_url("events"), handled=(410,), params=params)
        if response.status_code == 410:
            if token is None:
                raise ProviderRejected("Calendar answered 410 to a full listing")
            # Google: clear what was stored and sync again in full (deleted events are not listed then).
            log.info("calendar sync token expired; full sync", extra={"fields": {"uid": uid}})
            sync_state.merge_state(uid, connection_id, {"syncToken": None}, since)
            delete_synced(uid, EVENTS, connection_id)
            token, page_token, changed = None, None, []
            continue
        body = response.json()
        page = [
            (synced_ref(uid, EVENTS, connection_id, item["id"]), _event_record(item, connection_id))
            for item in body.get("items") or []
        ]
        page_token = body.get("nextPageToken")
        done = {} if page_token else {"syncToken": body.get("nextSyncToken"), "syncedAt": utcnow()}
        if page or done:
            sync_state.merge_state(uid, connection_id, done, since, page, lease=lease if done else None)
        changed += [record["id"] for _, record in page]
        if not page_token:
            if changed:  # named by the sync token it reached: a re-run that reaches it again, the same id
                announce(
                    "calendar.changed",
                    uid,
                    connection_id,
                    done.get("syncToken"),
                    read=calls.record,
                    eventIds=changed[:MAX_IDS],
                    count=len(changed),
                    fullSync=token is None,
                )
            return "full_sync" if token is None else "synced"


def _event_record(item: dict, connection_id: str) -> dict:
    if item.get("status") == "cancelled":
        return {"id": item["id"], "connectionId": connection_id, "status": "cancelled", "updated": item.get("updated")}
    return {
        "id": item["id"],
        "connectionId": connection_id,
        "status": item.get("status", "confirmed"),
        "summary": item.get("summary"),
        "start": item.get("start"),
        "end": item.get("end"),
        "updated": item.get("updated"),
        "htmlLink": item.get("htmlLink"),
    }


def handle_notification(payload: dict) -> str:
    """Sync for a notification the push endpoint queued; a channel stopped (or gone) since is
    ignored here, since the endpoint answers from what never changes for a channel."""
    uid = payload.get("uid")
    if not isinstance(uid, str) or not uid:
        raise BadRequest("uid is missing", code="invalid_payload")
    channel_id = payload.get("channelId")
    snapshot = sync_state.channel_ref(channel_id).get() if isinstance(channel_id, str) and is_document_id(channel_id) else None
    channel = snapshot.to_dict() if snapshot is not None and snapshot.exists else {}
    if channel.get("status") != "active" or channel.get("uid") != uid:
        log.info("notification for a stopped or unknown channel; acknowledged", extra={"fields": {"uid": uid}})
        return "stopped_channel"
    if not is_enabled(AUTO_SYNC_FLAG, uid):
        log.info("auto-sync disabled for this user; acknowledged", extra={"fields": {"uid": uid}})
        return "auto_sync_disabled"
    try:
        return sync(uid, channel.get("connectionId") or SERVICE)  # a channel opened before connection ids: calendar's
    except UserErased:
        log.info("calendar sync refused: the user was erased meanwhile", extra={"fields": {"uid": uid}})
        return "erased"
    except NotConnected:
        log.info("calendar sync ended: the connection was removed meanwhile", extra={"fields": {"uid": uid}})
        return "disconnected"
