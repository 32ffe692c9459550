"""Gmail and Calendar end to end through the emulators: watches on connect, Gmail's push through the
Pub/Sub emulator, Calendar's channel notifications to our endpoint, incremental sync, renewals."""

import concurrent.futures
import datetime
import time
import uuid

import functions_framework
import pytest

from common.platform.clients import firestore_client
from common.sync import calendar_sync
from common.sync.watches import renew_due
from local.catalog import FUNCTIONS_DIR
from tests.functions.test_oauth_flow import connect
from tests.helpers import user_docs, wait_for


def _state(uid: str, service: str) -> dict:
    snapshot = firestore_client().collection("users").document(uid).collection("sync_state").document(service).get()
    return snapshot.to_dict() if snapshot.exists else {}


pytestmark = pytest.mark.usefixtures("auto_sync_for_alice")


@pytest.fixture
def gmail(user, sandbox, email):
    assert connect(user("alice"), "gmail", email=email)["outcome"] == "success"
    return lambda **message: sandbox.post("/_sandbox/gmail/deliver", json={"email": email, **message}).json()


@pytest.fixture
def calendar(user, sandbox, email):
    assert connect(user("alice"), "calendar", email=email)["outcome"] == "success"
    return lambda **change: sandbox.post("/_sandbox/calendar/change", json={"email": email, **change}).json()


def test_connect_starts_a_gmail_watch_on_our_topic(gmail, sandbox, email):
    watch = sandbox.get("/_sandbox/gmail/watch", params={"email": email}).json()
    assert watch == {"topic": "projects/demo-gateway/topics/gmail-notifications", "labels": ["INBOX"]}
    state = _state("alice", "gmail")
    assert state["historyId"] == 1000 and state["watchExpiration"] > datetime.datetime.now(datetime.UTC)


def test_new_mail_becomes_a_mail_document(gmail):
    delivered = gmail(subject="Quarterly numbers", snippet="See attached", **{"from": "cfo@example.com"})
    mail = wait_for(lambda: user_docs("alice", "mail"))
    assert mail[delivered["id"]]["subject"] == "Quarterly numbers" and mail[delivered["id"]]["from"] == "cfo@example.com"
    assert mail[delivered["id"]]["labels"] == ["INBOX", "UNREAD"] and mail[delivered["id"]]["snippet"] == "See attached"
    assert wait_for(lambda: _state("alice", "gmail")["historyId"] == delivered["historyId"])


def test_history_is_paged(gmail):
    for n in range(4):
        gmail(subject=f"m{n}", notify=n == 3)
    assert len(wait_for(lambda: len(user_docs("alice", "mail")) == 4 and user_docs("alice", "mail"))) == 4


def test_the_same_notification_three_times_makes_one_document(gmail, sandbox, email):
    delivered = gmail(subject="once", notify=False)
    sandbox.delete("/_sandbox/calls")
    for _ in range(3):
        sandbox.post("/_sandbox/gmail/notify", json={"email": email, "historyId": str(delivered["historyId"])}).raise_for_status()
    wait_for(lambda: user_docs("alice", "mail"))
    time.sleep(1.5)
    assert list(user_docs("alice", "mail")) == [delivered["id"]]
    calls = sandbox.get("/_sandbox/calls").json()
    assert calls.get("gmail.messages.get") == 1 and calls.get("gmail.history") == 1


def test_expired_history_falls_back_to_a_full_sync(gmail, sandbox, email):
    first = gmail(subject="before", notify=False)
    sandbox.post("/_sandbox/gmail/expire-history", json={"email": email}).raise_for_status()
    second = gmail(subject="after")
    mail = wait_for(lambda: len(user_docs("alice", "mail")) == 2 and user_docs("alice", "mail"))
    assert set(mail) == {first["id"], second["id"]}
    assert wait_for(lambda: _state("alice", "gmail")["historyId"] == second["historyId"])


def test_calendar_create_update_cancel_are_synced(calendar, sandbox):
    assert len(sandbox.get("/_sandbox/calendar/channels").json()) == 1
    created = calendar(action="create", summary="Standup")
    event_id = created["eventId"]
    assert wait_for(lambda: user_docs("alice", "calendar_events").get(event_id, {}).get("summary") == "Standup")
    calendar(action="update", eventId=event_id, summary="Standup (moved)")
    assert wait_for(lambda: user_docs("alice", "calendar_events")[event_id]["summary"] == "Standup (moved)")
    calendar(action="cancel", eventId=event_id)
    assert wait_for(lambda: user_docs("alice", "calendar_events")[event_id]["status"] == "cancelled")
    assert _state("alice", "calendar")["syncToken"].startswith("sync-")


def test_many_changes_are_paged(calendar):
    for n in range(5):
        calendar(action="create", summary=f"e{n}")
    assert wait_for(lambda: len(user_docs("alice", "calendar_events")) == 5)


def test_an_expired_sync_token_means_a_full_sync_from_scratch(calendar, sandbox, email):
    first = calendar(action="create", summary="one")["eventId"]
    deleted = calendar(action="create", summary="deleted in the gap")["eventId"]
    wait_for(lambda: {first, deleted} <= set(user_docs("alice", "calendar_events")))
    sandbox.post("/_sandbox/calendar/expire-sync-tokens", json={"email": email}).raise_for_status()
    calendar(action="cancel", eventId=deleted)
    second = calendar(action="create", summary="two")["eventId"]
    # a full listing omits cancelled events, so what was stored is cleared first: the deleted one goes
    assert wait_for(lambda: set(user_docs("alice", "calendar_events")) == {first, second})


def _push(api, channel_id: str, token: str, resource_id: str, state: str = "exists"):
    return api.post(
        "/api/v1/webhooks/calendar/push",
        headers={
            "X-Goog-Channel-ID": channel_id,
            "X-Goog-Channel-Token": token,
            "X-Goog-Resource-ID": resource_id,
            "X-Goog-Resource-State": state,
            "X-Goog-Message-Number": "5",
        },
    )


def test_wrong_channel_token_is_rejected_and_nothing_published(calendar, api, topic_messages):
    published = topic_messages("calendar-notifications")
    state = _state("alice", "calendar")
    wrong = _push(api, state["channelId"], "not-the-token", state["resourceId"])
    assert wrong.status_code == 401 and wrong.json()["error"]["code"] == "invalid_channel_token"
    unknown = _push(api, "f" * 40, "x", state["resourceId"])
    assert unknown.status_code == 404 and unknown.json()["error"]["code"] == "unknown_channel"
    missing = api.post("/api/v1/webhooks/calendar/push")
    assert missing.status_code == 400 and missing.json()["error"]["code"] == "invalid_channel"
    assert published(expected=1, timeout=1) == []


def test_forged_notifications_do_not_spend_a_real_channels_rate_limit(calendar, sandbox, rate_limits):
    """The channel id is not a secret (it travels in every notification), its token is: a sender
    without the token must not be able to exhaust the channel's budget and lock Google out."""
    rate_limits(RATE_LIMIT_WEBHOOK_BURST="2", RATE_LIMIT_WEBHOOK_PER_MINUTE="1")
    client = functions_framework.create_app("calendar_push", str(FUNCTIONS_DIR / "calendar_push" / "main.py")).test_client()
    (channel,) = sandbox.get("/_sandbox/calendar/channels").json()

    def push(token: str, resource_id: str):
        return _push(client, channel["id"], token, resource_id, state="sync")

    forged = [push("guessed", channel["resourceId"]).status_code for _ in range(5)]
    forged += [push(channel["token"], "another-resource").status_code for _ in range(5)]
    assert forged == [401] * 10
    genuine = [push(channel["token"], channel["resourceId"]) for _ in range(3)]
    assert [reply.status_code for reply in genuine] == [200, 200, 429]  # the channel's own budget still applies
    assert genuine[0].get_json()["data"] == {"acknowledged": "sync"}


def test_renewals_replace_channels_without_a_gap(calendar, gmail, sandbox, api, stack):
    old_channel = _state("alice", "calendar")["channelId"]
    old_watch_started = _state("alice", "gmail")["watchStartedAt"]
    now = datetime.datetime.now(datetime.UTC)
    # Gmail due first: a run that renews one at a time would wait on it before Calendar's call.
    for service, due in (("gmail", now - datetime.timedelta(seconds=2)), ("calendar", now - datetime.timedelta(seconds=1))):
        firestore_client().collection("users").document("alice").collection("sync_state").document(service).update(
            {"renewAt": due}
        )
    assert renew_due() == {"due": 2, "renewed": 2, "skipped": 0, "failed": 0}
    new_channel = _state("alice", "calendar")["channelId"]
    assert new_channel != old_channel
    assert [c["id"] for c in sandbox.get("/_sandbox/calendar/channels").json()] == [new_channel]
    assert firestore_client().collection("calendar_channels").document(old_channel).get().get("status") == "stopped"
    assert _state("alice", "gmail")["watchStartedAt"] > old_watch_started
    assert _state("alice", "calendar")["renewAt"] > datetime.datetime.now(datetime.UTC)
    event_id = calendar(action="create", summary="after renewal")["eventId"]
    assert wait_for(lambda: event_id in user_docs("alice", "calendar_events"))
    assert renew_due() == {"due": 0, "renewed": 0, "skipped": 0, "failed": 0}


def test_a_run_renews_side_by_side(calendar, gmail, sandbox):
    """The Gmail watch call is held; the Calendar renewal's call still arrives (one at a time, a daily
    run renewed about 2,000 watches before its timeout)."""
    now = datetime.datetime.now(datetime.UTC)
    # Gmail due first: a run that renews one at a time would wait on it before Calendar's call.
    for service, due in (("gmail", now - datetime.timedelta(seconds=2)), ("calendar", now - datetime.timedelta(seconds=1))):
        firestore_client().collection("users").document("alice").collection("sync_state").document(service).update(
            {"renewAt": due}
        )
    sandbox.delete("/_sandbox/calls")
    hold = uuid.uuid4().hex
    sandbox.post("/_sandbox/faults", json={"endpoint": "gmail.watch", "hold": hold}).raise_for_status()
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        run = pool.submit(renew_due)
        try:
            assert sandbox.post(f"/_sandbox/holds/{hold}/wait").status_code == 204
            both = wait_for(lambda: sandbox.get("/_sandbox/calls").json().get("calendar.watch") == 1)
        finally:
            sandbox.post(f"/_sandbox/holds/{hold}/release").raise_for_status()
        assert run.result() == {"due": 2, "renewed": 2, "skipped": 0, "failed": 0}
    assert both


def test_a_notification_on_a_channel_stopped_after_it_was_cached_starts_no_sync(calendar, api, sandbox):
    """The push endpoint keeps a channel's unchanging fields per instance, so it may queue a
    notification for a channel that a renewal has stopped since; the consumer checks and skips it."""
    (old,) = sandbox.get("/_sandbox/calendar/channels").json()
    assert _push(api, old["id"], old["token"], old["resourceId"], state="sync").status_code == 200  # now cached
    past = datetime.datetime.now(datetime.UTC) - datetime.timedelta(seconds=1)
    firestore_client().collection("users").document("alice").collection("sync_state").document("calendar").update(
        {"renewAt": past}
    )
    assert renew_due()["renewed"] == 1
    assert _push(api, old["id"], old["token"], old["resourceId"]).status_code == 200
    sandbox.delete("/_sandbox/calls")
    stale = {"uid": "alice", "channelId": old["id"], "state": "exists"}
    assert calendar_sync.handle_notification(stale) == "stopped_channel"
    assert calendar_sync.handle_notification({**stale, "uid": "mallory"}) == "stopped_channel"
    assert "calendar.events.list" not in sandbox.get("/_sandbox/calls").json()


def test_disconnect_stops_the_watch_and_the_channel(calendar, gmail, user, sandbox, email):
    alice = user("alice")
    assert alice.delete("/api/v1/oauth/gmail/disconnect").status_code == 200
    assert sandbox.get("/_sandbox/gmail/watch", params={"email": email}).json() is None
    channel = _state("alice", "calendar")["channelId"]
    assert alice.delete("/api/v1/oauth/calendar/disconnect").status_code == 200
    assert sandbox.get("/_sandbox/calendar/channels").json() == []
    assert _state("alice", "gmail") == {} and _state("alice", "calendar") == {}
    assert firestore_client().collection("calendar_channels").document(channel).get().get("status") == "stopped"


def test_a_failed_sync_is_redelivered_by_pubsub_and_then_succeeds(gmail, sandbox):
    """The consumer answers 500 on a provider 503, the emulator's push subscription redelivers."""
    sandbox.post("/_sandbox/faults", json={"endpoint": "gmail.history", "count": 1, "status": 503, "body": {}}).raise_for_status()
    delivered = gmail(subject="eventually")
    assert wait_for(lambda: delivered["id"] in user_docs("alice", "mail"), timeout=30)
    assert sandbox.get("/_sandbox/calls").json()["gmail.history"] >= 2


def test_overlapping_renewal_runs_open_one_new_channel(calendar, sandbox):
    import concurrent.futures

    past = datetime.datetime.now(datetime.UTC) - datetime.timedelta(seconds=1)
    firestore_client().collection("users").document("alice").collection("sync_state").document("calendar").update(
        {"renewAt": past}
    )
    with concurrent.futures.ThreadPoolExecutor(max_workers=3) as pool:
        results = list(pool.map(lambda _: renew_due(), range(3)))
    assert sum(r["renewed"] for r in results) == 1 and sum(r["failed"] for r in results) == 0
    assert len(sandbox.get("/_sandbox/calendar/channels").json()) == 1


def test_auto_sync_off_acknowledges_without_syncing(gmail, flag, sandbox):
    flag("integration_auto_sync", rollout=100, overrides={"alice": False})
    gmail(subject="not synced")
    time.sleep(2)
    assert user_docs("alice", "mail") == {}
    assert "gmail.history" not in sandbox.get("/_sandbox/calls").json()
