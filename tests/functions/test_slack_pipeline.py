"""End to end: a signed POST -> the Pub/Sub emulator -> push to the consumer -> activity and
action-item documents in Firestore, routed to our users through the account index."""

import base64
import datetime
import json
import time
import uuid

import functions_framework
import pytest
from google.cloud import pubsub_v1

from common.stores import erasures
from common.sync.slack_processing import process_event
from local.catalog import FUNCTIONS_DIR
from tests.functions.test_oauth_flow import connect
from tests.helpers import every_document, user_docs, wait_for
from tests.slack_helpers import event_envelope, post_event, post_interaction


@pytest.fixture
def team():
    """A workspace of this test's own, so an event still in flight from another test cannot land here."""
    return f"T{uuid.uuid4().hex[:10].upper()}"


def _connect(user, uid: str, team: str) -> None:
    account = {"team_id": team, "team_name": team, "user_id": f"U0{uid.upper()}"}
    assert connect(user(uid), "slack", **account)["outcome"] == "success"


def test_message_with_a_todo_reaches_activity_and_action_items(api, user, team):
    _connect(user, "alice", team)
    message = {
        "type": "message",
        "channel": "C0GENERAL",
        "user": "U0ALICE",
        "ts": "1763726400.000100",
        "text": "Release plan. TODO: write the changelog by tomorrow",
    }
    assert post_event(api, event_envelope("EvTODO1", message, team_id=team)).status_code == 200
    activity = wait_for(lambda: user_docs("alice", "slack_activity"))
    assert activity["EvTODO1"]["type"] == "message" and activity["EvTODO1"]["known"] is True
    assert activity["EvTODO1"]["link"] == "https://slack.com/archives/C0GENERAL/p1763726400000100"
    items = wait_for(lambda: user_docs("alice", "action_items"))
    assert items["EvTODO1-0"]["text"] == "write the changelog by tomorrow"
    assert items["EvTODO1-0"]["dueDate"] == "2025-11-22" and items["EvTODO1-0"]["rule"] == "todo"
    assert items["EvTODO1-0"]["link"] == activity["EvTODO1"]["link"]


def test_a_request_to_a_mentioned_user_goes_to_that_user(api, user, team):
    _connect(user, "alice", team)
    _connect(user, "bob", team)
    message = {
        "type": "message",
        "channel": "C0GENERAL",
        "user": "U0ALICE",
        "ts": "1763726401.000200",
        "text": "<@U0BOB> can you review the PR by Friday?",
    }
    post_event(api, event_envelope("EvASK1", message, team_id=team, authorized=("U0ALICE", "U0BOB")))
    bob_items = wait_for(lambda: user_docs("bob", "action_items"))
    assert bob_items["EvASK1-0"]["assignee"] == "U0BOB" and bob_items["EvASK1-0"]["assigneeUid"] == "bob"
    assert bob_items["EvASK1-0"]["dueDate"] == "2025-11-21"
    assert wait_for(lambda: user_docs("alice", "slack_activity")).keys() == {"EvASK1"}
    assert user_docs("alice", "action_items") == {}


def test_several_workspaces_stay_apart_and_unknown_types_are_recorded(api, user, team):
    _connect(user, "alice", team)
    _connect(user, "carol", team + "X")
    post_event(
        api,
        event_envelope(
            "EvREACT",
            {"type": "reaction_added", "user": "U0CAROL", "reaction": "tada"},
            team_id=team + "X",
            authorized=("U0CAROL",),
        ),
    )
    post_event(
        api, event_envelope("EvJOIN", {"type": "member_joined_channel", "user": "U0ALICE", "channel": "C0NEW"}, team_id=team)
    )
    carol = wait_for(lambda: user_docs("carol", "slack_activity"))
    assert carol["EvREACT"]["type"] == "reaction_added" and carol["EvREACT"]["known"] is False
    assert wait_for(lambda: user_docs("alice", "slack_activity")).keys() == {"EvJOIN"}


def test_an_interaction_is_recorded(api, user, team):
    _connect(user, "alice", team)
    payload = {
        "type": "block_actions",
        "team": {"id": team},
        "user": {"id": "U0ALICE"},
        "channel": {"id": "C0GENERAL"},
        "trigger_id": "1.2.3",
        "actions": [{"action_id": "approve_request"}],
    }
    assert post_interaction(api, payload).status_code == 200
    recorded = wait_for(lambda: user_docs("alice", "slack_activity"))
    (entry,) = recorded.values()
    assert entry["type"] == "block_actions" and entry["actions"] == ["approve_request"]


def test_duplicate_pubsub_deliveries_have_no_second_effect(user, stack, team):
    _connect(user, "alice", team)
    publisher = pubsub_v1.PublisherClient()
    topic = publisher.topic_path(stack.emulators.project, "slack-events")
    envelope = event_envelope(
        "EvDUP", {"type": "message", "user": "U0ALICE", "channel": "C1", "ts": "1.2", "text": "TODO: once"}, team_id=team
    )
    for _ in range(3):
        publisher.publish(topic, json.dumps(envelope).encode(), kind="event_callback", event_id="EvDUP").result(timeout=10)
    wait_for(lambda: user_docs("alice", "action_items"))
    time.sleep(1.5)
    assert list(user_docs("alice", "action_items")) == ["EvDUP-0"] and list(user_docs("alice", "slack_activity")) == ["EvDUP"]


def test_events_for_no_known_user_are_acknowledged(stack):
    assert process_event(event_envelope("EvNOBODY", {"type": "message", "user": "U0GHOST", "text": "TODO: x"})) == 0


def _cloud_event(payload, published: datetime.datetime):
    from cloudevents.http import CloudEvent

    data = {
        "message": {
            "data": base64.b64encode(json.dumps(payload).encode()).decode(),
            "messageId": "1",
            "publishTime": published.isoformat().replace("+00:00", "Z"),
            "attributes": {"kind": "event_callback"},
        },
        "subscription": "projects/demo-gateway/subscriptions/x",
    }
    return CloudEvent({"type": "google.cloud.pubsub.topic.v1.messagePublished", "source": "//pubsub.googleapis.com/x"}, data)


def test_old_and_malformed_messages_are_acknowledged_not_retried(user, stack, team):
    _connect(user, "alice", team)
    app = functions_framework.create_app(
        "slack_events_worker", str(FUNCTIONS_DIR / "slack_events_worker" / "main.py")
    ).test_client()
    from cloudevents.conversion import to_structured

    old = datetime.datetime.now(datetime.UTC) - datetime.timedelta(hours=7)
    headers, body = to_structured(
        _cloud_event(event_envelope("EvOLD", {"type": "message", "user": "U0ALICE", "text": "hi"}, team_id=team), old)
    )
    assert app.post("/", headers=headers, data=body).status_code == 200
    headers, body = to_structured(_cloud_event({"type": "event_callback"}, datetime.datetime.now(datetime.UTC)))
    assert app.post("/", headers=headers, data=body).status_code == 200
    assert user_docs("alice", "slack_activity") == {}


def test_a_mention_alone_does_not_route_an_event(api, user, team):
    _connect(user, "alice", team)
    _connect(user, "bob", team)
    message = {
        "type": "message",
        "channel": "D0PRIVATE",
        "user": "U0ALICE",
        "ts": "1763726402.000300",
        "text": "<@U0BOB> can you keep this secret by Friday?",
    }
    post_event(api, event_envelope("EvPRIVATE", message, team_id=team))
    assert wait_for(lambda: "EvPRIVATE" in user_docs("alice", "slack_activity"))
    assert user_docs("bob", "slack_activity") == {} and user_docs("bob", "action_items") == {}


DEAD_LETTER_ATTEMPTS = 5  # Pub/Sub's least; production gives up after 10 (infra/pubsub.tf)


@pytest.fixture
def dead_letter_store(stack):
    """A subscription to `slack-events` with a dead-letter topic and a store subscription on it, as
    production has: refuse() refuses each message until Pub/Sub forwards it, then returns what the
    store holds (production keeps it 7 days)."""
    subscriber, publisher = pubsub_v1.SubscriberClient(), pubsub_v1.PublisherClient()
    project, suffix = stack.emulators.project, uuid.uuid4().hex[:8]
    topic = publisher.topic_path(project, f"test-dead-letter-{suffix}")
    source = subscriber.subscription_path(project, f"test-refused-{suffix}")
    store = subscriber.subscription_path(project, f"test-dead-letter-store-{suffix}")
    publisher.create_topic(request={"name": topic})
    subscriber.create_subscription(request={"name": store, "topic": topic})
    subscriber.create_subscription(
        request={
            "name": source,
            "topic": publisher.topic_path(project, "slack-events"),
            "dead_letter_policy": {"dead_letter_topic": topic, "max_delivery_attempts": DEAD_LETTER_ATTEMPTS},
        }
    )

    def refuse(expected: int) -> list[dict]:
        def stored():
            reply = subscriber.pull(request={"subscription": source, "max_messages": 50, "return_immediately": True})
            if reply.received_messages:
                refused = [m.ack_id for m in reply.received_messages]
                subscriber.modify_ack_deadline(request={"subscription": source, "ack_ids": refused, "ack_deadline_seconds": 0})
            kept = subscriber.pull(request={"subscription": store, "max_messages": 50, "return_immediately": True})
            held.extend(
                {"data": m.message.data.decode(), "attributes": dict(m.message.attributes)} for m in kept.received_messages
            )
            return len(held) >= expected

        held: list[dict] = []
        wait_for(stored)
        return held

    yield refuse
    for name in (source, store):
        subscriber.delete_subscription(request={"subscription": name})
    publisher.delete_topic(request={"topic": topic})


def test_slacks_verification_token_and_response_urls_are_never_queued_kept_logged_or_tracked(
    api, user, team, stack, topic_messages, dead_letter_store
):
    """Slack's legacy verification token proves nothing we do not check better (the signature), and
    a response_url lets whoever holds it post as the app for 30 minutes: neither may reach the
    message, the dead-letter store, a document, the log or analytics."""
    _connect(user, "alice", team)
    canary = uuid.uuid4().hex
    verification_token = f"VerifyToken{canary}"
    response_url = f"https://hooks.slack.com/actions/{team}/1234/{canary}"
    published, analytics = topic_messages("slack-events"), topic_messages("analytics-events")
    message = {"type": "message", "channel": "C0GENERAL", "user": "U0ALICE", "ts": "1.2", "text": "TODO: rotate the keys"}
    event = {**event_envelope("EvSECRET", message, team_id=team), "token": verification_token}
    interaction = {
        "type": "view_submission",
        "token": verification_token,
        "team": {"id": team},
        "user": {"id": "U0ALICE"},
        "response_url": response_url,
        "response_urls": [{"block_id": "b1", "action_id": "a1", "channel_id": "C0GENERAL", "response_url": response_url}],
        "view": {"callback_id": "approve"},
    }
    assert post_event(api, event).json()["data"] == {"queued": True}
    assert post_interaction(api, interaction).json()["data"] == {"queued": True}
    recorded = wait_for(lambda: len(user_docs("alice", "slack_activity")) == 2 and user_docs("alice", "slack_activity"))
    assert recorded["EvSECRET"]["text"] == message["text"]

    messages = published(expected=2)
    places = {
        "published message": json.dumps(messages),
        "dead-letter store": json.dumps(dead_letter_store(expected=2)),
        "Firestore": json.dumps(list(every_document())),
        "host log": (stack.log_dir / "host.log").read_text(errors="replace"),
        "analytics": json.dumps(analytics(expected=4)),
    }
    leaks = [place for place, text in places.items() if verification_token in text or canary in text]
    assert leaks == []
    by_kind = {m["attributes"]["kind"]: m["data"] for m in messages}
    assert by_kind["event_callback"] == {k: v for k, v in event.items() if k != "token"}  # the rest as Slack sent it
    assert by_kind["interaction"]["response_urls"] == [{"block_id": "b1", "action_id": "a1", "channel_id": "C0GENERAL"}]
    assert by_kind["interaction"]["view"] == interaction["view"]


def test_more_action_items_than_one_transaction_takes_are_all_recorded(user, team):
    _connect(user, "alice", team)
    many = erasures.MAX_WRITES + 100  # the event's documents go in two fenced transactions
    text = "\n".join(f"TODO: item {n}" for n in range(many))
    event = {"type": "message", "user": "U0ALICE", "channel": "C1", "ts": "1.2", "text": text}
    assert process_event(event_envelope("EvMANY", event, team_id=team)) == 1
    assert len(user_docs("alice", "action_items")) == many and list(user_docs("alice", "slack_activity")) == ["EvMANY"]
