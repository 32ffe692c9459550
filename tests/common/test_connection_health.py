"""Per-connection health: failed provider calls in a row make a connection `degraded` in the status
and connections replies, with one `degraded` event; the next success clears it with `recovered`."""

import datetime

import pytest

from common.platform import clock
from common.platform.clients import firestore_client
from common.platform.errors import Unavailable
from common.platform.settings import reset_settings
from common.sync.gmail_sync import _api
from common.sync.google_api import ProviderRejected, google_call
from common.tokens.reader import get_access_token
from common.tokens.stored import ReauthRequired
from tests.functions.test_oauth_flow import connect


def _profile():
    return google_call("alice", "gmail", "GET", _api("profile"))


def _shown(alice) -> tuple[dict, dict]:
    status = alice.get("/api/v1/oauth/gmail/status").json()["data"]
    listed = alice.get("/api/v1/oauth/connections").json()["data"]["connections"]
    return status, next(c for c in listed if c["service"] == "gmail")


@pytest.fixture
def alice(user, sandbox):
    session = user("alice")
    assert connect(session, "gmail")["outcome"] == "success"
    return session


def test_three_failed_calls_in_a_row_degrade_the_connection_until_one_succeeds(alice, sandbox, topic_messages):
    events = topic_messages("connection-events")
    for status in (503, 429, 403):
        sandbox.post("/_sandbox/faults", json={"endpoint": "gmail.profile", "status": status, "body": {}}).raise_for_status()
    with pytest.raises(Unavailable):
        _profile()
    with pytest.raises(Unavailable):
        _profile()
    status, listed = _shown(alice)
    assert (status["health"], status["consecutiveFailures"], status["reason"]) == ("healthy", 2, "http_429")
    with pytest.raises(ProviderRejected):
        _profile()
    status, listed = _shown(alice)
    assert status == listed
    assert (status["health"], status["consecutiveFailures"], status["reason"]) == ("degraded", 3, "http_403")
    assert status["status"] == "active" and status["lastFailureAt"]

    assert _profile().status_code == 200
    status, _ = _shown(alice)
    assert (status["health"], status["consecutiveFailures"], status["reason"]) == ("healthy", 0, None)
    published = [(m["data"]["type"], m["data"].get("failures")) for m in events(expected=2)]
    assert published == [("degraded", 3), ("recovered", None)]


def test_a_success_without_earlier_failures_writes_nothing(alice, sandbox):
    connection = firestore_client().collection("users").document("alice").collection("connections").document("gmail")
    before = connection.get().update_time
    assert _profile().status_code == 200
    assert connection.get().update_time == before


def test_an_unreachable_provider_counts_as_a_failure(alice, sandbox, monkeypatch):
    sandbox.post("/_sandbox/faults", json={"endpoint": "gmail.profile", "delay": 2, "status": 200}).raise_for_status()
    monkeypatch.setenv("PROVIDER_TIMEOUT_SECONDS", "0.5")
    reset_settings()
    try:
        with pytest.raises(Unavailable) as failed:
            _profile()
    finally:
        monkeypatch.undo()
        reset_settings()
    assert failed.value.code == "provider_unavailable"
    status, _ = _shown(alice)
    assert (status["consecutiveFailures"], status["reason"]) == (1, "unreachable")


def test_a_disconnected_service_shows_healthy_with_no_failures(user):
    status = user("bob").get("/api/v1/oauth/slack/status").json()["data"]
    assert (status["health"], status["consecutiveFailures"], status["lastFailureAt"]) == ("healthy", 0, None)


def _expire(uid: str, service: str) -> None:
    past = datetime.datetime.now(datetime.UTC) - datetime.timedelta(seconds=5)
    _connection(uid, service).update({"expiresAt": past, "refreshDueAt": past})


def _connection(uid: str, service: str):
    return firestore_client().collection("users").document(uid).collection("connections").document(service)


def test_a_revoked_grant_after_failed_calls_still_tells_the_app_and_the_audit_trail(alice, sandbox, topic_messages):
    events = topic_messages("connection-events")
    sandbox.post("/_sandbox/faults", json={"endpoint": "gmail.profile", "status": 503, "body": {}}).raise_for_status()
    with pytest.raises(Unavailable):
        _profile()
    _expire("alice", "gmail")
    sandbox.post(
        "/_sandbox/faults", json={"endpoint": "google.token", "status": 400, "body": {"error": "invalid_grant"}}
    ).raise_for_status()
    with pytest.raises(ReauthRequired):
        _profile()
    assert [(m["data"]["type"], m["data"].get("needsReauth")) for m in events(expected=1)] == [("refresh_failed", True)]
    audit = [d.to_dict() for d in firestore_client().collection("audit_log").stream()]
    assert [(a["action"], a["reason"]) for a in audit if a["action"] == "needs_reauth"] == [("needs_reauth", "invalid_grant")]


def test_failed_refreshes_degrade_too_and_one_success_recovers_once(user, sandbox, topic_messages, monkeypatch):
    assert connect(user("alice"), "slack")["outcome"] == "success"
    events = topic_messages("connection-events")
    monkeypatch.setenv("TOKEN_REFRESH_COOLDOWN_SECONDS", "30")
    reset_settings()
    _expire("alice", "slack")
    sandbox.post("/_sandbox/faults", json={"endpoint": "slack.oauth.v2.access", "count": 9, "status": 500, "body": {}})
    try:
        for episode in range(3):
            clock.set_offset(31 * episode)
            with pytest.raises(Unavailable):
                get_access_token("alice", "slack")
        status = user("alice").get("/api/v1/oauth/slack/status").json()["data"]
        assert (status["health"], status["consecutiveFailures"], status["status"]) == ("degraded", 3, "active")
        clock.set_offset(31 * 3)
        assert get_access_token("alice", "slack").startswith("xoxp-")
    finally:
        clock.set_offset(0)
        monkeypatch.undo()
        reset_settings()
    assert user("alice").get("/api/v1/oauth/slack/status").json()["data"]["health"] == "healthy"
    published = [m["data"]["type"] for m in events(expected=4, timeout=3)]
    assert published == ["refresh_failed", "degraded", "recovered"]
