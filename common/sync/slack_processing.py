"""Processing of Slack events and interactions taken from Pub/Sub: route to our users through the
account index, record activity, extract action items. Idempotent: every document is keyed by the
event and created only once, so a redelivered message has no second effect. An event's documents
are created in one transaction that reads, in one get, the erasure fence of each user it was routed
to and each connection it reached: a user erased after the routing read, or a connection removed
meanwhile (a disconnect), gets none of them (common/stores/erasures.py), and the announcement carries
the connection as that read found it."""

import datetime

from google.api_core.exceptions import AlreadyExists
from google.cloud import firestore

from common.platform.clients import firestore_client
from common.platform.errors import BadRequest
from common.platform.logs import get_logger
from common.platform.timeutil import utcnow
from common.stores import erasures
from common.stores.connections import account_ref, connection_ref, indexed_connection_id, record_of, synced_ref
from common.stores.document_ids import is_document_id
from common.sync import action_items
from common.webhooks.processed_events import announce

log = get_logger(__name__)
HANDLED_EVENTS = ("message", "app_mention", "channel_created", "member_joined_channel")
ACTION_ITEM_EVENTS = ("message", "app_mention")
IGNORED_SUBTYPES = ("message_changed", "message_deleted", "bot_message", "channel_join")
MAX_TEXT = 4000
LATEST_EVENT_TIME = 4102444800  # 2100-01-01: any later "event_time" is not a real one


def _text(value) -> str | None:
    """A string field as we store it. Slack signs its payloads, but a field is still read only when
    it has the documented type and is valid UTF-8 (a JSON "\\ud800" escape is not), so a malformed
    one is dropped instead of failing the write and being redelivered forever."""
    if not isinstance(value, str):
        return None
    try:
        value.encode()
    except UnicodeEncodeError:
        return None
    return value


def _object(value) -> dict:
    return value if isinstance(value, dict) else {}


def _list(value) -> list:
    return value if isinstance(value, list) else []


def _document_id(value) -> str:
    """An id that names our documents: usable as a Firestore id, or the message is refused for good."""
    if not is_document_id(value):
        raise BadRequest("The event id cannot name a document", code="invalid_payload")
    return value


def _event_time(value) -> int | None:
    """Slack's event_time (Unix seconds) when it is a plausible one; Firestore refuses what does not fit in 64 bits."""
    plausible = isinstance(value, int) and not isinstance(value, bool) and 0 <= value < LATEST_EVENT_TIME
    return value if plausible else None


def _sent_on(event_time: int | None) -> datetime.date:
    """The message's date (UTC), against which "by tomorrow" is read; today without an event_time."""
    return utcnow().date() if event_time is None else datetime.datetime.fromtimestamp(event_time, datetime.UTC).date()


def _owners(team_id: str, slack_user_ids) -> tuple[dict[str, tuple[str, str]], object]:
    """Slack user id -> (our uid, connection id), for the users of this workspace who connected
    Slack; and the server time of that read (the work's `since` for the erasure fence)."""
    wanted = sorted({u for u in map(_text, slack_user_ids) if u})
    refs = [account_ref("slack", f"{team_id}:{user}") for user in wanted]
    snapshots = list(firestore_client().get_all(refs)) if refs else []
    found = {s.get("account")["userId"]: (s.get("uid"), indexed_connection_id(s.to_dict())) for s in snapshots if s.exists}
    return found, min((s.read_time for s in snapshots), default=None)


def _document(owner: tuple[str, str], collection: str, item_id: str, record: dict) -> tuple:
    """(uid, document, record) of one connection's copy of an item."""
    uid, connection_id = owner
    return uid, synced_ref(uid, collection, connection_id, item_id), {**record, "connectionId": connection_id}


def _create_all(since, documents: list[tuple]) -> dict[tuple[str, str], dict]:
    """Create each (uid, document, record) that does not exist yet, unless its user's erasure fence
    refuses work that started at `since` or its connection is gone; returns the connections that
    took their documents, (uid, connection id) -> the connection as the transaction read it."""
    recorded = {}
    for chunk in erasures.chunks(documents):
        try:
            refused, found = _create_missing(firestore_client().transaction(), since, chunk)
        except Exception as error:
            if not _already_exists(error):
                raise
            # another delivery of this event created them first: keep what it did
            refused, found = _create_missing(firestore_client().transaction(), since, chunk, read_documents=True)
        if refused:
            log.info("slack event not recorded for users erased meanwhile", extra={"fields": {"users": len(refused)}})
        gone = {(uid, record["connectionId"]) for uid, _, record in chunk if uid not in refused} - found.keys()
        if gone:
            log.info(
                "slack event not recorded for connections that no longer exist", extra={"fields": {"connections": len(gone)}}
            )
        # A connection an earlier transaction found and this one did not was removed in between: the
        # removal takes what was created before it, and the event is not announced for it.
        recorded = {owner: connection for owner, connection in (recorded | found).items() if owner not in gone}
    return recorded


def _already_exists(error: BaseException) -> bool:
    """A commit refused because a document is there; the client's rollback after it may fail in turn
    and raise its own error, with the refusal as its context."""
    return isinstance(error, AlreadyExists) or isinstance(error.__context__, AlreadyExists)


@firestore.transactional
def _create_missing(transaction, since, documents: list[tuple], read_documents: bool = False) -> tuple[set[str], dict]:
    """(the users the fence refused, the connections still there by (uid, connection id), as read).
    The documents are created without being read (the commit fails with AlreadyExists if one is
    there), unless `read_documents`: read, each missing one created. Two deliveries of one event
    (a Slack retry) that both read the documents would each hold what the other must write, and
    wait for one another until Firestore aborts one."""
    owners = {(uid, record["connectionId"]): connection_ref(uid, record["connectionId"]) for uid, _, record in documents}
    targets = [ref for _, ref, _ in documents] if read_documents else []
    refused, snapshots = erasures.read(transaction, since, [uid for uid, _ in owners], [*owners.values(), *targets])
    found = {
        owner: record_of(snapshots[ref.path])
        for owner, ref in owners.items()
        if owner[0] not in refused and snapshots[ref.path].exists
    }
    for uid, ref, record in documents:
        if (uid, record["connectionId"]) in found and not (read_documents and snapshots[ref.path].exists):
            transaction.create(ref, record)
    return refused, found


def _permalink(channel: str | None, ts: str | None) -> str | None:
    if not channel or not ts:
        return None
    return f"https://slack.com/archives/{channel}/p{ts.replace('.', '')}"


def _channel_of(event: dict) -> str | None:
    channel = event.get("channel")
    return _text(channel.get("id") if isinstance(channel, dict) else channel)


def process_event(envelope: dict) -> int:
    """Record one event_callback for every user it concerns; returns how many users it was recorded for."""
    team_id, event = _text(envelope.get("team_id")), envelope.get("event")
    if not isinstance(event, dict) or not team_id:
        raise BadRequest("Not an event_callback envelope", code="invalid_payload")
    event_id = _document_id(envelope.get("event_id"))
    text = _text(event.get("text")) or ""
    author = _text(event.get("user"))
    authorized = [_object(a).get("user_id") for a in _list(envelope.get("authorizations"))]
    # Only users Slack authorized for this event (and its author or inviter) receive it: a mention
    # alone says nothing about whether someone may see a private channel or a DM.
    owners, since = _owners(team_id, [*authorized, author, event.get("inviter")])
    if not owners:
        log.info("slack event for no known user; acknowledged", extra={"fields": {"eventId": event_id, "teamId": team_id}})
        return 0
    channel, ts = _channel_of(event), _text(event.get("ts")) or _text(event.get("event_ts"))
    kind, subtype = _text(event.get("type")), _text(event.get("subtype"))
    event_time = _event_time(envelope.get("event_time"))
    activity = {
        "eventId": event_id,
        "type": kind,
        "subtype": subtype,
        "known": kind in HANDLED_EVENTS,
        "teamId": team_id,
        "channel": channel,
        "user": author,
        "text": text[:MAX_TEXT],
        "ts": ts,
        "link": _permalink(channel, ts),
        "eventTime": event_time,
        "recordedAt": utcnow(),
    }
    reached = sorted(set(owners.values()))
    documents = [_document(owner, "slack_activity", event_id, activity) for owner in reached]
    if kind in ACTION_ITEM_EVENTS and subtype not in IGNORED_SUBTYPES:
        documents += _action_items(event_id, _sent_on(event_time), author, text, owners, activity)
    recorded = _create_all(since, documents)
    for (uid, connection_id), connection in sorted(recorded.items()):  # a Slack retry announces it again: the same id
        announce(
            "slack.event_processed",
            uid,
            connection_id,
            event_id,
            read=connection,
            eventId=event_id,
            eventType=kind,
            subtype=subtype,
            teamId=team_id,
            channel=channel,
            ts=ts,
        )
    return len({uid for uid, _ in recorded})


def _action_items(event_id: str, sent_on: datetime.date, author, text: str, owners: dict, activity: dict) -> list[tuple]:
    """(uid, document, record) of each action item in the text, for each of its recipients (their
    connections the event reached)."""
    documents = []
    for n, item in enumerate(action_items.extract(text, sent_on)):
        # To the assignee if they connected Slack; else the author; else everyone the event reached.
        recipients = (
            {owners[item.assignee]}
            if item.assignee in owners
            else ({owners[author]} if author in owners else set(owners.values()))
        )
        record = {
            "eventId": event_id,
            "text": item.text,
            "rule": item.rule,
            "assignee": item.assignee,
            "assigneeUid": owners[item.assignee][0] if item.assignee in owners else None,
            "author": author,
            "dueDate": item.due.isoformat() if item.due else None,
            "link": activity["link"],
            "channel": activity["channel"],
            "teamId": activity["teamId"],
            "status": "open",
            "createdAt": utcnow(),
        }
        documents += [_document(owner, "action_items", f"{event_id}-{n}", record) for owner in sorted(recipients)]
    return documents


def process_interaction(payload: dict, interaction_id: str) -> int:
    team_id = _text(_object(payload.get("team")).get("id"))
    user = _text(_object(payload.get("user")).get("id"))
    owners, since = _owners(team_id, [user]) if team_id and user else ({}, None)
    if user not in owners:
        log.info("slack interaction for no known user; acknowledged", extra={"fields": {"teamId": team_id}})
        return 0
    activity = {
        "eventId": interaction_id,
        "type": _text(payload.get("type")),
        "known": True,
        "teamId": team_id,
        "channel": _text(_object(payload.get("channel")).get("id")),
        "user": user,
        "actions": [_text(_object(a).get("action_id")) for a in _list(payload.get("actions"))],
        "callbackId": _text(payload.get("callback_id")) or _text(_object(payload.get("view")).get("callback_id")),
        "recordedAt": utcnow(),
    }
    _create_all(since, [_document(owners[user], "slack_activity", interaction_id, activity)])
    return 1
