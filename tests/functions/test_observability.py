"""Observability end to end: one trace id from a webhook request through the Pub/Sub hop to the
consumer's log lines, and error log lines reported to Sentry (the sandbox's ingestion endpoint)
scrubbed of secrets and tagged with their trace."""

import base64
import datetime
import json
import secrets
import time
import uuid

import pytest

from common.platform.clients import firestore_client
from common.platform.logs import bind_trace
from local.bench_refresh import run_refresh
from tests.functions.test_oauth_flow import connect
from tests.helpers import wait_for
from tests.slack_helpers import event_envelope, post_event


def _traceparent() -> tuple[str, str]:
    trace = secrets.token_hex(16)
    return trace, f"00-{trace}-{secrets.token_hex(8)}-01"


def _host_lines(stack, trace: str) -> list[dict]:
    lines = (stack.log_dir / "host.log").read_text(errors="replace").splitlines()
    entries = [json.loads(line) for line in lines if line.startswith("{") and trace in line]
    return [e for e in entries if e.get("logging.googleapis.com/trace", "").endswith(f"/traces/{trace}")]


def _processed_by(stack, trace: str, function: str) -> bool:
    return any(e["message"] == "message processed" and e.get("function") == function for e in _host_lines(stack, trace))


pytestmark = pytest.mark.usefixtures("auto_sync_for_alice")


def test_a_calendar_notification_keeps_its_trace_through_pubsub(user, api, sandbox, stack):
    assert connect(user("alice"), "calendar", email=f"alice-{uuid.uuid4().hex[:8]}@example.com")["outcome"] == "success"
    (channel,) = sandbox.get("/_sandbox/calendar/channels").json()
    trace, parent = _traceparent()
    reply = api.post(
        "/api/v1/webhooks/calendar/push",
        headers={
            "X-Goog-Channel-ID": channel["id"],
            "X-Goog-Channel-Token": channel["token"],
            "X-Goog-Resource-ID": channel["resourceId"],
            "X-Goog-Resource-State": "exists",
            "X-Goog-Message-Number": "7",
            "traceparent": parent,
        },
    )
    assert reply.json()["data"] == {"queued": True}
    assert wait_for(lambda: _processed_by(stack, trace, "calendar_notifications_worker"))


def test_a_slack_event_keeps_its_trace_through_pubsub(api, stack):
    trace, parent = _traceparent()
    envelope = event_envelope(
        f"Ev{uuid.uuid4().hex[:10]}", {"type": "message", "text": "hello", "user": "U0ALICE"}, team_id=f"T{uuid.uuid4().hex[:8]}"
    )
    assert post_event(api, envelope, traceparent=parent).json()["data"] == {"queued": True}
    assert wait_for(lambda: _processed_by(stack, trace, "slack_events_worker"))


def test_error_log_lines_reach_sentry_scrubbed_and_tagged_with_their_trace(api, sandbox):
    trace, parent = _traceparent()
    leaked = "ya29.a0-this-must-never-leave-the-gateway"
    push = {
        "message": {"data": "%%% not base64 %%%", "messageId": leaked, "attributes": {"traceparent": parent}},
        "subscription": "projects/demo/subscriptions/calendar_notifications_worker",
    }
    assert api.post("/_pubsub/calendar_notifications_worker", json=push).status_code < 300

    def reported():
        return [e for e in sandbox.get("/_sandbox/sentry").json() if e.get("tags", {}).get("trace") == trace]

    assert wait_for(reported)
    (event,) = reported()
    text = json.dumps(event)
    assert "message is not base64 JSON; dropped" in text and event["level"] == "error"
    assert leaked not in text and "ya29." not in text and "[REDACTED]" in text
    assert event["environment"] == "dev"


def test_a_consumer_failure_carries_the_metric_field_the_alerts_count(api, stack):
    trace, parent = _traceparent()
    # A notification without its user: a permanent failure (one for a user with no Calendar connection
    # is acknowledged as `disconnected` since syncs refuse to write for a removed connection).
    data = base64.b64encode(json.dumps({"channelId": "orphan", "state": "exists"}).encode()).decode()
    push = {"message": {"data": data, "messageId": "m-1", "attributes": {"traceparent": parent}}, "subscription": "s"}
    api.post("/_pubsub/calendar_notifications_worker", json=push)
    failures = lambda: [e for e in _host_lines(stack, trace) if e.get("metric") == "webhook_failed"]  # noqa: E731
    assert wait_for(failures)
    assert failures()[0]["provider"] == "calendar" and failures()[0]["function"] == "calendar_notifications_worker"


def test_the_refresh_jobs_worker_threads_keep_the_jobs_trace(user, topic_messages):
    assert connect(user("alice"), "slack")["outcome"] == "success"
    past = datetime.datetime.now(datetime.UTC) - datetime.timedelta(seconds=5)
    firestore_client().collection("users").document("alice").collection("connections").document("slack").update(
        {"expiresAt": past, "refreshDueAt": past}
    )
    analytics = topic_messages("analytics-events")
    trace = bind_trace({})
    assert run_refresh()["refreshed"] == 1
    # The connect's own analytics (batched, from the host) may still arrive: pull until the refresh's.
    refreshed, deadline = [], time.monotonic() + 10
    while not refreshed and time.monotonic() < deadline:
        refreshed = [m for m in analytics(expected=1, timeout=1) if m["data"]["event"] == "integration_token_refresh_success"]
    assert [m["data"]["trace"] for m in refreshed] == [trace]
    assert refreshed[0]["attributes"]["traceparent"].split("-")[1] == trace


def test_connection_events_carry_the_requests_trace(user, topic_messages):
    events = topic_messages("connection-events")
    trace, parent = _traceparent()
    alice = user("alice")
    alice.headers["traceparent"] = parent
    assert connect(alice, "gmail")["outcome"] == "success"
    (connected,) = [m for m in events(expected=1) if m["data"]["type"] == "connected"]
    assert connected["attributes"]["traceparent"].split("-")[1] == trace
