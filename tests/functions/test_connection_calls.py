"""A sync's provider calls share one read of the connection (common/sync/google_api.py
ConnectionCalls): its history or event pages, every message it fetches and its announcement read the
connection document once, and afresh once a refused token has been replaced. Counted at the store's
read functions, against the emulators and the sandbox. And a sync that a disconnect overtakes
writes nothing back (common/stores/sync_state.py)."""

import datetime
import threading
import uuid

import pytest
from google.api_core.exceptions import Aborted, Unknown
from google.cloud.firestore_v1.transaction import Transaction

from common.connect import oauth_flow
from common.platform.clients import firestore_client
from common.platform.timeutil import utcnow
from common.stores import connections, dedup, erasures, leases, sync_state
from common.sync import calendar_sync, gmail_sync, slack_processing, watches
from common.tokens.reader import get_access_token
from common.webhooks import processed_events
from tests.functions.test_oauth_flow import connect
from tests.helpers import user_docs
from tests.slack_helpers import event_envelope

TAGS = {"team": "growth"}


@pytest.fixture
def reads(monkeypatch):
    """Each read of a connection document from here on: (who read it, connection id)."""
    counted = []
    read_connection, get_connection = connections.read_connection, processed_events.get_connection

    def token_read(uid, connection_id):
        counted.append(("token", connection_id))
        return read_connection(uid, connection_id)

    def announcement_read(uid, connection_id):
        counted.append(("announcement", connection_id))
        return get_connection(uid, connection_id)

    monkeypatch.setattr(connections, "read_connection", token_read)
    monkeypatch.setattr(processed_events, "get_connection", announcement_read)
    return counted


def _connection(service: str):
    return firestore_client().collection("users").document("alice").collection("connections").document(service)


def _mail(sandbox, email: str, count: int) -> int:
    """Deliver `count` messages without Gmail's push; the mailbox's history id after them."""
    for n in range(count):
        reply = sandbox.post("/_sandbox/gmail/deliver", json={"email": email, "subject": f"m{n}", "notify": False})
        reply.raise_for_status()
    return reply.json()["historyId"]


def test_a_gmail_sync_reads_the_connection_once_for_its_pages_messages_and_announcements(
    user, sandbox, email, reads, topic_messages
):
    assert connect(user("alice"), "gmail", email=email)["outcome"] == "success"
    _connection("gmail").update({"tags": TAGS})
    events = topic_messages("connection-events")
    _mail(sandbox, email, 3)
    state, since = sync_state.read_state("alice", "gmail")
    sandbox.delete("/_sandbox/calls")
    reads.clear()
    assert gmail_sync.sync("alice", "gmail", state["historyId"], since) == "synced"
    # was 7: the sandbox's two history pages, each of 3 messages, each page's announcement
    assert reads == [("token", "gmail")]
    calls = sandbox.get("/_sandbox/calls").json()
    assert calls.get("gmail.history") == 2 and calls.get("gmail.messages.get") == 3
    stored = [m["data"] for m in events(expected=2) if m["data"]["type"] == "gmail.messages_stored"]
    account = _connection("gmail").get().get("account")
    assert sum(e["count"] for e in stored) == 3 and all(e["tags"] == TAGS and e["account"] == account for e in stored)


def test_a_refused_token_is_replaced_once_and_not_offered_again(user, sandbox, email, reads):
    assert connect(user("alice"), "gmail", email=email)["outcome"] == "success"
    _mail(sandbox, email, 2)
    sandbox.post("/_sandbox/expire", json={"token": get_access_token("alice", "gmail")}).raise_for_status()
    state, since = sync_state.read_state("alice", "gmail")
    sandbox.delete("/_sandbox/calls")
    assert gmail_sync.sync("alice", "gmail", state["historyId"], since) == "synced"
    calls = sandbox.get("/_sandbox/calls").json()
    # The first page: refused, refreshed, retried; both messages with the new token at the first try.
    assert (calls.get("gmail.history"), calls.get("google.token"), calls.get("gmail.messages.get")) == (2, 1, 2)
    assert len(user_docs("alice", "mail")) == 2


def test_a_failed_refresh_cools_down_for_the_rest_of_the_sync(user, sandbox, email):
    assert connect(user("alice"), "gmail", email=email)["outcome"] == "success"
    _mail(sandbox, email, 3)
    soon = datetime.datetime.now(datetime.UTC) + datetime.timedelta(seconds=60)  # due for a refresh, not expired
    _connection("gmail").update({"expiresAt": soon})
    state, since = sync_state.read_state("alice", "gmail")
    sandbox.delete("/_sandbox/calls")
    fault = {"endpoint": "google.token", "count": 100, "status": 500, "body": {}}
    sandbox.post("/_sandbox/faults", json=fault).raise_for_status()
    try:
        assert gmail_sync.sync("alice", "gmail", state["historyId"], since) == "synced"
    finally:
        sandbox.delete("/_sandbox/faults")
    # One failed refresh, then its cooldown holds for the sync's other calls (was 5 failures, 15 token calls).
    assert _connection("gmail").get().get("consecutiveFailures") == 1
    assert len(user_docs("alice", "mail")) == 3


def test_a_calendar_sync_announces_with_the_connection_its_token_was_read_with(user, sandbox, email, reads, topic_messages):
    assert connect(user("alice"), "calendar", email=email)["outcome"] == "success"
    _connection("calendar").update({"tags": TAGS})
    events = topic_messages("connection-events")
    sandbox.post("/_sandbox/calendar/change", json={"email": email, "notify": False}).raise_for_status()
    reads.clear()
    assert calendar_sync.sync("alice", "calendar") == "full_sync"  # the first since the connect
    # The connection comes with the sync state, in one batched get: no read of its own for the page
    # or the announcement (was 2)
    assert reads == []
    (changed,) = [m["data"] for m in events() if m["data"]["type"] == "calendar.changed"]
    assert changed["tags"] == TAGS and changed["count"] == 1


def test_a_disconnect_during_a_sync_leaves_nothing_of_it_behind(user, sandbox, email, monkeypatch, auto_sync_for_alice):
    assert connect(user("alice"), "gmail", email=email)["outcome"] == "success"
    notified = _mail(sandbox, email, 2)
    fetch = gmail_sync._fetch_messages

    def fetch_then_disconnect(*args):
        fetched = fetch(*args)  # the mail is fetched; the disconnect lands before it is stored
        assert user("alice").delete("/api/v1/oauth/gmail/disconnect").json()["data"]["wasConnected"]
        return fetched

    monkeypatch.setattr(gmail_sync, "_fetch_messages", fetch_then_disconnect)
    assert gmail_sync.handle_notification({"emailAddress": email, "historyId": notified}) == "disconnected"
    assert user_docs("alice", "mail") == {}
    assert not sync_state.state_ref("alice", "gmail").get().exists  # not written back after the disconnect


def test_a_sync_just_before_the_connection_is_deleted_leaves_no_state(user, sandbox, email, monkeypatch):
    assert connect(user("alice"), "calendar", email=email)["outcome"] == "success"
    sandbox.post("/_sandbox/calendar/change", json={"email": email, "notify": False}).raise_for_status()
    delete_connection = connections.delete_connection

    def sync_then_delete(uid, connection_id):  # the watch is stopped; a sync lands before the connection goes
        assert calendar_sync.sync(uid, connection_id) == "full_sync"
        return delete_connection(uid, connection_id)

    monkeypatch.setattr(connections, "delete_connection", sync_then_delete)
    assert oauth_flow.disconnect("alice", "calendar")["wasConnected"]  # in this process, where the hook is
    monkeypatch.undo()
    assert not sync_state.state_ref("alice", "calendar").get().exists  # was left with the sync's token
    assert user_docs("alice", "calendar_events") == {}
    assert connect(user("alice"), "calendar", email=email)["outcome"] == "success"
    assert calendar_sync.sync("alice", "calendar") == "full_sync"  # was "synced" from the stale token, missing the event
    assert len(user_docs("alice", "calendar_events")) == 1


def test_a_watch_started_for_a_connection_removed_meanwhile_is_not_recorded_and_does_not_fail(user, sandbox, email):
    assert connect(user("alice"), "gmail", email=email)["outcome"] == "success"
    token, (_, since) = get_access_token("alice", "gmail"), sync_state.read_state("alice", "gmail")
    connections.delete_connection("alice", "gmail")
    sync_state.delete_state("alice", "gmail")
    watches.start("alice", "gmail", since, token)  # a callback's watch, the connection gone: raised NotConnected
    assert not sync_state.state_ref("alice", "gmail").get().exists


def test_a_renewal_of_a_removed_connection_is_skipped_not_failed(user, sandbox, email):
    assert connect(user("alice"), "gmail", email=email)["outcome"] == "success"
    past = datetime.datetime.now(datetime.UTC) - datetime.timedelta(minutes=1)
    sync_state.state_ref("alice", "gmail").update({"renewAt": past})
    connections.delete_connection("alice", "gmail")
    assert watches._renew_one("gmail", {"uid": "alice"}) == "skipped"  # was "failed", every day


def _slack_event(user, team: str, event_id: str) -> dict:
    """Alice connects Slack in `team`; a message of hers with an action item, as Slack sends it."""
    assert connect(user("alice"), "slack", team_id=team, team_name=team, user_id="U0ALICE")["outcome"] == "success"
    event = {"type": "message", "user": "U0ALICE", "channel": "C1", "ts": "1.2", "text": "TODO: send the deck by Friday"}
    return event_envelope(event_id, event, team)


def test_a_slack_event_announces_with_the_connection_read_in_its_transaction(user, reads, topic_messages):
    envelope = _slack_event(user, f"T{uuid.uuid4().hex[:10].upper()}", "EvREADONCE")
    _connection("slack").update({"tags": TAGS})
    events = topic_messages("connection-events")
    reads.clear()
    assert slack_processing.process_event(envelope) == 1
    assert reads == []  # the connection comes with the fence and the documents, in one get (was 1 read of its own)
    (processed,) = [m["data"] for m in events() if m["data"]["type"] == "slack.event_processed"]
    assert processed["tags"] == TAGS and processed["account"] == _connection("slack").get().get("account")


def test_a_slack_event_routed_before_a_disconnect_records_nothing_after_it(user, monkeypatch, topic_messages):
    envelope = _slack_event(user, f"T{uuid.uuid4().hex[:10].upper()}", "EvGONE")
    events = topic_messages("connection-events")
    route = slack_processing._owners

    def route_then_disconnect(*args):
        routed = route(*args)
        assert user("alice").delete("/api/v1/oauth/slack/disconnect").json()["data"]["wasConnected"]
        return routed

    monkeypatch.setattr(slack_processing, "_owners", route_then_disconnect)
    slack_processing.process_event(envelope)
    # were stored after the removal (the activity and its action item), and announced
    assert user_docs("alice", "slack_activity") == {} and user_docs("alice", "action_items") == {}
    assert [m for m in events() if m["data"]["type"] == "slack.event_processed"] == []


def test_a_slack_event_over_several_transactions_is_not_announced_when_a_disconnect_lands_between_them(
    user, monkeypatch, topic_messages
):
    envelope = _slack_event(user, f"T{uuid.uuid4().hex[:10].upper()}", "EvCHUNKS")
    envelope["event"]["text"] = "\n".join(f"TODO: task {n}" for n in range(450))  # 451 documents: two transactions
    events = topic_messages("connection-events")
    create_missing, chunks = slack_processing._create_missing, []

    def create_then_disconnect(transaction, since, chunk):
        created = create_missing(transaction, since, chunk)
        if not chunks:
            assert user("alice").delete("/api/v1/oauth/slack/disconnect").json()["data"]["wasConnected"]
        chunks.append(len(chunk))
        return created

    monkeypatch.setattr(slack_processing, "_create_missing", create_then_disconnect)
    assert slack_processing.process_event(envelope) == 0
    assert chunks == [400, 51]
    assert user_docs("alice", "slack_activity") == {} and user_docs("alice", "action_items") == {}
    # was announced after the disconnect, for documents the disconnect had removed
    assert [m for m in events() if m["data"]["type"] == "slack.event_processed"] == []


def test_a_gmail_notification_is_marked_done_in_its_sync_s_last_transaction(
    user, sandbox, email, monkeypatch, auto_sync_for_alice
):
    assert connect(user("alice"), "gmail", email=email)["outcome"] == "success"
    notified, completed = _mail(sandbox, email, 1), []
    monkeypatch.setattr(dedup, "complete", lambda key, outcome: completed.append(outcome))
    notification = {"emailAddress": email, "historyId": notified}
    assert gmail_sync.handle_notification(notification) == "synced"
    assert completed == []  # was ["synced"]: a write of its own after the sync's store
    claim = firestore_client().collection(dedup.COLLECTION).document(gmail_sync.notification_key(email, notified)).get()
    assert (claim.get("state"), claim.get("outcome")) == ("done", "synced") and claim.get("expiresAt") > claim.get("doneAt")
    assert len(user_docs("alice", "mail")) == 1
    assert gmail_sync.handle_notification(notification) == "stale"  # its redelivery


def _calendar_lease(connection_id: str = "calendar"):
    return firestore_client().collection(leases.COLLECTION).document(f"{connection_id}-sync:alice")


def test_a_calendar_sync_gives_its_lease_back_in_its_last_transaction(user, sandbox, email, monkeypatch):
    assert connect(user("alice"), "calendar", email=email)["outcome"] == "success"
    sandbox.post("/_sandbox/calendar/change", json={"email": email, "notify": False}).raise_for_status()
    released = []
    monkeypatch.setattr(leases, "release", lambda *args: released.append(args))
    assert calendar_sync.sync("alice", "calendar") == "full_sync"
    assert released == []  # was one delete of its own after the sync's store
    assert not _calendar_lease().get().exists
    assert len(user_docs("alice", "calendar_events")) == 1
    assert calendar_sync.sync("alice", "calendar") == "synced"  # the next sync takes the lease


def test_a_calendar_sync_whose_lease_was_taken_over_leaves_the_new_holder_s(user, sandbox, email, monkeypatch):
    assert connect(user("alice"), "calendar", email=email)["outcome"] == "success"
    sandbox.post("/_sandbox/calendar/change", json={"email": email, "notify": False}).raise_for_status()
    merge_state = sync_state.merge_state

    def taken_over_first(*args, **kwargs):  # the lease lapsed mid-sync and another sync took it
        _calendar_lease().set({"owner": "another sync", "uid": "alice", "key": "calendar-sync", "expiresAt": utcnow()})
        return merge_state(*args, **kwargs)

    monkeypatch.setattr(sync_state, "merge_state", taken_over_first)
    assert calendar_sync.sync("alice", "calendar") == "full_sync"
    assert _calendar_lease().get().get("owner") == "another sync"
    assert len(user_docs("alice", "calendar_events")) == 1


def test_a_sync_arriving_while_the_last_transaction_holds_the_lease_is_told_in_flight(user, sandbox, email, monkeypatch):
    assert connect(user("alice"), "calendar", email=email)["outcome"] == "success"
    sandbox.post("/_sandbox/calendar/change", json={"email": email, "notify": False}).raise_for_status()
    release_if_ours, competing = leases.Held.release_if_ours, {}

    def held_past_the_lock_timeout(self, transaction, snapshot):  # the lease is read, and locked, by now
        def take():
            try:
                competing["taken"] = leases.try_take("alice", "calendar-sync", "another sync", 300)
            except Exception as error:
                competing["raised"] = repr(error)

        if not competing:
            other = threading.Thread(target=take)
            other.start()
            other.join(10)  # the emulator gives a write up after 2 s behind a transaction's lock
        return release_if_ours(self, transaction, snapshot)

    monkeypatch.setattr(leases.Held, "release_if_ours", held_past_the_lock_timeout)
    assert calendar_sync.sync("alice", "calendar") == "full_sync"
    assert competing == {"taken": None}  # was {"raised": "Aborted('Transaction lock timeout.')"}: an unexpected failure
    assert not _calendar_lease().get().exists


def test_two_deliveries_of_one_slack_event_at_once_do_not_wait_on_each_other(user, monkeypatch):
    envelope = _slack_event(user, f"T{uuid.uuid4().hex[:10].upper()}", "EvTWICEATONCE")
    read, both_read, waited, aborted = erasures.read, threading.Barrier(2, timeout=10), threading.local(), []

    def read_then_wait_for_the_other(transaction, *args):  # both transactions have read before either commits
        snapshots = read(transaction, *args)
        if not getattr(waited, "once", False):
            waited.once = True
            both_read.wait()
        return snapshots

    commit = Transaction._commit

    def commit_noting_aborts(self):
        try:
            return commit(self)
        except Aborted as error:
            aborted.append(str(error))
            raise

    monkeypatch.setattr(erasures, "read", read_then_wait_for_the_other)
    monkeypatch.setattr(Transaction, "_commit", commit_noting_aborts)
    recorded = []
    deliveries = [threading.Thread(target=lambda: recorded.append(slack_processing.process_event(envelope))) for _ in range(2)]
    for delivery in deliveries:
        delivery.start()
    for delivery in deliveries:
        delivery.join(60)
    assert recorded == [1, 1]
    assert aborted == []  # was ['Transaction lock timeout.']: each held the other's documents until the emulator gave up
    assert list(user_docs("alice", "slack_activity")) == ["EvTWICEATONCE"]
    assert list(user_docs("alice", "action_items")) == ["EvTWICEATONCE-0"]


def test_a_slack_event_redelivered_is_recorded_once_even_when_the_refused_commit_s_rollback_fails(user, monkeypatch):
    envelope = _slack_event(user, f"T{uuid.uuid4().hex[:10].upper()}", "EvROLLBACK")
    assert slack_processing.process_event(envelope) == 1

    def rollback_refused(self):  # as a Firestore that answers the rollback of a refused commit with an error
        raise Unknown("rollback failed")

    monkeypatch.setattr(Transaction, "_rollback", rollback_refused)
    assert slack_processing.process_event(envelope) == 1  # the redelivery: its create refused, then read
    assert list(user_docs("alice", "slack_activity")) == ["EvROLLBACK"]
