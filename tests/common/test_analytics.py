"""The analytics plan's events come from the real code paths, and publishing them never blocks or
fails a user request."""

import datetime
import json
import os
import time

import functions_framework
import pytest

from common.platform.clients import firestore_client, reset_clients
from common.platform.settings import reset_settings
from common.product import analytics
from common.tokens.reader import get_access_token
from local.catalog import FUNCTIONS_DIR
from local.consent_browser import decide
from local.processes import free_port
from tests.functions.test_oauth_flow import connect, start
from tests.oauth_helpers import landed
from tests.slack_helpers import event_envelope, post_event


def _events(pull, expected: int) -> list[dict]:
    return [m["data"] for m in pull(expected=expected, timeout=15)]


def test_a_connection_emits_the_oauth_events_in_order(user, topic_messages):
    pull = topic_messages("analytics-events")
    assert connect(user("alice"), "gmail", email="alice@example.com")["outcome"] == "success"
    events = _events(pull, 6)
    assert [e["event"] for e in events] == [
        "integration_connection_initiated",
        "integration_oauth_redirect",
        "integration_oauth_callback_received",
        "integration_connection_authorized",
        "integration_oauth_token_exchange",
        "integration_connection_completed",
    ]
    assert all(e["uid"] == "alice" and e["provider"] == "gmail" for e in events)
    assert events[0]["variant"] in ("control", "optimized") and events[4]["status"] == "success"
    assert isinstance(events[4]["durationMs"], float) and events[5]["durationMs"] >= 0


def test_a_denied_consent_emits_error_and_failed(user, topic_messages):
    alice = user("alice")
    url = start(alice, "slack")["authUrl"]
    pull = topic_messages("analytics-events")
    assert landed(decide(alice, url, decision="deny"))["reason"] == "access_denied"
    events = {e["event"]: e for e in _events(pull, 3)}
    assert events["integration_oauth_error"]["errorCode"] == "access_denied"
    assert events["integration_connection_failed"]["status"] == "failed"


def test_refresh_and_webhook_events(user, api, topic_messages, sandbox):
    assert connect(user("alice"), "slack", team_id="T0AN", team_name="An", user_id="U0ALICE")["outcome"] == "success"
    pull = topic_messages("analytics-events")
    past = datetime.datetime.now(datetime.UTC) - datetime.timedelta(seconds=5)
    firestore_client().collection("users").document("alice").collection("connections").document("slack").update(
        {"expiresAt": past}
    )
    get_access_token("alice", "slack")
    post_event(api, event_envelope("EvAN1", {"type": "message", "user": "U0ALICE", "text": "hi"}, team_id="T0AN"))
    wanted = {"integration_token_refresh_success", "integration_webhook_processed"}
    names = []
    while not wanted <= set(names) and (batch := [e["event"] for e in _events(pull, 1)]):
        names += batch  # late events of the connect above may come first
    assert names.count("integration_token_refresh_attempted") == 1 and names.count("integration_token_refresh_success") == 1
    assert "integration_webhook_received" in names and "integration_webhook_processed" in names


def test_unknown_events_are_refused():
    with pytest.raises(ValueError):
        analytics.track("integration_something_else")


def test_a_broken_publisher_never_fails_the_request(stack, id_token, monkeypatch):
    monkeypatch.setenv("PUBSUB_EMULATOR_HOST", f"127.0.0.1:{free_port()}")
    reset_settings()
    reset_clients()
    try:
        client = functions_framework.create_app("oauth_start", str(FUNCTIONS_DIR / "oauth_start" / "main.py")).test_client()
        reply = client.get("/api/v1/oauth/slack/start", headers={"Authorization": f"Bearer {id_token('alice')}"})
        assert reply.status_code == 200 and reply.get_json()["data"]["authUrl"]
    finally:
        monkeypatch.undo()
        reset_settings()
        reset_clients()


def _numbered(pull, expected: int) -> list[dict]:
    """The test's own events ({"n": ...}), among any an earlier test's requests still send."""
    numbered, deadline = [], time.monotonic() + 60
    while len(numbered) < expected and time.monotonic() < deadline:
        numbered += [m for m in pull(expected=1, timeout=5) if "n" in m["data"]]
    return numbered + [m for m in pull(expected=10**6, timeout=1) if "n" in m["data"]]  # and any more: none expected


def test_queued_events_are_all_sent_in_calls_of_at_most_a_thousand(stack, topic_messages):
    pull = topic_messages("analytics-events")
    queue = analytics.EventQueue()
    for n in range(1500):
        queue.put(json.dumps({"n": n}).encode(), {"event": "integration_webhook_received"})
    queue.send_queued()
    received = _numbered(pull, 1500)
    assert sorted(m["data"]["n"] for m in received) == list(range(1500))
    assert all(m["attributes"] == {"event": "integration_webhook_received"} for m in received)


def test_a_full_queue_drops_the_oldest_and_says_how_many(stack, topic_messages, monkeypatch, caplog):
    monkeypatch.setattr(analytics, "MAX_QUEUED", 3)
    monkeypatch.setattr(analytics, "SEND_WINDOW_SECONDS", 3600)  # only the test's own send_queued sends
    pull = topic_messages("analytics-events")
    queue = analytics.EventQueue()
    for n in range(5):
        queue.put(json.dumps({"n": n}).encode(), {"event": "integration_webhook_received"})
    queue.send_queued()
    assert sorted(m["data"]["n"] for m in _numbered(pull, 3)) == [2, 3, 4]
    dropped = [r for r in caplog.records if r.getMessage() == "analytics events dropped: queue full"]
    assert [r.fields["count"] for r in dropped] == [2]


def test_events_the_topic_refuses_are_logged_not_raised(stack, monkeypatch, caplog):
    monkeypatch.setenv("TOPIC_ANALYTICS_EVENTS", "no-such-topic")
    reset_settings()
    try:
        queue = analytics.EventQueue()
        queue._sender_pid = os.getpid()  # no sender thread: the test sends
        queue.put(b"{}", {"event": "integration_webhook_received"})
        queue.send_queued()
    finally:
        monkeypatch.undo()
        reset_settings()
    failed = [r for r in caplog.records if r.getMessage() == "analytics events not published"]
    assert [(r.fields["count"], r.fields["error"]) for r in failed] == [(1, "NotFound")]


def test_events_queued_during_a_send_wait_for_the_next_window(stack, monkeypatch):
    """Else a busy instance sends all the time (it did: 56 calls a second for 440 acks, not one a window)."""
    monkeypatch.setattr(analytics, "SEND_WINDOW_SECONDS", 3600)  # only the test's own send_queued sends
    sent = []

    class Busy(analytics.EventQueue):
        def _send(self, batch):
            sent.append(len(batch))
            super()._send(batch)
            if len(sent) < 5:  # a request's event, mid-send (a few: the old loop would never stop)
                self.put(b"{}", {"event": "integration_webhook_received"})

    queue = Busy()
    for _ in range(3):
        queue.put(b"{}", {"event": "integration_webhook_received"})
    queue.send_queued()
    assert sent == [3] and len(queue._events) == 1


def test_the_sender_outlives_a_failed_send(stack):
    sent = []

    class FailsOnce(analytics.EventQueue):
        def send_queued(self):
            sent.append(len(self._events))
            if len(sent) == 1:
                raise RuntimeError("a send that fails outside the publish")
            super().send_queued()

    queue = FailsOnce()
    queue.put(b"{}", {"event": "integration_webhook_received"})
    deadline = time.monotonic() + 10
    while len(sent) < 1 and time.monotonic() < deadline:
        time.sleep(0.02)
    queue.put(b"{}", {"event": "integration_webhook_received"})
    while len(sent) < 2 and time.monotonic() < deadline:
        time.sleep(0.02)
    assert len(sent) == 2 and sent[1] >= 1


def test_an_event_that_cannot_be_queued_never_fails_the_request(monkeypatch, caplog):
    class NoThreads(analytics.EventQueue):
        def _start_sender(self):
            raise RuntimeError("can't start new thread")

    monkeypatch.setattr(analytics, "_queue", NoThreads())
    analytics.track("integration_webhook_received", provider="slack")  # raised before the fix
    assert [r.fields["error"] for r in caplog.records if r.getMessage() == "analytics event not queued"] == ["RuntimeError"]


def test_a_forked_child_does_not_send_its_parents_events(monkeypatch):
    monkeypatch.setattr(analytics, "SEND_WINDOW_SECONDS", 3600)
    queue = analytics.EventQueue()
    queue._sender_pid = os.getpid()  # no sender thread here
    queue.put(b"{}", {"event": "integration_webhook_received"})
    read, write = os.pipe()
    child = os.fork()
    if child == 0:
        os.write(write, str(len(queue._events)).encode())
        os._exit(0)
    os.waitpid(child, 0)
    assert os.read(read, 16) == b"0" and len(queue._events) == 1
