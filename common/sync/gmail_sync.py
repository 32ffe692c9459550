"""Gmail: the watch (push to our topic), and the sync a notification starts.

Notifications are hints: they can be dropped or duplicated, so each one syncs from the stored
cursor (history.list with paging), never from the notification's own historyId, and the cursor
only ever moves forward (a transaction). A notification at or below the cursor is a no-op. When
the history is gone (404) a bounded full sync fetches the newest messages and sets a new cursor.
A page's messages and its cursor are stored in one transaction guarded by the erasure fence, so a
sync that fetched mail before the user was erased stores none of it afterwards."""

import datetime
import hashlib

from common.platform.errors import BadRequest, Unavailable
from common.platform.logs import get_logger
from common.platform.settings import get_settings
from common.platform.timeutil import utcnow
from common.product.analytics import track
from common.product.flags import AUTO_SYNC_FLAG, is_enabled
from common.stores import dedup, sync_state
from common.stores.connections import NotConnected, find_account_owner, synced_ref
from common.stores.erasures import UserErased
from common.sync.google_api import ConnectionCalls, google_call
from common.webhooks.processed_events import MAX_IDS, announce

log = get_logger(__name__)
SERVICE = "gmail"
MAIL = "mail"
METADATA_HEADERS = ("From", "To", "Subject", "Date")
RENEW_AFTER = datetime.timedelta(days=1)  # Gmail asks for a renewal at least every 7 days; daily is advised


def _api(path: str) -> str:
    return f"{get_settings().gmail_base_url}/gmail/v1/users/me/{path}"


def start_watch(uid: str, connection_id: str, since, fresh_token: str | None = None) -> dict:
    """Start (or renew) the connection's watch; `since` is when the work doing it started (the erasure
    fence). The watch and, on the first one, its starting historyId are stored in one fenced transaction."""
    settings = get_settings()
    topic = f"projects/{settings.gcp_project}/topics/{settings.topic_gmail_notifications}"
    watch = {"topicName": topic, "labelIds": list(settings.gmail_watch_labels), "labelFilterBehavior": "include"}
    reply = google_call(uid, connection_id, "POST", _api("watch"), fresh_token=fresh_token, json=watch).json()
    now = utcnow()
    expiration = datetime.datetime.fromtimestamp(int(reply["expiration"]) / 1000, datetime.UTC)
    sync_state.merge_state(
        uid,
        connection_id,
        {"service": SERVICE, "uid": uid, "watchStartedAt": now, "watchExpiration": expiration, "renewAt": now + RENEW_AFTER},
        since,
        if_absent={"historyId": int(reply["historyId"])},
    )
    return reply


def stop_watch(uid: str, connection_id: str) -> None:
    google_call(uid, connection_id, "POST", _api("stop"))


def _history_id(value) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, str)) or not str(value).isdigit():
        raise BadRequest("historyId must be a number", code="invalid_payload")
    return int(value)


def notification_key(email: str, history_id: int) -> str:
    """The dedup key of one Gmail notification (the mailbox is hashed: no address in a document id)."""
    return f"gmail-{hashlib.sha256(email.lower().encode()).hexdigest()[:24]}-{history_id}"


def handle_notification(payload: dict) -> str:
    """What a notification led to: no_user, stale, duplicate, synced, full_sync, erased or
    disconnected. Concurrent copies of one notification are claimed in the dedup store, so only one
    of them syncs."""
    email = payload.get("emailAddress")
    if not isinstance(email, str) or "@" not in email:
        raise BadRequest("emailAddress is missing", code="invalid_payload")
    notified = _history_id(payload.get("historyId"))
    uid, connection_id = find_account_owner(SERVICE, email.lower()) or (None, None)
    track("integration_webhook_received", uid=uid, provider=SERVICE)
    if uid is None:
        log.info("gmail notification for no known user; acknowledged", extra={"fields": {"historyId": notified}})
        return "no_user"
    if not is_enabled(AUTO_SYNC_FLAG, uid):
        return "auto_sync_disabled"
    state, since, connection = sync_state.read_state_and_connection(uid, connection_id)
    cursor = state.get("historyId")
    if cursor is not None and notified <= cursor:
        return "stale"
    key = notification_key(email, notified)
    claimed = dedup.claim(key, "gmail_notification")
    if claimed.outcome is dedup.Claim.DUPLICATE:
        return "duplicate"
    if claimed.outcome is dedup.Claim.IN_FLIGHT:
        raise Unavailable("The same notification is being synced", code="in_flight", retry_after=5)
    try:
        return sync(uid, connection_id, cursor, since, connection, claim=key)  # its last store marks the claim done
    except UserErased:
        log.info("gmail sync refused: the user was erased meanwhile", extra={"fields": {"historyId": notified}})
        outcome = "erased"
    except NotConnected:
        log.info("gmail sync ended: the connection was removed meanwhile", extra={"fields": {"historyId": notified}})
        outcome = "disconnected"
    except BaseException:
        dedup.release(claimed)
        raise
    dedup.complete(key, outcome)
    return outcome


def sync(uid: str, connection_id: str, cursor: int | None, since, read: dict | None = None, claim: str | None = None) -> str:
    """Page through history from the cursor. Each page's messages are stored with the cursor moved to
    that page's last record (one transaction) before the next page, so a large backlog makes progress
    even if a later page fails (the redelivery resumes from there). `read`: the connection as just
    read with the cursor (none: the first call reads it); `claim`: the dedup key of the notification
    synced, marked done in the last page's transaction."""
    calls = ConnectionCalls(uid, connection_id, read=read)
    if cursor is None:
        return full_sync(calls, since, claim)
    page_token = None
    while True:
        params = {"startHistoryId": cursor, "historyTypes": "messageAdded", **({"pageToken": page_token} if page_token else {})}
        response = calls.call("GET", _api("history"), handled=(404,), params=params)
        if response.status_code == 404:
            log.info("gmail history expired; full sync", extra={"fields": {"uid": uid}})
            return full_sync(calls, since, claim)
        body = response.json()
        records = body.get("history") or []
        added = [
            item["message"]["id"]
            for record in records
            for item in record.get("messagesAdded") or []
            if item.get("message", {}).get("id")
        ]
        messages = _fetch_messages(calls, list(dict.fromkeys(added)))
        page_token = body.get("nextPageToken")
        reached = int(body.get("historyId") or cursor) if not page_token else max([int(r["id"]) for r in records] or [cursor])
        done = _completion(claim, "synced") if not page_token else []
        sync_state.advance_cursor(uid, connection_id, "historyId", reached, since, messages + done)
        _announce_stored(calls, messages, reached)
        if not page_token:
            return "synced"


def _completion(claim: str | None, outcome: str) -> list[tuple]:
    return [dedup.completion(claim, outcome)] if claim else []


def full_sync(calls: ConnectionCalls, since, claim: str | None = None) -> str:
    """The newest messages, and the cursor read *before* listing them: mail that arrives meanwhile
    lies above the cursor, so the next sync picks it up (storing it twice is harmless). `claim`: as
    for sync()."""
    settings = get_settings()
    profile = calls.call("GET", _api("profile")).json()
    params = {"maxResults": settings.gmail_full_sync_messages, "labelIds": list(settings.gmail_watch_labels)}
    listed = calls.call("GET", _api("messages"), params=params).json()
    messages = _fetch_messages(calls, [m["id"] for m in listed.get("messages") or []])
    history_id = int(profile["historyId"])
    done = _completion(claim, "full_sync")
    sync_state.advance_cursor(calls.uid, calls.connection_id, "historyId", history_id, since, messages + done)
    _announce_stored(calls, messages, history_id)
    return "full_sync"


def _announce_stored(calls: ConnectionCalls, messages: list[tuple], history_id: int) -> None:
    """New mail for the app's webhooks, named by the cursor it was stored with (a re-run, the same id)."""
    if messages:
        ids = [record["id"] for _, record in messages]
        details = {"messageIds": ids[:MAX_IDS], "count": len(ids), "historyId": history_id}
        announce("gmail.messages_stored", calls.uid, calls.connection_id, str(history_id), read=calls.record, **details)


def _fetch_messages(calls: ConnectionCalls, message_ids: list[str]) -> list[tuple]:
    """(mail document, record) of each message that still exists, for the caller to store."""
    uid, connection_id, fetched = calls.uid, calls.connection_id, []
    for message_id in message_ids:
        response = calls.call(
            "GET",
            _api(f"messages/{message_id}"),
            handled=(404,),
            params={"format": "metadata", "metadataHeaders": list(METADATA_HEADERS)},
        )
        if response.status_code == 404:
            continue  # deleted since it was added
        message = response.json()
        headers = {h["name"]: h["value"] for h in (message.get("payload") or {}).get("headers") or []}
        fetched.append(
            (
                synced_ref(uid, MAIL, connection_id, message_id),
                {
                    "id": message_id,
                    "connectionId": connection_id,
                    "threadId": message.get("threadId"),
                    "from": headers.get("From"),
                    "to": headers.get("To"),
                    "subject": headers.get("Subject"),
                    "date": headers.get("Date"),
                    "snippet": message.get("snippet"),
                    "labels": message.get("labelIds") or [],
                    "historyId": int(message.get("historyId") or 0),
                    "internalDate": int(message.get("internalDate") or 0),
                },
            )
        )
    return fetched
