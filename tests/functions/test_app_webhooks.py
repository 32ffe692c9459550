"""The app's signed webhooks through the real stack: events published by the gateway's own flows
reach the app_webhooks_worker by the Pub/Sub emulator's push subscription, which delivers them to
the sandbox's receiver; the receiver verifies every delivery with the standardwebhooks library."""

import contextlib
import datetime
import json
import uuid

import pytest
from google.api_core.exceptions import AlreadyExists
from google.cloud import pubsub_v1
from standardwebhooks import Webhook

from common.platform.errors import Unavailable
from common.platform.settings import APP_WEBHOOK_TYPES, DEV_APP_WEBHOOK_SECRET, reset_settings
from common.product.events import settle_events
from common.sync.gmail_sync import _api
from common.sync.google_api import google_call
from common.tokens.reader import get_access_token
from common.tokens.stored import ReauthRequired
from common.webhooks import app_webhooks
from local.consent_browser import decide
from local.dead_letters import replay, store_subscription
from tests.common.test_connection_health import _expire
from tests.functions.test_oauth_failures import _with_query
from tests.functions.test_oauth_flow import connect, start
from tests.helpers import wait_for
from tests.oauth_helpers import landed
from tests.slack_helpers import event_envelope, post_event


def _deliveries(sandbox, uid: str) -> list[dict]:
    return sandbox.get("/_sandbox/app-webhooks", params={"uid": uid}).json()


def _types(deliveries: list[dict]) -> list[str]:
    return [d["body"]["type"] for d in deliveries]


@pytest.fixture
def uid(flag):
    """A user of this test's own (deliveries still in flight from other tests are someone else's),
    with the Google syncs on."""
    name = f"wh{uuid.uuid4().hex[:10]}"
    flag("integration_auto_sync", overrides={name: True})
    return name


@pytest.fixture
def in_process(monkeypatch):
    """Settings of this process for a test that calls the delivery directly: in_process(NAME="value")."""

    def apply(**values: str) -> None:
        for name, value in values.items():
            monkeypatch.setenv(name, value)
        reset_settings()

    yield apply
    monkeypatch.undo()
    reset_settings()


def _event(uid: str, event_type: str = "connected", **fields) -> dict:
    return {
        "id": f"msg_{uuid.uuid4().hex}",
        "type": event_type,
        "uid": uid,
        "service": "gmail",
        "connectionId": "gmail",
        "account": {"email": f"{uid}@example.com"},
        "time": "2026-12-04T12:00:00Z",
        **fields,
    }


def test_every_event_kind_is_delivered_once_signed_and_without_tokens(api, user, sandbox, uid):
    session, email, team = user(uid), f"{uid}@example.com", f"T{uid.upper()}"
    assert connect(session, "gmail", email=email)["outcome"] == "success"
    # Calendar on the merged grant: disconnecting Gmail revokes it, and Calendar needs re-auth.
    merged = _with_query(start(session, "calendar")["authUrl"], include_granted_scopes="true")
    assert landed(decide(session, merged, email=email))["outcome"] == "success"
    slack_account = {"team_id": team, "team_name": team, "user_id": f"U{uid.upper()}"}
    assert connect(session, "slack", **slack_account)["outcome"] == "success"

    sandbox.post("/_sandbox/gmail/deliver", json={"email": email, "subject": "hello"}).raise_for_status()
    sandbox.post("/_sandbox/calendar/change", json={"email": email, "action": "create", "summary": "1:1"}).raise_for_status()
    message = {"type": "message", "channel": "C0GENERAL", "user": f"U{uid.upper()}", "ts": "1763726400.000100", "text": "hi"}
    envelope = event_envelope(f"Ev{uid}", message, team_id=team, authorized=(f"U{uid.upper()}",))
    assert post_event(api, envelope).status_code == 200
    # The syncs run in the background: let them finish first, or their successful Gmail calls break
    # the run of three failures below, and the erasure refuses the messages they have yet to store.
    synced = {"gmail.messages_stored", "calendar.changed", "slack.event_processed"}
    assert wait_for(lambda: set(_types(_deliveries(sandbox, uid))) >= synced, timeout=60), _types(_deliveries(sandbox, uid))

    for _ in range(3):  # three failed calls in a row: degraded; the next success: recovered
        sandbox.post("/_sandbox/faults", json={"endpoint": "gmail.profile", "status": 503, "body": {}}).raise_for_status()
    for _ in range(3):
        with pytest.raises(Unavailable):
            google_call(uid, "gmail", "GET", _api("profile"))
    assert google_call(uid, "gmail", "GET", _api("profile")).status_code == 200

    _expire(uid, "slack")
    revoked = {"ok": False, "error": "invalid_refresh_token"}
    sandbox.post("/_sandbox/faults", json={"endpoint": "slack.oauth.v2.access", "status": 200, "body": revoked})
    with pytest.raises(ReauthRequired):
        get_access_token(uid, "slack")
    assert session.delete("/api/v1/oauth/gmail/disconnect").status_code == 200
    assert session.delete("/api/v1/me").status_code == 200

    settle_events()  # the in-process calls above publish as a function would, which settles before it answers
    delivered = wait_for(
        lambda: set(_types(_deliveries(sandbox, uid))) >= set(APP_WEBHOOK_TYPES) and _deliveries(sandbox, uid), timeout=60
    )
    assert delivered, set(APP_WEBHOOK_TYPES) - set(_types(_deliveries(sandbox, uid)))
    assert set(_types(delivered)) == set(APP_WEBHOOK_TYPES)
    assert all(d["verified"] and d["answered"] == 204 for d in delivered)
    ids = [d["webhookId"] for d in delivered]
    assert len(ids) == len(set(ids)), "each event is delivered once"
    by_type = {d["body"]["type"]: d["body"] for d in delivered}
    assert by_type["gmail.messages_stored"]["data"]["details"]["count"] == 1
    assert by_type["calendar.changed"]["data"]["details"]["count"] == 1
    assert by_type["slack.event_processed"]["data"]["details"]["eventId"] == f"Ev{uid}"
    assert by_type["slack.event_processed"]["data"]["account"]["userId"] == f"U{uid.upper()}"
    assert by_type["connection.degraded"]["data"]["details"]["failures"] == 3
    assert by_type["connection.needs_reauth"]["data"]["service"] == "calendar"
    assert by_type["connection.erased"]["data"]["details"]["disconnected"] == ["slack", "calendar"]
    assert all(set(d["body"]) == {"type", "timestamp", "data"} for d in delivered)

    bodies = json.dumps([d["body"] for d in delivered])
    issued = sandbox.get("/_sandbox/issued").json()
    assert issued and not [token for token in issued if token in bodies]
    assert DEV_APP_WEBHOOK_SECRET.removeprefix("whsec_") not in bodies and "hi" not in _types(delivered)


def test_a_failed_delivery_is_retried_with_the_same_webhook_id(user, sandbox, uid):
    sandbox.post("/_sandbox/app-webhooks/failures", json={"count": 2, "status": 503}).raise_for_status()
    assert connect(user(uid), "gmail", email=f"{uid}@example.com")["outcome"] == "success"
    attempts = wait_for(lambda: len(_deliveries(sandbox, uid)) >= 3 and _deliveries(sandbox, uid), timeout=30)
    assert [d["answered"] for d in attempts] == [503, 503, 204]
    assert len({d["webhookId"] for d in attempts}) == 1 and all(d["verified"] for d in attempts)
    assert _types(attempts) == ["connection.connected"] * 3


def test_a_retried_slack_event_keeps_its_webhook_id(api, user, sandbox, uid):
    team, slack_user = f"T{uid.upper()}", f"U{uid.upper()}"
    account = {"team_id": team, "team_name": team, "user_id": slack_user}
    assert connect(user(uid), "slack", **account)["outcome"] == "success"
    message = {"type": "message", "channel": "C0GENERAL", "user": slack_user, "ts": "1763726400.000100", "text": "hello"}
    envelope = event_envelope(f"Ev{uid}", message, team_id=team, authorized=(slack_user,))
    assert post_event(api, envelope).status_code == 200
    assert post_event(api, envelope, **{"X-Slack-Retry-Num": "1", "X-Slack-Retry-Reason": "http_timeout"}).status_code == 200

    def processed():
        return [d for d in _deliveries(sandbox, uid) if d["body"]["type"] == "slack.event_processed"]

    both = wait_for(lambda: len(processed()) >= 2 and processed())
    assert len(both) == 2 and both[0]["webhookId"] == both[1]["webhookId"]


def test_only_the_types_the_app_opted_into_are_sent(sandbox, uid, in_process):
    in_process(APP_WEBHOOK_EVENT_TYPES="connection.connected,calendar.changed")
    assert app_webhooks.deliver(_event(uid, "connected")) == "delivered"
    assert app_webhooks.deliver(_event(uid, "degraded", failures=3)) == "not_opted_in"
    assert app_webhooks.deliver(_event(uid, "gmail.messages_stored", count=1)) == "not_opted_in"
    in_process(APP_WEBHOOK_EVENT_TYPES="")
    assert app_webhooks.deliver(_event(uid, "connected")) == "not_opted_in"
    in_process(APP_WEBHOOK_URL="")
    assert app_webhooks.deliver(_event(uid, "connected")) == "off"
    assert _types(_deliveries(sandbox, uid)) == ["connection.connected"]


def test_a_detail_named_like_a_secret_is_never_sent(sandbox, uid):
    leaks = {"accessToken": "ya29.leak", "refresh_token": "1//leak", "clientSecret": "leak"}
    event = _event(uid, "refresh_failed", error="invalid_grant", **leaks)
    assert app_webhooks.deliver(event) == "delivered"
    (delivery,) = _deliveries(sandbox, uid)
    assert delivery["body"]["data"]["details"] == {"error": "invalid_grant"} and "leak" not in json.dumps(delivery)


def test_the_payload_is_signed_over_the_exact_body_and_verifies_with_the_library(sandbox, uid):
    event = _event(uid, "connected", tags={"organizationId": "org-1"})
    assert app_webhooks.deliver(event) == "delivered"
    (delivery,) = _deliveries(sandbox, uid)
    assert delivery["webhookId"] == event["id"] and delivery["signature"].startswith("v1,")
    assert abs(int(delivery["timestamp"]) - datetime.datetime.now(datetime.UTC).timestamp()) < 300
    assert delivery["body"] == {
        "type": "connection.connected",
        "timestamp": "2026-12-04T12:00:00Z",
        "data": {
            "uid": uid,
            "service": "gmail",
            "connectionId": "gmail",
            "account": {"email": f"{uid}@example.com"},
            "details": {},
            "tags": {"organizationId": "org-1"},
        },
    }
    body = json.dumps(delivery["body"], separators=(",", ":"))
    headers = {k: delivery[f] for k, f in (("webhook-id", "webhookId"), ("webhook-timestamp", "timestamp"))}
    headers["webhook-signature"] = delivery["signature"]
    assert Webhook(DEV_APP_WEBHOOK_SECRET).verify(body, headers) == delivery["body"]


def test_a_slow_or_failing_endpoint_fails_the_delivery_for_pub_sub_to_retry(sandbox, uid, in_process):
    in_process(APP_WEBHOOK_TIMEOUT_SECONDS="0.5")
    sandbox.post("/_sandbox/app-webhooks/failures", json={"count": 1, "status": 200, "delay": 1}).raise_for_status()
    with pytest.raises(Unavailable) as slow:
        app_webhooks.deliver(_event(uid))
    sandbox.post("/_sandbox/app-webhooks/failures", json={"count": 1, "status": 302}).raise_for_status()
    with pytest.raises(Unavailable) as redirected:
        app_webhooks.deliver(_event(uid))
    assert slow.value.code == redirected.value.code == "app_webhook_failed" and "302" in redirected.value.message


def test_the_receiver_records_a_delivery_that_does_not_verify(sandbox, uid):
    body = json.dumps({"type": "connection.connected", "data": {"uid": uid}})
    forged = Webhook("whsec_" + "A" * 43 + "=").sign("msg_forged", datetime.datetime.now(datetime.UTC), body)
    now = str(int(datetime.datetime.now(datetime.UTC).timestamp()))
    headers = {"webhook-id": "msg_forged", "webhook-timestamp": now, "webhook-signature": forged}
    assert sandbox.post("/_sandbox/app-webhooks", data=body, headers=headers).status_code == 401
    (recorded,) = _deliveries(sandbox, uid)
    assert recorded["verified"] is False and recorded["answered"] == 401 and recorded["error"] == "No matching signature found"


def test_a_delivery_failing_every_attempt_is_dead_lettered_then_replayed_with_its_webhook_id(stack, sandbox, uid):
    """The emulator applies dead-letter policies. A subscription of this test's own pushes to the same
    consumer with infra/pubsub.tf's policy (at 5 attempts, Pub/Sub's minimum, not 10, to be quick)
    into the consumer's dead-letter topic; `make replay-dead-letters` then re-publishes the message
    to connection-events, whose push subscription delivers it: the same webhook-id, now taken."""
    publisher, subscriber, project = pubsub_v1.PublisherClient(), pubsub_v1.SubscriberClient(), stack.emulators.project
    store = subscriber.subscription_path(project, store_subscription("connection-events"))
    dead_letter = publisher.topic_path(project, "app-webhooks-worker-dead-letter")
    source = publisher.topic_path(project, f"webhooks-{uid}")
    with contextlib.suppress(AlreadyExists):
        publisher.create_topic(request={"name": dead_letter})
    with contextlib.suppress(AlreadyExists):
        subscriber.create_subscription(request={"name": store, "topic": dead_letter})
    publisher.create_topic(request={"name": source})
    push = subscriber.subscription_path(project, f"webhooks-{uid}-push")
    subscriber.create_subscription(
        request={
            "name": push,
            "topic": source,
            "push_config": {"push_endpoint": f"{stack.api_url}/_pubsub/app_webhooks_worker"},
            "retry_policy": {"minimum_backoff": {"seconds": 1}, "maximum_backoff": {"seconds": 1}},
            "dead_letter_policy": {"dead_letter_topic": dead_letter, "max_delivery_attempts": 5},
        }
    )
    try:
        sandbox.post("/_sandbox/app-webhooks/failures", json={"count": 5, "status": 500}).raise_for_status()
        event = _event(uid)
        publisher.publish(source, json.dumps(event).encode(), type="connected").result()
        failed = wait_for(lambda: len(_deliveries(sandbox, uid)) >= 5 and _deliveries(sandbox, uid), timeout=30)
        assert [d["answered"] for d in failed] == [500] * 5
        assert wait_for(lambda: replay(project, "connection-events", limit=10, wait=2) == 1, timeout=20)
        delivered = wait_for(lambda: len(_deliveries(sandbox, uid)) >= 6 and _deliveries(sandbox, uid))
        assert [d["answered"] for d in delivered] == [500] * 5 + [204]
        assert {d["webhookId"] for d in delivered} == {event["id"]}
    finally:
        subscriber.delete_subscription(request={"subscription": push})
        publisher.delete_topic(request={"topic": source})
