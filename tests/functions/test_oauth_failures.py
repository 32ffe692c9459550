"""The OAuth flow under attack and under provider failure: every callback failure is a redirect
with a reason, never a 500 page, and never a connection that should not exist."""

import concurrent.futures
import datetime
import urllib.parse

import pytest

from common.oauth.oauth_protocol import state_key
from common.platform.clients import firestore_client
from local.consent_browser import Browser, callback_url, decide
from tests.functions.test_oauth_flow import ACCOUNTS, connect, start
from tests.oauth_helpers import google_access_tokens, landed

GMAIL_PROFILE = "/gmail/v1/users/me/profile"
CALENDAR_EVENTS = "/calendar/v3/calendars/primary/events"
GMAIL_SCOPE = "https://www.googleapis.com/auth/gmail.readonly"
VICTIM_SLACK = {"team_id": "T0VICTIM", "team_name": "Victim Inc", "user_id": "U0VICTIM"}


def _with_query(url: str, **params: str) -> str:
    parts = urllib.parse.urlsplit(url)
    query = dict(urllib.parse.parse_qsl(parts.query), **params)
    return urllib.parse.urlunsplit(parts._replace(query=urllib.parse.urlencode(query)))


def _with_state(url: str, state: str) -> str:
    return _with_query(url, state=state)


def _bearer(token: str) -> dict:
    return {"Authorization": f"Bearer {token}"}


def _status(user, uid: str, service: str) -> dict:
    return user(uid).get(f"/api/v1/oauth/{service}/status").json()["data"]


def test_tampered_state(user):
    browser = user("alice")
    url = callback_url(browser, start(browser, "slack")["authUrl"], **ACCOUNTS["slack"])
    state = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(url).query))["state"]
    tampered = state[:-2] + ("AA" if state[-2:] != "AA" else "BB")
    assert landed(browser.get(_with_state(url, tampered)))["reason"] == "invalid_state"
    assert landed(browser.get(_with_state(url, "")))["reason"] == "invalid_state"
    assert landed(browser.get(_with_state(url, "x" * 5000)))["reason"] == "invalid_state"
    assert landed(browser.get(url))["outcome"] == "success"  # the genuine state still works


def test_replayed_state(user):
    browser = user("alice")
    url = callback_url(browser, start(browser, "gmail")["authUrl"], email="alice@example.com")
    assert landed(browser.get(url))["outcome"] == "success"
    assert landed(browser.get(url)) == {"outcome": "failure", "service": "gmail", "reason": "invalid_state"}


def _expire(state: str) -> None:
    past = datetime.datetime.now(datetime.UTC) - datetime.timedelta(seconds=1)
    firestore_client().collection("oauth_states").document(state_key(state)).update({"expiresAt": past})


def test_expired_state_at_the_callback(user):
    browser = user("alice")
    started = start(browser, "slack")
    url = callback_url(browser, started["authUrl"], **ACCOUNTS["slack"])
    _expire(started["state"])
    assert landed(browser.get(url))["reason"] == "expired_state"
    assert not firestore_client().collection("oauth_states").document(state_key(started["state"])).get().exists


def test_states_expire_after_ten_minutes(user):
    started = start(user("alice"), "slack")
    record = firestore_client().collection("oauth_states").document(state_key(started["state"])).get().to_dict()
    assert (record["expiresAt"] - record["createdAt"]).total_seconds() == 600
    assert record["uid"] == "alice" and record["service"] == "slack"


def test_user_a_state_cannot_be_used_by_user_b(user):
    alice, bob = user("alice"), user("bob")
    alice_url = callback_url(alice, start(alice, "slack")["authUrl"], **ACCOUNTS["slack"])
    alice_state = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(alice_url).query))["state"]
    # bob approves his own Slack account in his own flow, then swaps in alice's state
    bob_url = callback_url(bob, start(bob, "slack")["authUrl"], team_id="T0EVIL", user_id="U0BOB", team_name="Evil")
    assert landed(bob.get(_with_state(bob_url, alice_state)))["reason"] == "invalid_state"
    assert _status(user, "bob", "slack")["connected"] is False
    # alice's own flow is untouched and still completes
    assert landed(alice.get(alice_url))["outcome"] == "success"
    assert _status(user, "alice", "slack")["account"]["userId"] == "U0ALICE"


def test_an_attackers_auth_url_cannot_link_a_victims_account(user):
    """Mallory starts a flow and sends her authUrl to a victim, who consents with their own account."""
    mallory = user("mallory")
    lure = start(mallory, "slack")["authUrl"]
    victim_browser = Browser()
    reply = decide(victim_browser, lure, team_id="T0VICTIM", team_name="Victim Inc", user_id="U0VICTIM")
    assert landed(reply)["reason"] == "invalid_state"
    assert _status(user, "mallory", "slack")["connected"] is False
    owner = firestore_client().collection("account_index").document("slack:T0VICTIM%3AU0VICTIM").get()
    assert not owner.exists


def test_concurrent_double_callback_connects_once(user, sandbox):
    browser = user("alice")
    url = callback_url(browser, start(browser, "gmail")["authUrl"], email="alice@example.com")
    sandbox.delete("/_sandbox/calls")
    with concurrent.futures.ThreadPoolExecutor(max_workers=4) as pool:
        replies = list(pool.map(lambda _: landed(browser.get(url)), range(4)))
    outcomes = sorted(r.get("reason", r["outcome"]) for r in replies)
    assert outcomes == ["invalid_state", "invalid_state", "invalid_state", "success"]
    assert sandbox.get("/_sandbox/calls").json()["google.token"] == 1


@pytest.mark.parametrize(
    "method, path",
    [
        ("GET", "/api/v1/oauth/slack/start"),
        ("GET", "/api/v1/oauth/gmail/status"),
        ("GET", "/api/v1/oauth/connections"),
        ("DELETE", "/api/v1/oauth/calendar/disconnect"),
    ],
)
def test_bearer_token_is_required(api, id_token, method, path):
    forged = id_token("alice").rsplit(".", 1)[0] + ".c2lnbmF0dXJl"
    for authorization, code in [
        (None, "missing_token"),
        (f"Bearer {id_token('alice', lifetime=60, iat_offset=-3600)}", "token_expired"),
        (f"Bearer {forged}", "invalid_token"),
    ]:
        reply = api.request(method, path, headers={"Authorization": authorization} if authorization else {})
        assert reply.status_code == 401 and reply.json()["error"]["code"] == code


@pytest.mark.parametrize(
    "method, path",
    [
        ("GET", "/api/v1/oauth/trello/start"),
        ("GET", "/api/v1/oauth/trello/status"),
        ("DELETE", "/api/v1/oauth/trello/disconnect"),
        ("GET", "/api/v1/oauth/trello/callback?code=x&state=y"),
    ],
)
def test_unknown_service_is_a_404_envelope(user, method, path):
    reply = user("alice").request(method, path)
    assert reply.status_code == 404
    assert reply.json() == {
        "success": False,
        "error": {
            "code": "unknown_service",
            "message": "Unknown service: use slack, gmail, calendar, asana, notion, outlookmail or outlookcalendar",
        },
    }


@pytest.mark.parametrize(
    "service, endpoint, fault",
    [
        ("slack", "slack.oauth.v2.access", {"status": 503, "body": {"ok": False, "error": "service_unavailable"}}),
        ("slack", "slack.oauth.v2.access", {"status": 200, "body": {"ok": False, "error": "invalid_code"}}),
        ("slack", "slack.oauth.v2.access", {"status": 200, "body": {"ok": True}}),
        ("gmail", "google.token", {"status": 500, "body": {"error": "server_error"}}),
        ("gmail", "google.token", {"status": 400, "body": {"error": "invalid_grant", "error_description": "Bad Request"}}),
        ("calendar", "google.userinfo", {"status": 503, "body": {}}),
    ],
)
def test_provider_failures_on_exchange(user, sandbox, service, endpoint, fault):
    sandbox.post("/_sandbox/faults", json={"endpoint": endpoint, **fault}).raise_for_status()
    alice = user("alice")
    reply = decide(alice, start(alice, service)["authUrl"], **ACCOUNTS[service])
    assert landed(reply) == {"outcome": "failure", "service": service, "reason": "exchange_failed"}
    assert _status(user, "alice", service)["connected"] is False


def test_callback_without_code_or_with_a_provider_error(user):
    browser = user("alice")
    url = callback_url(browser, start(browser, "slack")["authUrl"], **ACCOUNTS["slack"])
    no_code = url.replace("code=", "nocode=")
    assert landed(browser.get(no_code))["reason"] == "invalid_request"


def test_disconnect_is_idempotent_and_survives_a_failed_revoke(user, sandbox, topic_messages):
    alice = user("alice")
    connect(alice, "slack")
    events = topic_messages("connection-events")
    sandbox.post("/_sandbox/faults", json={"endpoint": "slack.auth.revoke", "status": 500, "body": {}}).raise_for_status()
    first = alice.delete("/api/v1/oauth/slack/disconnect").json()["data"]
    assert first["wasConnected"] is True and first["revoked"] is False
    assert _status(user, "alice", "slack")["connected"] is False
    second = alice.delete("/api/v1/oauth/slack/disconnect")
    assert second.status_code == 200 and second.json()["data"]["wasConnected"] is False
    assert [m["data"]["type"] for m in events(expected=1, timeout=3)] == ["disconnected"]
    assert firestore_client().collection("account_index").document("slack:T0ACME%3AU0ALICE").get().exists is False


def test_disconnect_removes_what_was_synced(user):
    alice = user("alice")
    connect(alice, "slack")
    user_doc = firestore_client().collection("users").document("alice")
    for i in range(3):
        user_doc.collection("slack_activity").document(f"e{i}").set({"n": i})
        user_doc.collection("action_items").document(f"a{i}").set({"n": i})
    user_doc.collection("mail").document("m1").set({"kept": True})
    removed = alice.delete("/api/v1/oauth/slack/disconnect").json()["data"]["removed"]
    assert removed == {"slack_activity": 3, "action_items": 3}
    assert list(user_doc.collection("slack_activity").stream()) == []
    assert user_doc.collection("mail").document("m1").get().exists  # another service's data stays


def test_disconnecting_gmail_keeps_the_google_grant_calendar_uses(user, sandbox):
    alice = user("alice")
    connect(alice, "gmail")
    connect(alice, "calendar")
    gone = alice.delete("/api/v1/oauth/gmail/disconnect").json()["data"]
    assert gone["revoked"] is None and sandbox.get("/_sandbox/revoked").json() == []
    assert _status(user, "alice", "calendar")["connected"] is True
    assert alice.delete("/api/v1/oauth/calendar/disconnect").json()["data"]["revoked"] is True


def test_disconnecting_gmail_leaves_no_token_that_reads_gmail(user, sandbox):
    """Gmail and Calendar share one Google client. After Gmail is disconnected, no token the gateway
    still holds (Calendar's access token, or one refreshed from its refresh token) may read Gmail."""
    alice = user("alice")
    connect(alice, "gmail")
    connect(alice, "calendar")
    assert alice.delete("/api/v1/oauth/gmail/disconnect").json()["data"]["wasConnected"] is True
    remaining = google_access_tokens(sandbox, "alice")
    assert len(remaining) == 2  # Calendar's stored access token, and one from its refresh token
    for token in remaining:
        denied = sandbox.get(GMAIL_PROFILE, headers=_bearer(token))
        assert denied.status_code == 403, denied.text
        assert denied.json()["error"]["status"] == "PERMISSION_DENIED"
        assert denied.json()["error"]["errors"][0]["reason"] == "insufficientPermissions"
        assert sandbox.get(CALENDAR_EVENTS, headers=_bearer(token)).status_code == 200
    calendar = _status(user, "alice", "calendar")
    assert calendar["status"] == "active" and GMAIL_SCOPE not in calendar["scopes"]


def test_disconnect_revokes_a_google_grant_that_merged_both_services(user, sandbox, topic_messages):
    """A Calendar connection made with include_granted_scopes (as the gateway used to ask) carries
    Gmail's scope, so keeping its grant would keep Gmail readable: disconnecting Gmail revokes the
    grant (Google revokes all of it) and Calendar needs re-auth, with a reason, until reconnected."""
    alice = user("alice")
    connect(alice, "gmail")
    merged = _with_query(start(alice, "calendar")["authUrl"], include_granted_scopes="true")
    assert landed(decide(alice, merged, **ACCOUNTS["calendar"]))["outcome"] == "success"
    assert GMAIL_SCOPE in _status(user, "alice", "calendar")["scopes"]
    events = topic_messages("connection-events")
    assert alice.delete("/api/v1/oauth/gmail/disconnect").json()["data"]["revoked"] is True
    calendar = _status(user, "alice", "calendar")
    assert (calendar["status"], calendar["reason"]) == ("needs_reauth", "grant_revoked")
    remaining = google_access_tokens(sandbox, "alice")
    assert remaining and all(sandbox.get(GMAIL_PROFILE, headers=_bearer(t)).status_code == 401 for t in remaining)
    published = {(m["data"]["type"], m["data"]["service"]) for m in events(expected=2)}
    assert published == {("disconnected", "gmail"), ("needs_reauth", "calendar")}
    assert connect(alice, "calendar")["outcome"] == "success"
    calendar = _status(user, "alice", "calendar")
    assert calendar["status"] == "active" and GMAIL_SCOPE not in calendar["scopes"]


def test_a_stolen_slack_code_cannot_be_injected_into_another_flow(user):
    """RFC 9700 section 4.5: a victim's unused code, sent to the callback with the attacker's own state
    and cookie, must not link the victim's Slack user to the attacker."""
    victim = user("victim")
    victim_url = callback_url(victim, start(victim, "slack")["authUrl"], **VICTIM_SLACK)
    stolen = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(victim_url).query))["code"]
    mallory = user("mallory")
    own = start(mallory, "slack")  # her own state, with its cookie in her browser
    injected = mallory.get("/api/v1/oauth/slack/callback", params={"code": stolen, "state": own["state"]})
    assert landed(injected) == {"outcome": "failure", "service": "slack", "reason": "exchange_failed"}
    assert _status(user, "mallory", "slack")["connected"] is False
    assert not firestore_client().collection("account_index").document("slack:T0VICTIM%3AU0VICTIM").get().exists
    # The refused exchange spent the code (single use): the victim's own callback fails, and connecting again works.
    assert landed(victim.get(victim_url))["reason"] == "exchange_failed"
    assert connect(victim, "slack", **VICTIM_SLACK)["outcome"] == "success"
    assert _status(user, "victim", "slack")["account"]["userId"] == "U0VICTIM"
