"""An erasure that lands while work for the user is in flight. Each writer is stopped at the exact
step between the provider's answer and its store write (a sandbox hold: the provider has answered,
the reply waits), the user is erased through DELETE /api/v1/me, the writer is let go, and nothing of
the user is left in any collection. Slack processing fetches nothing, so it is stopped by a hook
right after it has routed the event to its users, the step before its writes."""

import concurrent.futures
import datetime
import uuid

import pytest

from common.platform.clients import firestore_client
from common.stores import erasures
from common.sync import slack_processing
from common.sync.watches import renew_due
from local.bench_refresh import run_refresh
from local.consent_browser import decide
from local.load.payloads import push_delivery
from tests.functions.test_oauth_flow import connect, start
from tests.helpers import documents_mentioning, user_docs, wait_for
from tests.oauth_helpers import landed
from tests.slack_helpers import event_envelope

A_DAY_AGO = datetime.datetime.now(datetime.UTC) - datetime.timedelta(days=1)


@pytest.fixture(autouse=True)
def _auto_sync_for_everyone(flag):
    """The syncs run for alice (a rollout, not an override naming her: no document may name her)."""
    flag("integration_auto_sync", rollout=100)


def _erase_while_held(sandbox, user, endpoint: str, work):
    """Run work() until its call to `endpoint` has been answered and held, erase alice through the
    API, release the reply, and return what work() returned once it has finished."""
    hold = uuid.uuid4().hex
    sandbox.post("/_sandbox/faults", json={"endpoint": endpoint, "hold": hold}).raise_for_status()
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        running = pool.submit(work)
        try:
            assert sandbox.post(f"/_sandbox/holds/{hold}/wait").status_code == 204
            erased = user("alice").delete("/api/v1/me")
            assert erased.status_code == 200, erased.text
        finally:
            sandbox.post(f"/_sandbox/holds/{hold}/release").raise_for_status()
        return running.result()


def _push(api, consumer: str, payload: dict) -> int:
    body = push_delivery(consumer, payload)
    return api.post(f"/_pubsub/{consumer}", data=body, headers={"Content-Type": "application/json"}).status_code


def _sync_state(uid: str, service: str):
    return firestore_client().collection("users").document(uid).collection("sync_state").document(service)


@pytest.mark.parametrize("history", ["incremental", "expired"])
def test_a_gmail_sync_in_flight_writes_nothing_after_the_erasure(api, user, sandbox, email, history):
    assert connect(user("alice"), "gmail", email=email)["outcome"] == "success"
    delivered = sandbox.post("/_sandbox/gmail/deliver", json={"email": email, "subject": "Minutes", "notify": False}).json()
    if history == "expired":  # the sync falls back to a full sync, which stores what it lists the same way
        sandbox.post("/_sandbox/gmail/expire-history", json={"email": email}).raise_for_status()
    notification = {"emailAddress": email, "historyId": delivered["historyId"]}
    status = _erase_while_held(
        sandbox, user, "gmail.messages.get", lambda: _push(api, "gmail_notifications_worker", notification)
    )
    assert documents_mentioning("alice") == []
    assert status == 200  # the worker had the message and finished (no timeout, no redelivery)


def test_a_calendar_sync_in_flight_writes_nothing_after_the_erasure(api, user, sandbox, email):
    assert connect(user("alice"), "calendar", email=email)["outcome"] == "success"
    change = sandbox.post("/_sandbox/calendar/change", json={"email": email, "summary": "Offsite", "notify": False}).json()
    channel = change["notifications"][0]["headers"]["X-Goog-Channel-ID"]
    notification = {"uid": "alice", "channelId": channel, "state": "exists"}
    status = _erase_while_held(
        sandbox, user, "calendar.events.list", lambda: _push(api, "calendar_notifications_worker", notification)
    )
    assert documents_mentioning("alice", channel) == []
    assert status == 200


@pytest.mark.parametrize(("service", "endpoint"), [("gmail", "gmail.watch"), ("calendar", "calendar.watch")])
def test_a_watch_renewal_in_flight_writes_nothing_after_the_erasure(user, sandbox, email, service, endpoint):
    assert connect(user("alice"), service, email=email)["outcome"] == "success"
    _sync_state("alice", service).update({"renewAt": A_DAY_AGO})
    counts = _erase_while_held(sandbox, user, endpoint, renew_due)
    assert documents_mentioning("alice") == []
    assert counts == {"due": 1, "renewed": 0, "skipped": 1, "failed": 0}  # refused, not timed out


@pytest.mark.parametrize(("service", "endpoint"), [("gmail", "google.token"), ("slack", "slack.oauth.v2.access")])
def test_an_oauth_flow_started_before_the_erasure_connects_nothing_after_it(user, sandbox, email, service, endpoint):
    alice = user("alice")
    account = {"email": email} if service == "gmail" else {"team_id": "T0ACME", "team_name": "Acme", "user_id": "U0ALICE"}
    auth_url = start(alice, service)["authUrl"]
    reply = _erase_while_held(sandbox, user, endpoint, lambda: decide(alice, auth_url, **account))
    assert documents_mentioning("alice") == []
    assert landed(reply) == {"outcome": "failure", "service": service, "reason": "user_erased"}
    issued = sandbox.get("/_sandbox/issued").json()
    states = sandbox.post("/_sandbox/introspect", json={"tokens": issued}).json()
    assert issued and all(token["state"] != "live" for token in states)  # the flow's tokens were revoked
    assert connect(alice, service, **account)["outcome"] == "success"  # an erasure is not a ban: a new flow connects


def test_a_token_refresh_in_flight_writes_nothing_after_the_erasure(user, sandbox, email):
    assert connect(user("alice"), "gmail", email=email)["outcome"] == "success"
    firestore_client().collection("users").document("alice").collection("connections").document("gmail").update(
        {"refreshDueAt": A_DAY_AGO}
    )
    run = _erase_while_held(sandbox, user, "google.token", run_refresh)
    assert documents_mentioning("alice") == []
    assert (run["due"], run["refreshed"], run["skipped"]) == (1, 0, 1)


def test_a_slack_event_in_flight_records_nothing_after_the_erasure(user, monkeypatch):
    team = f"T{uuid.uuid4().hex[:10].upper()}"
    assert connect(user("alice"), "slack", team_id=team, team_name=team, user_id="U0ALICE")["outcome"] == "success"
    route = slack_processing._owners

    def route_then_erase(*args, **kwargs):
        routed = route(*args, **kwargs)
        assert user("alice").delete("/api/v1/me").status_code == 200
        return routed

    monkeypatch.setattr(slack_processing, "_owners", route_then_erase)
    text = "TODO: send the contract by Friday"
    envelope = event_envelope(
        "EvERASED", {"type": "message", "user": "U0ALICE", "channel": "C1", "ts": "1.2", "text": text}, team
    )
    slack_processing.process_event(envelope)
    assert documents_mentioning("alice", "EvERASED") == []


def test_work_that_starts_after_the_erasure_writes_as_usual(user, sandbox, email):
    alice = user("alice")
    assert connect(alice, "gmail", email=email)["outcome"] == "success"
    assert alice.delete("/api/v1/me").status_code == 200
    assert connect(alice, "gmail", email=email)["outcome"] == "success"  # the same uid, the same mailbox
    delivered = sandbox.post("/_sandbox/gmail/deliver", json={"email": email, "subject": "Welcome back"}).json()
    assert wait_for(lambda: user_docs("alice", "mail"))[delivered["id"]]["subject"] == "Welcome back"


def test_an_erasure_that_stopped_part_way_refuses_writes_until_it_is_completed(user, email):
    alice = user("alice")
    erasures.begin("alice")  # as an erasure that crashed after raising its fence
    refused = alice.get("/api/v1/oauth/gmail/start")
    assert refused.status_code == 409
    assert refused.json() == {
        "success": False,
        "error": {"code": "user_erased", "message": "This user's data is being erased, or was erased after this work began"},
    }
    assert alice.get("/api/v1/flags").json()["error"]["code"] == "user_erased"  # no experiment assignment either
    assert documents_mentioning("alice") == []
    assert alice.delete("/api/v1/me").status_code == 200  # retried, it completes
    assert connect(alice, "gmail", email=email)["outcome"] == "success"
