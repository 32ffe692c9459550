"""Processing of Slack events and interactions taken from Pub/Sub: route to our users through the
account index, record activity, extract action items. Idempotent: every document is keyed by the
event and created only once, so a redelivered message has no second effect."""

import datetime

from google.api_core.exceptions import AlreadyExists

from common import action_items
from common.clients import firestore_client
from common.errors import BadRequest
from common.logs import get_logger
from common.stores.connections import USERS, account_ref
from common.timeutil import utcnow

log = get_logger(__name__)
HANDLED_EVENTS = ("message", "app_mention", "channel_created", "member_joined_channel")
ACTION_ITEM_EVENTS = ("message", "app_mention")
IGNORED_SUBTYPES = ("message_changed", "message_deleted", "bot_message", "channel_join")
MAX_TEXT = 4000


def _owners(team_id: str, slack_user_ids) -> dict[str, str]:
    """Slack user id -> our uid, for the users of this workspace who connected Slack."""
    wanted = sorted({u for u in slack_user_ids if isinstance(u, str) and u})
    refs = [account_ref("slack", f"{team_id}:{user}") for user in wanted]
    found = {}
    for snapshot in firestore_client().get_all(refs) if refs else []:
        if snapshot.exists:
            found[snapshot.get("account")["userId"]] = snapshot.get("uid")
    return found


def _create(uid: str, collection: str, doc_id: str, record: dict) -> bool:
    try:
        firestore_client().collection(USERS).document(uid).collection(collection).document(doc_id).create(record)
        return True
    except AlreadyExists:
        return False


def _permalink(channel: str | None, ts: str | None) -> str | None:
    if not channel or not ts:
        return None
    return f"https://slack.com/archives/{channel}/p{ts.replace('.', '')}"


def _channel_of(event: dict) -> str | None:
    channel = event.get("channel")
    return channel.get("id") if isinstance(channel, dict) else channel


def process_event(envelope: dict) -> int:
    """Record one event_callback for every user it concerns; returns how many users."""
    team_id, event_id, event = envelope.get("team_id"), envelope.get("event_id"), envelope.get("event")
    if not isinstance(event, dict) or not team_id or not event_id:
        raise BadRequest("Not an event_callback envelope", code="invalid_payload")
    text = event.get("text") if isinstance(event.get("text"), str) else ""
    authorized = [a.get("user_id") for a in envelope.get("authorizations") or [] if isinstance(a, dict)]
    # Only users Slack authorized for this event (and its author or inviter) receive it: a mention
    # alone says nothing about whether someone may see a private channel or a DM.
    owners = _owners(team_id, [*authorized, event.get("user"), event.get("inviter")])
    if not owners:
        log.info("slack event for no known user; acknowledged", extra={"fields": {"eventId": event_id, "teamId": team_id}})
        return 0
    channel, ts = _channel_of(event), event.get("ts") or event.get("event_ts")
    activity = {
        "eventId": event_id,
        "type": event.get("type"),
        "subtype": event.get("subtype"),
        "known": event.get("type") in HANDLED_EVENTS,
        "teamId": team_id,
        "channel": channel,
        "user": event.get("user"),
        "text": text[:MAX_TEXT],
        "ts": ts,
        "link": _permalink(channel, ts),
        "eventTime": envelope.get("event_time"),
        "recordedAt": utcnow(),
    }
    for uid in set(owners.values()):
        _create(uid, "slack_activity", event_id, activity)
    if event.get("type") in ACTION_ITEM_EVENTS and event.get("subtype") not in IGNORED_SUBTYPES:
        _record_action_items(envelope, event, text, owners, activity)
    return len(set(owners.values()))


def _record_action_items(envelope: dict, event: dict, text: str, owners: dict, activity: dict) -> None:
    sent = envelope.get("event_time") or 0
    sent_on = datetime.datetime.fromtimestamp(sent, datetime.UTC).date() if isinstance(sent, (int, float)) else utcnow().date()
    for n, item in enumerate(action_items.extract(text, sent_on)):
        # To the assignee if they connected Slack; else the author; else everyone the event reached.
        recipients = (
            {owners[item.assignee]}
            if item.assignee in owners
            else ({owners[event["user"]]} if event.get("user") in owners else set(owners.values()))
        )
        record = {
            "eventId": envelope["event_id"],
            "text": item.text,
            "rule": item.rule,
            "assignee": item.assignee,
            "assigneeUid": owners.get(item.assignee),
            "author": event.get("user"),
            "dueDate": item.due.isoformat() if item.due else None,
            "link": activity["link"],
            "channel": activity["channel"],
            "teamId": activity["teamId"],
            "status": "open",
            "createdAt": utcnow(),
        }
        for uid in recipients:
            _create(uid, "action_items", f"{envelope['event_id']}-{n}", record)


def process_interaction(payload: dict, interaction_id: str) -> int:
    team = payload.get("team") or {}
    user = (payload.get("user") or {}).get("id")
    owners = _owners(team.get("id", ""), [user])
    if not owners:
        log.info("slack interaction for no known user; acknowledged", extra={"fields": {"teamId": team.get("id")}})
        return 0
    actions = [a.get("action_id") for a in payload.get("actions") or [] if isinstance(a, dict)]
    channel = (payload.get("channel") or {}).get("id")
    activity = {
        "eventId": interaction_id,
        "type": payload.get("type"),
        "known": True,
        "teamId": team.get("id"),
        "channel": channel,
        "user": user,
        "actions": actions,
        "callbackId": payload.get("callback_id") or (payload.get("view") or {}).get("callback_id"),
        "recordedAt": utcnow(),
    }
    _create(owners[user], "slack_activity", interaction_id, activity)
    return 1
