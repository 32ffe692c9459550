"""The token manager against the emulators and the sandbox: fresh reads, refresh under a lease
(threads and processes), rotation, failures, cooldown, recovery and the 401 retry."""

import concurrent.futures
import datetime
import json
import subprocess
import sys
import threading

import pytest
import requests

from common.platform import clock
from common.platform.clients import firestore_client
from common.platform.errors import Unavailable
from common.platform.settings import get_settings, reset_settings
from common.tokens import refresher
from common.tokens.crypto import get_cipher
from common.tokens.reader import call_with_token, get_access_token
from common.tokens.stored import ReauthRequired
from common.tokens.token_fields import token_field
from local.catalog import ROOT
from tests.functions.test_oauth_flow import connect


def _doc(uid: str, service: str):
    return firestore_client().collection("users").document(uid).collection("connections").document(service)


def _expire(uid: str, service: str) -> None:
    past = datetime.datetime.now(datetime.UTC) - datetime.timedelta(seconds=5)
    _doc(uid, service).update({"expiresAt": past, "refreshDueAt": past})


def _calls(sandbox, endpoint: str) -> int:
    return sandbox.get("/_sandbox/calls").json().get(endpoint, 0)


@pytest.fixture
def connected(user, sandbox):
    def make(service: str, uid: str = "alice", **account) -> None:
        assert connect(user(uid), service, **account)["outcome"] == "success"
        sandbox.delete("/_sandbox/calls")

    return make


@pytest.fixture
def fast_settings(monkeypatch, stack):
    monkeypatch.setenv("TOKEN_REFRESH_COOLDOWN_SECONDS", "30")
    reset_settings()
    yield
    monkeypatch.undo()
    reset_settings()


def test_a_fresh_token_is_read_without_calling_the_provider(connected, sandbox):
    connected("gmail")
    token = get_access_token("alice", "gmail")
    assert token.startswith("ya29.") and get_access_token("alice", "gmail") == token
    assert _calls(sandbox, "google.token") == 0


def test_slack_refresh_rotates_and_stores_both_tokens_in_one_write(connected, sandbox):
    connected("slack")
    before = _doc("alice", "slack").get().to_dict()
    old = get_access_token("alice", "slack")
    _expire("alice", "slack")
    new = get_access_token("alice", "slack")
    after = _doc("alice", "slack").get().to_dict()
    assert new != old and new.startswith("xoxp-") and _calls(sandbox, "slack.oauth.v2.access") == 1
    assert after["refreshToken"] != before["refreshToken"]  # the rotated refresh token was stored
    assert after["expiresAt"] > datetime.datetime.now(datetime.UTC) + datetime.timedelta(hours=11)
    _expire("alice", "slack")
    assert get_access_token("alice", "slack") not in (old, new)  # the stored (rotated) refresh token works


def test_google_refresh_keeps_the_stored_refresh_token(connected):
    connected("calendar")
    before = _doc("alice", "calendar").get().to_dict()
    _expire("alice", "calendar")
    get_access_token("alice", "calendar")
    assert _doc("alice", "calendar").get().to_dict()["refreshToken"] == before["refreshToken"]


def test_fifty_threads_on_an_expired_token_make_one_refresh(connected, sandbox):
    connected("slack")
    _expire("alice", "slack")
    with concurrent.futures.ThreadPoolExecutor(max_workers=50) as pool:
        tokens = list(pool.map(lambda _: get_access_token("alice", "slack"), range(50)))
    assert _calls(sandbox, "slack.oauth.v2.access") == 1
    assert len(set(tokens)) == 1


PROCESS_READER = """
import concurrent.futures, json, sys
from common.tokens.reader import get_access_token
with concurrent.futures.ThreadPoolExecutor(max_workers=10) as pool:
    print(json.dumps(list(pool.map(lambda _: get_access_token("alice", "slack"), range(10)))))
"""


@pytest.mark.slow
def test_fifty_callers_in_five_processes_make_one_refresh(connected, sandbox, stack):
    connected("slack")
    _expire("alice", "slack")
    env = {**stack.env, "APP_ENV": "test"}
    readers = [
        subprocess.Popen([sys.executable, "-c", PROCESS_READER], cwd=ROOT, env=env, stdout=subprocess.PIPE, text=True)
        for _ in range(5)
    ]
    outputs = [reader.communicate(timeout=120)[0] for reader in readers]
    tokens = [token for output in outputs for token in json.loads(output.strip().splitlines()[-1])]  # logs come first
    assert len(tokens) == 50 and len(set(tokens)) == 1
    assert _calls(sandbox, "slack.oauth.v2.access") == 1


def test_a_crashed_holders_lease_expires(connected, sandbox):
    connected("gmail")
    _expire("alice", "gmail")
    past = datetime.datetime.now(datetime.UTC) - datetime.timedelta(seconds=1)
    firestore_client().collection("token_leases").document("gmail:alice").set({"owner": "crashed", "expiresAt": past})
    assert get_access_token("alice", "gmail").startswith("ya29.")
    assert _calls(sandbox, "google.token") == 1
    assert not firestore_client().collection("token_leases").document("gmail:alice").get().exists


def test_a_live_lease_makes_readers_wait_then_give_up(connected, sandbox, monkeypatch):
    connected("gmail")
    _expire("alice", "gmail")
    future = datetime.datetime.now(datetime.UTC) + datetime.timedelta(seconds=60)
    firestore_client().collection("token_leases").document("gmail:alice").set({"owner": "busy", "expiresAt": future})
    monkeypatch.setenv("TOKEN_WAIT_SECONDS", "1")
    reset_settings()
    try:
        with pytest.raises(Unavailable) as waited:
            get_access_token("alice", "gmail")
    finally:
        monkeypatch.undo()
        reset_settings()
    assert waited.value.code == "refresh_in_progress" and _calls(sandbox, "google.token") == 0


@pytest.mark.parametrize(
    "service, endpoint, body, status",
    [
        ("gmail", "google.token", {"error": "invalid_grant", "error_description": "Token has been expired or revoked."}, 400),
        ("slack", "slack.oauth.v2.access", {"ok": False, "error": "invalid_refresh_token"}, 200),
    ],
)
def test_a_revoked_grant_needs_reauth_with_one_event(connected, sandbox, user, topic_messages, service, endpoint, body, status):
    connected(service)
    events = topic_messages("connection-events")
    _expire("alice", service)
    sandbox.post("/_sandbox/faults", json={"endpoint": endpoint, "count": 5, "status": status, "body": body}).raise_for_status()
    for _ in range(3):
        with pytest.raises(ReauthRequired):
            get_access_token("alice", service)
    assert _calls(sandbox, endpoint) == 1  # later reads do not call the provider again
    published = events(expected=2, timeout=3)
    assert [(m["data"]["type"], m["data"]["needsReauth"]) for m in published] == [("refresh_failed", True)]
    status_reply = user("alice").get(f"/api/v1/oauth/{service}/status").json()["data"]
    assert status_reply["status"] == "needs_reauth" and status_reply["reason"] == body["error"]
    assert user("alice").get("/api/v1/oauth/connections").json()["data"]["connections"][0]["status"] == "needs_reauth"


def test_reconnecting_after_reauth_recovers(connected, sandbox, user, topic_messages):
    connected("gmail")
    _expire("alice", "gmail")
    sandbox.post(
        "/_sandbox/faults", json={"endpoint": "google.token", "status": 400, "body": {"error": "invalid_grant"}}
    ).raise_for_status()
    with pytest.raises(ReauthRequired):
        get_access_token("alice", "gmail")
    events = topic_messages("connection-events")
    assert connect(user("alice"), "gmail")["outcome"] == "success"
    assert [m["data"]["type"] for m in events(expected=2)] == ["connected", "recovered"]
    assert get_access_token("alice", "gmail").startswith("ya29.")


def test_transient_failures_are_retried_with_backoff(connected, sandbox):
    connected("gmail")
    _expire("alice", "gmail")
    sandbox.post(
        "/_sandbox/faults",
        json={"endpoint": "google.token", "count": 1, "status": 503, "body": {"error": "temporarily_unavailable"}},
    )
    sandbox.post(
        "/_sandbox/faults",
        json={
            "endpoint": "google.token",
            "count": 1,
            "status": 429,
            "headers": {"Retry-After": "1"},
            "body": {"error": "rate_limit_exceeded"},
        },
    )
    assert get_access_token("alice", "gmail").startswith("ya29.")
    assert _calls(sandbox, "google.token") == 3


def test_exhausted_retries_cool_down_then_recover(connected, sandbox, topic_messages, fast_settings):
    connected("slack")
    events = topic_messages("connection-events")
    _expire("alice", "slack")
    sandbox.post(
        "/_sandbox/faults", json={"endpoint": "slack.oauth.v2.access", "count": 3, "status": 500, "body": {}}
    ).raise_for_status()
    with pytest.raises(Unavailable) as failed:
        get_access_token("alice", "slack")
    assert failed.value.code == "refresh_failed" and failed.value.retry_after == 30
    assert _calls(sandbox, "slack.oauth.v2.access") == 3
    record = _doc("alice", "slack").get().to_dict()
    assert record["status"] == "active" and record["consecutiveFailures"] == 1 and record["lastError"] == "http_500"
    with pytest.raises(Unavailable) as cooling:
        get_access_token("alice", "slack")
    assert cooling.value.code == "refresh_cooldown" and _calls(sandbox, "slack.oauth.v2.access") == 3
    try:
        clock.set_offset(31)
        assert get_access_token("alice", "slack").startswith("xoxp-")
    finally:
        clock.set_offset(0)
    record = _doc("alice", "slack").get().to_dict()
    assert record["consecutiveFailures"] == 0 and "lastError" not in record and "cooldownUntil" not in record
    assert [(m["data"]["type"], m["data"].get("needsReauth")) for m in events(expected=2)] == [
        ("refresh_failed", False),
        ("recovered", None),
    ]


def test_a_provider_401_forces_one_refresh_and_one_retry(connected, sandbox, stack):
    connected("gmail")
    sandbox.post("/_sandbox/expire", json={"token": get_access_token("alice", "gmail")}).raise_for_status()
    seen = []

    def userinfo(token):
        seen.append(token)
        return requests.get(f"{stack.sandbox_url}/v1/userinfo", headers={"Authorization": f"Bearer {token}"}, timeout=10)

    reply = call_with_token("alice", "gmail", userinfo).response
    assert reply.status_code == 200 and reply.json()["email"] == "alice@example.com"
    assert len(seen) == 2 and seen[0] != seen[1] and _calls(sandbox, "google.token") == 1


def test_unknown_connection_is_not_connected(stack):
    from common.stores.connections import NotConnected

    with pytest.raises(NotConnected):
        get_access_token("nobody", "slack")


def test_a_refresh_does_not_overwrite_a_connection_changed_meanwhile(connected, user, monkeypatch):
    """A reconnect lands while the provider is answering the refresh: the reconnect's tokens stay."""
    connected("slack")
    _expire("alice", "slack")
    real_refresh_grant, reconnected = refresher.refresh_grant, {}

    def refresh_grant_then_reconnect(spec, refresh_token):
        reply = real_refresh_grant(spec, refresh_token)
        assert connect(user("alice"), "slack")["outcome"] == "success"  # the real flow, through the API
        reconnected.update(_doc("alice", "slack").get().to_dict())
        return reply

    monkeypatch.setattr(refresher, "refresh_grant", refresh_grant_then_reconnect)
    with pytest.raises(Unavailable) as conflict:
        get_access_token("alice", "slack")
    assert conflict.value.code == "refresh_conflict"
    stored = _doc("alice", "slack").get().to_dict()
    assert (stored["refreshToken"], stored["accessToken"]) == (reconnected["refreshToken"], reconnected["accessToken"])


def test_a_token_not_yet_expired_is_used_when_its_refresh_fails(connected, sandbox, fast_settings):
    connected("slack")
    token = get_access_token("alice", "slack")
    soon = datetime.datetime.now(datetime.UTC) + datetime.timedelta(seconds=60)  # inside the 1800 s margin
    _doc("alice", "slack").update({"expiresAt": soon})
    sandbox.post("/_sandbox/faults", json={"endpoint": "slack.oauth.v2.access", "count": 3, "status": 500, "body": {}})
    assert get_access_token("alice", "slack") == token  # the refresh failed three times; the token still works
    record = _doc("alice", "slack").get().to_dict()
    assert record["consecutiveFailures"] == 1 and record["cooldownUntil"] > datetime.datetime.now(datetime.UTC)
    assert get_access_token("alice", "slack") == token  # cooling down: no provider call
    assert _calls(sandbox, "slack.oauth.v2.access") == 3


def _honoured(sandbox, uid: str, service: str) -> list[str]:
    """What the provider says of the stored access and refresh tokens (live, expired, unknown)."""
    record = _doc(uid, service).get().to_dict()
    plain = [get_cipher().decrypt(record[f"{k}Token"], uid, token_field(service, f"{k}_token")) for k in ("access", "refresh")]
    return [answer["state"] for answer in sandbox.post("/_sandbox/introspect", json={"tokens": plain}).json()]


def test_a_holder_stalled_past_its_lease_never_makes_the_user_reconnect(connected, sandbox, topic_messages, monkeypatch):
    """Holder A spends the rotating refresh token and stalls past its lease before storing the reply;
    B takes the lapsed lease over, spends the same (now spent) token and gets invalid_refresh_token.
    B must not mark the connection needs_reauth: A then stores the live rotated token."""
    connected("slack")
    events = topic_messages("connection-events")
    _expire("alice", "slack")
    a_spent, a_may_store = threading.Event(), threading.Event()
    real_refresh_grant = refresher.refresh_grant

    def refresh_grant(spec, refresh_token):
        reply = real_refresh_grant(spec, refresh_token)
        if threading.current_thread().name == "holder-a":
            a_spent.set()
            a_may_store.wait(30)  # the stall: the provider has rotated, the reply is not stored yet
        return reply

    monkeypatch.setattr(refresher, "refresh_grant", refresh_grant)
    outcomes = {}

    def holder_a():
        outcomes["a"] = get_access_token("alice", "slack")

    a = threading.Thread(target=holder_a, name="holder-a")
    a.start()
    try:
        assert a_spent.wait(30)
        clock.set_offset(get_settings().token_lease_seconds + 1)  # A's lease has lapsed
        with pytest.raises(Unavailable) as b_outcome:
            get_access_token("alice", "slack")
        assert b_outcome.value.code == "refresh_in_doubt"
    finally:
        a_may_store.set()
        a.join(30)
        clock.set_offset(0)
    assert outcomes["a"].startswith("xoxp-")
    record = _doc("alice", "slack").get().to_dict()
    assert record["status"] == "active" and "cooldownUntil" not in record and "lastError" not in record
    assert _honoured(sandbox, "alice", "slack") == ["live", "live"]  # A's rotated refresh token was kept
    assert get_access_token("alice", "slack") == outcomes["a"]
    assert [m["data"]["type"] for m in events(expected=1, timeout=3)] == []  # no refresh_failed, no needs_reauth
    assert [d.get("action") for d in firestore_client().collection("audit_log").stream() if d.get("action") != "connect"] == []


def test_a_stalled_holder_cannot_record_a_failure_once_its_lease_is_taken(connected, sandbox, topic_messages, monkeypatch):
    """The fence on the failure path: A stalls before its provider call, its lease lapses and B takes
    it. A's call then fails while B's is in flight; A is no longer the holder, so its failure is
    refused and B's success stands: the user is not told to reconnect."""
    connected("gmail")
    events = topic_messages("connection-events")
    _expire("alice", "gmail")
    a_stalled, a_go, b_in_flight, b_go = threading.Event(), threading.Event(), threading.Event(), threading.Event()
    real_refresh_grant = refresher.refresh_grant

    def refresh_grant(spec, refresh_token):
        mine, go = (a_stalled, a_go) if threading.current_thread().name == "holder-a" else (b_in_flight, b_go)
        mine.set()
        go.wait(30)
        return real_refresh_grant(spec, refresh_token)

    monkeypatch.setattr(refresher, "refresh_grant", refresh_grant)
    outcomes = {}

    def run(name: str) -> threading.Thread:
        def read():
            try:
                outcomes[name] = get_access_token("alice", "gmail")
            except Exception as error:
                outcomes[name] = error

        thread = threading.Thread(target=read, name=f"holder-{name}")
        thread.start()
        return thread

    a = run("a")
    try:
        assert a_stalled.wait(30)
        clock.set_offset(get_settings().token_lease_seconds + 1)  # A's lease has lapsed
        b = run("b")
        assert b_in_flight.wait(30)  # B holds the lease now
        sandbox.post("/_sandbox/faults", json={"endpoint": "google.token", "status": 400, "body": {"error": "invalid_grant"}})
        a_go.set()
        a.join(30)
    finally:
        a_go.set()
        b_go.set()
        a.join(30)
        b.join(30)
        clock.set_offset(0)
    assert isinstance(outcomes["a"], Unavailable) and outcomes["a"].code == "refresh_conflict"
    assert outcomes["b"].startswith("ya29.")
    record = _doc("alice", "gmail").get().to_dict()
    assert record["status"] == "active" and "lastError" not in record
    assert [m["data"]["type"] for m in events(expected=1, timeout=3)] == []
    assert [d.get("action") for d in firestore_client().collection("audit_log").stream() if d.get("action") != "connect"] == []
