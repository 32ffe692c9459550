"""`make replay-dead-letters` against the Pub/Sub emulator. The emulator does not forward to
dead-letter topics itself, so the test publishes to the dead-letter topic what Pub/Sub forwards: the
message with its attributes plus the CloudPubSubDeadLetter* ones."""

import json
import subprocess
import sys

import pytest
from google.cloud import pubsub_v1

from local.catalog import ROOT

SOURCE = "slack-events"
STORE = "slack-events-worker-dead-letter-store"
FORWARDED = {
    "CloudPubSubDeadLetterSourceDeliveryCount": "10",
    "CloudPubSubDeadLetterSourceSubscription": "slack-events-worker-push",
    "CloudPubSubDeadLetterSourceSubscriptionProject": "demo-gateway",
    "CloudPubSubDeadLetterSourceTopicPublishTime": "2026-11-20T10:00:00.000Z",
}


@pytest.fixture
def dead_letter_store(stack):
    """The consumer's dead-letter topic and store subscription, named as Terraform names them."""
    publisher, subscriber = pubsub_v1.PublisherClient(), pubsub_v1.SubscriberClient()
    project = stack.emulators.project
    topic = publisher.topic_path(project, "slack-events-worker-dead-letter")
    store = subscriber.subscription_path(project, STORE)
    publisher.create_topic(request={"name": topic})
    subscriber.create_subscription(request={"name": store, "topic": topic, "ack_deadline_seconds": 60})

    def forward(data: dict, attributes: dict) -> None:
        publisher.publish(topic, json.dumps(data).encode(), **attributes, **FORWARDED).result(timeout=10)

    def remaining() -> int:
        reply = subscriber.pull(request={"subscription": store, "max_messages": 50, "return_immediately": True}, timeout=5)
        return len(reply.received_messages)

    yield forward, remaining
    subscriber.delete_subscription(request={"subscription": store})
    publisher.delete_topic(request={"topic": topic})


def _replay(stack, *args: str) -> subprocess.CompletedProcess:
    command = [
        sys.executable,
        "-m",
        "local.dead_letters",
        "--topic",
        SOURCE,
        "--project",
        stack.emulators.project,
        "--wait",
        "2",
        *args,
    ]
    return subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=120)


def _envelope(event_id: str) -> dict:
    return {"type": "event_callback", "team_id": "T0NOBODY", "event_id": event_id, "event": {"type": "message", "text": "x"}}


def test_dead_letters_go_back_to_their_topic_with_their_attributes(stack, dead_letter_store, topic_messages):
    forward, remaining = dead_letter_store
    pull = topic_messages(SOURCE)
    for n in range(3):
        forward(
            _envelope(f"EvDL{n}"),
            {"event_id": f"EvDL{n}", "kind": "event_callback", "traceparent": f"00-{n:032x}-{n + 1:016x}-01"},
        )

    listed = _replay(stack, "--dry-run")
    assert listed.returncode == 0, listed.stderr
    assert "listed 3 message(s)" in listed.stdout and "10 attempts" in listed.stdout and "EvDL" not in listed.stdout

    replayed = _replay(stack)
    assert replayed.returncode == 0, replayed.stderr
    assert f"replayed 3 message(s) from {STORE} to {SOURCE}" in replayed.stdout
    messages = sorted(pull(expected=3), key=lambda m: m["attributes"]["event_id"])  # the dry run published none
    assert [m["data"] for m in messages] == [_envelope(f"EvDL{n}") for n in range(3)]
    assert [m["attributes"] for m in messages] == [
        {"event_id": f"EvDL{n}", "kind": "event_callback", "traceparent": f"00-{n:032x}-{n + 1:016x}-01"} for n in range(3)
    ]
    assert remaining() == 0
    assert "replayed 0 message(s)" in _replay(stack).stdout


def test_a_limit_replays_only_that_many(stack, dead_letter_store, topic_messages):
    forward, remaining = dead_letter_store
    pull = topic_messages(SOURCE)
    for n in range(3):
        forward(_envelope(f"EvLim{n}"), {"event_id": f"EvLim{n}"})
    run = _replay(stack, "--limit", "2")
    assert "replayed 2 message(s)" in run.stdout and "the store may hold more" in run.stdout
    assert len(pull(expected=2)) == 2 and remaining() == 1


def test_a_topic_no_consumer_reads_is_refused(stack):
    run = subprocess.run(
        [sys.executable, "-m", "local.dead_letters", "--topic", "analytics-events", "--project", "demo-gateway"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert run.returncode == 2 and "no single consumer reads 'analytics-events'" in run.stderr
