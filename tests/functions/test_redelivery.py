"""At-least-once delivery, for real: the same Pub/Sub message pushed twice to a consumer has one
effect, and a consumer process killed in the middle of a message gets it again from the Pub/Sub
emulator and stores its effect once."""

import json
import os
import signal
import sys
import uuid

import pytest
import requests
from google.cloud import pubsub_v1

from common.platform.clients import firestore_client
from common.sync.gmail_sync import notification_key
from local.catalog import ROOT, load_catalog
from local.load.payloads import push_delivery
from local.processes import Child, free_port, wait_until
from tests.functions.test_oauth_flow import connect
from tests.helpers import user_docs, wait_for
from tests.slack_helpers import event_envelope

pytestmark = pytest.mark.usefixtures("auto_sync_for_alice")


def _deliver_twice(api, consumer: str, payload: dict, attributes: dict | None = None) -> list[int]:
    body = push_delivery(consumer, payload, attributes)  # one message id: the second push is a redelivery
    return [
        api.post(f"/_pubsub/{consumer}", data=body, headers={"Content-Type": "application/json"}).status_code for _ in range(2)
    ]


def test_a_slack_event_delivered_twice_is_recorded_once(api, user):
    team = f"T{uuid.uuid4().hex[:10].upper()}"
    assert connect(user("alice"), "slack", team_id=team, team_name=team, user_id="U0ALICE")["outcome"] == "success"
    envelope = event_envelope(
        "EvTWICE", {"type": "message", "user": "U0ALICE", "channel": "C1", "ts": "1.2", "text": "TODO: once"}, team_id=team
    )
    assert _deliver_twice(api, "slack_events_worker", envelope, {"kind": "event_callback", "event_id": "EvTWICE"}) == [200, 200]
    assert list(user_docs("alice", "slack_activity")) == ["EvTWICE"]
    assert list(user_docs("alice", "action_items")) == ["EvTWICE-0"]


def test_a_gmail_notification_delivered_twice_syncs_once(api, user, sandbox, email):
    assert connect(user("alice"), "gmail", email=email)["outcome"] == "success"
    delivered = sandbox.post("/_sandbox/gmail/deliver", json={"email": email, "notify": False}).json()
    sandbox.delete("/_sandbox/calls")
    payload = {"emailAddress": email, "historyId": delivered["historyId"]}
    assert _deliver_twice(api, "gmail_notifications_worker", payload) == [200, 200]
    assert list(user_docs("alice", "mail")) == [delivered["id"]]
    calls = sandbox.get("/_sandbox/calls").json()
    assert (calls.get("gmail.history"), calls.get("gmail.messages.get")) == (1, 1)


def test_a_calendar_notification_delivered_twice_leaves_the_same_events(api, user, sandbox, email):
    assert connect(user("alice"), "calendar", email=email)["outcome"] == "success"
    change = sandbox.post("/_sandbox/calendar/change", json={"email": email, "summary": "Standup", "notify": False}).json()
    channel = change["notifications"][0]["headers"]["X-Goog-Channel-ID"]
    body = push_delivery("calendar_notifications_worker", {"uid": "alice", "channelId": channel, "state": "exists"})
    headers = {"Content-Type": "application/json"}
    assert api.post("/_pubsub/calendar_notifications_worker", data=body, headers=headers).status_code == 200
    first = user_docs("alice", "calendar_events")
    assert first[change["eventId"]]["summary"] == "Standup"
    assert api.post("/_pubsub/calendar_notifications_worker", data=body, headers=headers).status_code == 200
    assert user_docs("alice", "calendar_events") == first


# A killed consumer leaves its claim on the notification pending; a redelivery takes it over once it
# is WEBHOOK_CLAIM_STALE_SECONDS old (30 by default). The crash test's own host shortens it.
CRASH_HOST_ENV = {"WEBHOOK_CLAIM_STALE_SECONDS": "2", "WORKERS": "1"}  # one worker: the one the test kills


def _worker_pids(master: int) -> set[int]:
    pids = set()
    for entry in os.listdir("/proc"):
        try:
            with open(f"/proc/{entry}/stat") as stat:
                fields = stat.read().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if int(fields[1]) == master and fields[0] != "Z":
            pids.add(int(entry))
    return pids


@pytest.fixture
def crash_host(stack, tmp_path):
    """A host of its own serving the Gmail consumer, behind a push subscription of its own."""
    catalog = tmp_path / "catalog.json"
    catalog.write_text(json.dumps({"gmail_notifications_worker": load_catalog()["gmail_notifications_worker"]}))
    port = free_port()
    host = Child(
        "crash-host",
        [sys.executable, "-m", "local.host", "--port", str(port), "--catalog", str(catalog)],
        tmp_path / "host.log",
        env={**stack.env, **CRASH_HOST_ENV},
        cwd=ROOT,
    )
    publisher, subscriber = pubsub_v1.PublisherClient(), pubsub_v1.SubscriberClient()
    topic = publisher.topic_path(stack.emulators.project, f"crash-{uuid.uuid4().hex[:8]}")
    subscription = subscriber.subscription_path(stack.emulators.project, f"crash-{uuid.uuid4().hex[:8]}")
    try:
        push = {"push_endpoint": f"http://127.0.0.1:{port}/_pubsub/gmail_notifications_worker"}
        wait_until(lambda: requests.post(push["push_endpoint"], timeout=5).status_code < 500, 60, host, "crash host")
        publisher.create_topic(request={"name": topic})
        subscriber.create_subscription(
            request={
                "name": subscription,
                "topic": topic,
                "push_config": push,
                "ack_deadline_seconds": 30,
                "retry_policy": {"minimum_backoff": {"seconds": 1}, "maximum_backoff": {"seconds": 2}},
            }
        )
        yield host, lambda payload: publisher.publish(topic, json.dumps(payload).encode()).result(timeout=10)
    finally:
        host.stop()
        subscriber.delete_subscription(request={"subscription": subscription})
        publisher.delete_topic(request={"topic": topic})


def test_a_consumer_killed_mid_message_gets_it_again_and_stores_it_once(user, sandbox, email, crash_host):
    host, publish = crash_host
    assert connect(user("alice"), "gmail", email=email)["outcome"] == "success"
    delivered = sandbox.post("/_sandbox/gmail/deliver", json={"email": email, "notify": False}).json()
    sandbox.delete("/_sandbox/calls")
    # The message fetch hangs, so the worker is mid-message (cursor read, claim taken) when it dies.
    sandbox.post("/_sandbox/faults", json={"endpoint": "gmail.messages.get", "delay": 15}).raise_for_status()
    publish({"emailAddress": email, "historyId": delivered["historyId"]})
    assert wait_for(lambda: sandbox.get("/_sandbox/calls").json().get("gmail.messages.get") == 1)
    (worker,) = _worker_pids(host.process.pid)
    os.kill(worker, signal.SIGKILL)

    key = notification_key(email, delivered["historyId"])
    claim = firestore_client().collection("webhook_dedup").document(key)
    assert wait_for(lambda: (claim.get().to_dict() or {}).get("state") == "done", timeout=30)
    assert claim.get().get("outcome") == "synced"
    assert list(user_docs("alice", "mail")) == [delivered["id"]]
    calls = sandbox.get("/_sandbox/calls").json()
    assert calls["gmail.history"] >= 2 and calls["gmail.messages.get"] == 2  # before the crash, and once after
    assert _worker_pids(host.process.pid) - {worker}  # gunicorn started a new worker
