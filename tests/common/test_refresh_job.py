"""The scheduled refresh job: due connections only, skips what it must, safe when runs overlap,
and delivered through the Pub/Sub emulator's push subscription like Cloud Scheduler's tick."""

import concurrent.futures
import datetime
import logging
import time
import types

from google.cloud import pubsub_v1

from common.platform.clients import firestore_client
from common.platform.settings import reset_settings
from common.tokens import refresh_job
from common.tokens.reader import get_access_token
from local.bench_refresh import run_refresh
from tests.functions.test_oauth_flow import connect

SLACK = {"team_id": "T0ACME", "team_name": "Acme"}
SHORT_LIVED_WARNING = "tokens live shorter than the refresh window"


def _doc(uid: str, service: str):
    return firestore_client().collection("users").document(uid).collection("connections").document(service)


def _make_due(uid: str, service: str, **extra) -> None:
    past = datetime.datetime.now(datetime.UTC) - datetime.timedelta(seconds=5)
    _doc(uid, service).update({"expiresAt": past, "refreshDueAt": past, **extra})


def _seed(user, sandbox) -> None:
    for uid in ("alice", "bob", "carol", "dave", "erin"):
        assert connect(user(uid), "slack", user_id=f"U0{uid.upper()}", **SLACK)["outcome"] == "success"
    assert connect(user("alice"), "gmail", email="alice@example.com")["outcome"] == "success"
    _make_due("alice", "slack")
    _make_due("bob", "slack")
    _make_due("alice", "gmail")
    _make_due("dave", "slack", status="needs_reauth")
    _make_due("erin", "slack", cooldownUntil=datetime.datetime.now(datetime.UTC) + datetime.timedelta(minutes=5))
    sandbox.delete("/_sandbox/calls")


def test_only_due_active_connections_are_refreshed(user, sandbox):
    _seed(user, sandbox)
    before = {uid: _doc(uid, "slack").get().to_dict()["accessToken"] for uid in ("alice", "bob", "carol")}
    run = run_refresh()
    assert (run["due"], run["refreshed"], run["skipped"], run["failed"], run["complete"]) == (4, 3, 1, 0, True)
    calls = sandbox.get("/_sandbox/calls").json()
    assert calls == {"slack.oauth.v2.access": 2, "google.token": 1}
    after = {uid: _doc(uid, "slack").get().to_dict()["accessToken"] for uid in ("alice", "bob", "carol")}
    assert after["alice"] != before["alice"] and after["bob"] != before["bob"] and after["carol"] == before["carol"]
    assert _doc("dave", "slack").get().to_dict()["status"] == "needs_reauth"


def test_overlapping_runs_refresh_each_connection_once(user, sandbox):
    _seed(user, sandbox)
    with concurrent.futures.ThreadPoolExecutor(max_workers=2) as pool:
        runs = list(pool.map(lambda _: run_refresh(), range(2)))
    assert sandbox.get("/_sandbox/calls").json() == {"slack.oauth.v2.access": 2, "google.token": 1}
    assert all(run["failed"] == 0 for run in runs)


def test_failures_are_counted_not_raised(user, sandbox):
    _seed(user, sandbox)
    sandbox.post(
        "/_sandbox/faults", json={"endpoint": "google.token", "status": 400, "body": {"error": "invalid_grant"}}
    ).raise_for_status()
    run = run_refresh()
    assert (run["refreshed"], run["needs_reauth"]) == (2, 1)
    assert _doc("alice", "gmail").get().to_dict()["status"] == "needs_reauth"


def test_a_run_out_of_budget_hands_out_what_it_read_and_the_next_run_takes_the_rest(user, sandbox, monkeypatch):
    """The tick reads the due connections as one stream and stops where its budget ends: the run is
    recorded as not complete, what it read is refreshed, and the next tick finds the rest."""
    for uid in ("alice", "bob", "carol"):
        assert connect(user(uid), "slack", user_id=f"U0{uid.upper()}", **SLACK)["outcome"] == "success"
        _make_due(uid, "slack")
    sandbox.delete("/_sandbox/calls")
    clock = iter([0.0, 0.0] + [1e6] * 10)  # the start, the first connection read in budget, then past it
    monkeypatch.setattr(refresh_job, "time", types.SimpleNamespace(monotonic=lambda: next(clock)))
    first = run_refresh()
    assert (first["due"], first["refreshed"], first["complete"]) == (2, 2, False)
    monkeypatch.undo()
    second = run_refresh()
    assert (second["due"], second["refreshed"], second["complete"]) == (1, 1, True)
    assert sandbox.get("/_sandbox/calls").json() == {"slack.oauth.v2.access": 3}


def test_a_scheduler_tick_through_pubsub_push_runs_the_job(user, sandbox, stack):
    assert connect(user("alice"), "slack", user_id="U0ALICE", **SLACK)["outcome"] == "success"
    _make_due("alice", "slack")
    before = _doc("alice", "slack").get().to_dict()["accessToken"]
    publisher = pubsub_v1.PublisherClient()
    publisher.publish(publisher.topic_path(stack.emulators.project, "token-refresh-tick"), b'{"job": "token_refresh"}').result(
        timeout=10
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and _doc("alice", "slack").get().to_dict()["accessToken"] == before:
        time.sleep(0.2)
    assert _doc("alice", "slack").get().to_dict()["accessToken"] != before


def test_a_connection_due_before_expiry_is_refreshed(user, sandbox):
    """Due by its refresh time (an idle Google grant, or ahead of expiry), not by an expired token."""
    assert connect(user("alice"), "gmail", email="alice@example.com")["outcome"] == "success"
    past = datetime.datetime.now(datetime.UTC) - datetime.timedelta(seconds=5)
    _doc("alice", "gmail").update({"refreshDueAt": past})
    sandbox.delete("/_sandbox/calls")
    run = run_refresh()
    assert (run["due"], run["refreshed"]) == (1, 1)
    assert sandbox.get("/_sandbox/calls").json() == {"google.token": 1}
    assert _doc("alice", "gmail").get().to_dict()["refreshDueAt"] > past


def test_short_lived_tokens_are_refreshed_once_per_run(user, sandbox, monkeypatch, caplog):
    """Tokens that live less than TOKEN_REFRESH_WINDOW_SECONDS (900 s): one provider call per connection
    per run, a next due time ahead of the refresh, and a warning about the provider."""
    sandbox.patch("/_sandbox/config", json={"slack_token_lifetime": 600, "google_token_lifetime": 60}).raise_for_status()
    for uid in ("alice", "bob"):
        assert connect(user(uid), "slack", user_id=f"U0{uid.upper()}", **SLACK)["outcome"] == "success"
        assert connect(user(uid), "gmail", email=f"{uid}@example.com")["outcome"] == "success"
    overdue = datetime.datetime.now(datetime.UTC) - datetime.timedelta(hours=1)  # e.g. runs were missed
    for uid in ("alice", "bob"):
        _make_due(uid, "slack", refreshDueAt=overdue)
        _make_due(uid, "gmail", refreshDueAt=overdue)
    sandbox.delete("/_sandbox/calls")
    monkeypatch.setenv("REFRESH_JOB_BUDGET_SECONDS", "5")  # bounds the run on code that loops
    reset_settings()
    try:
        with caplog.at_level(logging.WARNING, logger="common.tokens.refresh_job"):
            started = datetime.datetime.now(datetime.UTC)
            run = run_refresh()
        per_connection = sandbox.get("/_sandbox/refreshes").json()
        assert per_connection == {
            "slack:T0ACME:U0ALICE": 1,
            "slack:T0ACME:U0BOB": 1,
            "google:alice@example.com": 1,
            "google:bob@example.com": 1,
        }
        assert (run["due"], run["refreshed"], run["complete"]) == (4, 4, True)
        for uid in ("alice", "bob"):
            for service, lifetime in (("slack", 600), ("gmail", 60)):
                due = _doc(uid, service).get().to_dict()["refreshDueAt"]
                assert due >= started + datetime.timedelta(seconds=lifetime / 2)  # a step ahead, not in the past
        warned = {r.fields["service"]: r.fields for r in caplog.records if r.getMessage() == SHORT_LIVED_WARNING}
        assert {s: (f["lifetimeSeconds"], f["windowSeconds"]) for s, f in warned.items()} == {
            "slack": (600, 900),
            "gmail": (60, 900),
        }
        sandbox.delete("/_sandbox/calls")
        assert run_refresh()["due"] == 0 and sandbox.get("/_sandbox/refreshes").json() == {}
    finally:
        monkeypatch.undo()
        reset_settings()


def test_the_on_demand_margin_follows_a_short_token_lifetime(user, sandbox):
    """A Slack token that lives 600 s is inside the 1800 s margin from the start: reading it must not
    refresh it every time."""
    sandbox.patch("/_sandbox/config", json={"slack_token_lifetime": 600}).raise_for_status()
    assert connect(user("alice"), "slack", user_id="U0ALICE", **SLACK)["outcome"] == "success"
    sandbox.delete("/_sandbox/calls")
    tokens = {get_access_token("alice", "slack") for _ in range(3)}
    assert len(tokens) == 1 and sandbox.get("/_sandbox/refreshes").json() == {}
