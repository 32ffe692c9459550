"""The OAuth connection flow end to end: a real HTTP client, our functions on the local host,
the sandbox's consent pages and token endpoints, Firestore and Pub/Sub emulators."""

import pytest

from common.platform.clients import firestore_client
from local.consent_browser import decide
from tests.helpers import every_document
from tests.oauth_helpers import landed

SERVICES = ["slack", "gmail", "calendar"]
ACCOUNTS = {
    "slack": {"team_id": "T0ACME", "team_name": "Acme", "user_id": "U0ALICE"},
    "gmail": {"email": "alice@example.com"},
    "calendar": {"email": "alice@example.com"},
}


def start(session, service: str, **params) -> dict:
    reply = session.get(f"/api/v1/oauth/{service}/start", params=params)
    assert reply.status_code == 200, reply.text
    return reply.json()["data"]


def connect(session, service: str, **account) -> dict:
    """Connect as the browser `session` (it calls start, consents and lands on the callback)."""
    return landed(decide(session, start(session, service)["authUrl"], **(account or ACCOUNTS[service])))


@pytest.mark.parametrize("service", SERVICES)
def test_connect_status_list_disconnect(user, sandbox, topic_messages, service):
    alice = user("alice")
    events = topic_messages("connection-events")

    assert connect(alice, service) == {"outcome": "success", "service": service, "connectionId": service}

    status = alice.get(f"/api/v1/oauth/{service}/status").json()["data"]
    assert status["connected"] is True and status["status"] == "active"
    assert status["expiresAt"] and status["isExpired"] is False
    assert status["account"] == (
        {"teamId": "T0ACME", "teamName": "Acme", "userId": "U0ALICE"} if service == "slack" else {"email": "alice@example.com"}
    )
    assert set(status["scopes"]) >= (
        {"channels:history", "channels:read", "users:read"}
        if service == "slack"
        else {"openid", f"https://www.googleapis.com/auth/{service}.readonly"}
    )
    listed = alice.get("/api/v1/oauth/connections").json()["data"]["connections"]
    assert [c["service"] for c in listed] == [service]
    assert set(listed[0]) == {
        "service",
        "connectionId",
        "connected",
        "status",
        "expiresAt",
        "isExpired",
        "scopes",
        "account",
        "connectedAt",
        "reason",
        "tags",
        "health",
        "consecutiveFailures",
        "lastFailureAt",
    }

    gone = alice.delete(f"/api/v1/oauth/{service}/disconnect")
    assert gone.status_code == 200 and gone.json()["data"]["revoked"] is True
    assert len(sandbox.get("/_sandbox/revoked").json()) == 1
    assert alice.get(f"/api/v1/oauth/{service}/status").json()["data"]["connected"] is False
    assert alice.get("/api/v1/oauth/connections").json()["data"]["connections"] == []

    published = events(expected=2)
    assert [(m["data"]["type"], m["data"]["uid"], m["data"]["service"], m["data"]["connectionId"]) for m in published] == [
        ("connected", "alice", service, service),
        ("disconnected", "alice", service, service),
    ]
    assert all(m["attributes"]["type"] == m["data"]["type"] for m in published)
    assert not any(key in str(m) for m in published for key in ("token", "xox", "ya29"))


def test_replies_never_contain_a_token(user, sandbox):
    alice = user("alice")
    for service in SERVICES:
        connect(alice, service, **ACCOUNTS[service])
    issued = sandbox.get("/_sandbox/issued").json()
    replies = [alice.get("/api/v1/oauth/connections").text] + [alice.get(f"/api/v1/oauth/{s}/status").text for s in SERVICES]
    assert issued and not any(token in reply for token in issued for reply in replies)


def test_no_plaintext_token_anywhere_in_firestore(user, sandbox):
    alice = user("alice")
    for service in SERVICES:
        connect(alice, service, **ACCOUNTS[service])
    start(alice, "gmail")  # a pending state holds an encrypted PKCE verifier
    issued = sandbox.get("/_sandbox/issued").json()
    assert len(issued) >= 5
    documents = list(every_document())
    stored = [s for _, strings in documents for s in strings]
    assert len(documents) >= 7
    leaks = [token for token in issued if any(token in s for s in stored)]
    assert leaks == []
    ciphertexts = [s for s in stored if s.startswith("v1.dev-1.")]
    assert len(ciphertexts) >= 7  # access + refresh tokens and the pending verifier, all encrypted


def test_deny_at_the_provider(user):
    alice = user("alice")
    reply = decide(alice, start(alice, "gmail")["authUrl"], decision="deny")
    assert landed(reply) == {"outcome": "failure", "service": "gmail", "reason": "access_denied"}
    assert user("alice").get("/api/v1/oauth/gmail/status").json()["data"]["connected"] is False


def test_google_consent_with_a_scope_unticked(user):
    alice = user("alice")
    reply = decide(
        alice,
        start(alice, "calendar")["authUrl"],
        untick=("https://www.googleapis.com/auth/calendar.readonly",),
        email="alice@example.com",
    )
    assert landed(reply) == {"outcome": "failure", "service": "calendar", "reason": "insufficient_scope"}
    assert user("alice").get("/api/v1/oauth/calendar/status").json()["data"]["connected"] is False


def test_slack_consent_with_a_scope_unticked(user):
    alice = user("alice")
    reply = decide(alice, start(alice, "slack")["authUrl"], untick=("channels:history",), **ACCOUNTS["slack"])
    assert landed(reply)["reason"] == "insufficient_scope"


def test_an_account_connected_by_another_user_is_refused(user, sandbox):
    assert connect(user("alice"), "slack")["outcome"] == "success"
    assert connect(user("bob"), "slack", **ACCOUNTS["slack"]) == {
        "outcome": "failure",
        "service": "slack",
        "reason": "account_in_use",
    }
    assert user("alice").get("/api/v1/oauth/slack/status").json()["data"]["connected"] is True
    assert user("bob").get("/api/v1/oauth/slack/status").json()["data"]["connected"] is False
    owner = firestore_client().collection("account_index").document("slack:T0ACME%3AU0ALICE").get()
    assert owner.get("uid") == "alice"


def test_each_uid_meets_its_own_sandbox_accounts(user, sandbox):
    """What the console does for "sign in as another uid": the Google consent is hinted with the
    uid's sandbox address (loginHint -> login_hint), the Slack one with the sandbox's own sandbox_uid;
    two uids connecting in turn connect two accounts each, and picking another's account is refused."""
    connected = {}
    for uid in ("alice", "bob"):
        session, accounts = user(uid), sandbox.get("/_sandbox/accounts", params={"uid": uid}).json()
        slack_url = start(session, "slack")["authUrl"] + f"&sandbox_uid={uid}"
        google_url = start(session, "gmail", loginHint=accounts["google"]["email"])["authUrl"]
        assert landed(decide(session, slack_url))["outcome"] == landed(decide(session, google_url))["outcome"] == "success"
        listed = session.get("/api/v1/oauth/connections").json()["data"]["connections"]
        connected[uid] = {c["service"]: c["account"] for c in listed}
        assert connected[uid]["slack"]["userId"] == accounts["slack"]["userId"]
        assert connected[uid]["gmail"]["email"] == accounts["google"]["email"] == f"{uid}@example.com"
    assert connected["alice"]["slack"]["userId"] != connected["bob"]["slack"]["userId"]
    carol = user("carol")
    taken = start(carol, "gmail", loginHint="carol@example.com")["authUrl"]
    assert landed(decide(carol, taken, email="alice@example.com"))["reason"] == "account_in_use"
    taken = start(carol, "slack")["authUrl"] + "&sandbox_uid=carol"
    assert landed(decide(carol, taken, user_id=connected["bob"]["slack"]["userId"]))["reason"] == "account_in_use"


def test_a_login_hint_goes_to_google_only(user):
    alice = user("alice")
    assert "login_hint=alice%40example.com" in start(alice, "calendar", loginHint="alice@example.com")["authUrl"]
    assert "login_hint" not in start(alice, "slack", loginHint="alice@example.com")["authUrl"]  # Slack takes none
    assert "login_hint" not in start(alice, "gmail")["authUrl"]
    too_long = alice.get("/api/v1/oauth/gmail/start", params={"loginHint": "a" * 255})
    assert too_long.status_code == 400 and too_long.json()["error"]["code"] == "invalid_login_hint"


def test_connecting_another_account_adds_a_connection_and_leaves_the_first_as_it_was(user, sandbox):
    alice = user("alice")
    assert connect(alice, "gmail", email="old@example.com")["connectionId"] == "gmail"
    mail = firestore_client().collection("users").document("alice").collection("mail")
    mail.document("m-old").set({"from": "old"})  # stored before connection ids: the service-named connection's
    second = connect(alice, "gmail", email="new@example.com")["connectionId"]
    assert second.startswith("gmail-")
    index = {doc.id: (doc.get("uid"), doc.get("connectionId")) for doc in firestore_client().collection("account_index").stream()}
    assert index == {"gmail:old%40example.com": ("alice", "gmail"), "gmail:new%40example.com": ("alice", second)}
    assert sandbox.get("/_sandbox/revoked").json() == []  # nothing retired
    assert alice.delete("/api/v1/oauth/gmail/disconnect", params={"connectionId": second}).json()["data"]["removed"] == {
        "mail": 0
    }
    assert mail.document("m-old").get().exists
    assert connect(user("bob"), "gmail", email="old@example.com")["reason"] == "account_in_use"
    assert alice.delete("/api/v1/oauth/gmail/disconnect").json()["data"]["removed"] == {"mail": 1}
    assert connect(user("bob"), "gmail", email="old@example.com")["outcome"] == "success"


def test_reconsent_without_refresh_token_keeps_the_stored_one(user, sandbox):
    alice = user("alice")
    connect(alice, "gmail")
    ref = firestore_client().collection("users").document("alice").collection("connections").document("gmail")
    first = ref.get().to_dict()
    sandbox.patch("/_sandbox/config", json={"google_reconsent_refresh_token": False}).raise_for_status()
    assert connect(alice, "gmail")["outcome"] == "success"
    second = ref.get().to_dict()
    assert second["accessToken"] != first["accessToken"]
    assert second["refreshToken"] == first["refreshToken"] is not None


def test_return_to_must_be_on_the_allow_list(user):
    alice = user("alice")
    evil = alice.get("/api/v1/oauth/slack/start", params={"returnTo": "https://evil.example/steal"})
    assert evil.status_code == 400 and evil.json()["error"]["code"] == "invalid_return_to"
    failure_target = "https://app.example.test/failed"
    reply = decide(alice, start(alice, "slack", returnTo=failure_target)["authUrl"], decision="deny")
    assert reply.headers["Location"].startswith(failure_target + "?")


def test_start_reply_shape_and_state_cookie(user):
    alice = user("alice")
    reply = alice.get("/api/v1/oauth/gmail/start")
    data = reply.json()["data"]
    assert set(data) == {"authUrl", "state", "expiresAt"}
    assert len(data["state"]) >= 43  # 256 random bits, base64url
    cookie = reply.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Path=/api/v1/oauth/gmail/" in cookie
    assert data["state"] not in cookie


def test_google_auth_url_has_pkce_and_offline_parameters(user):
    location = start(user("alice"), "gmail")["authUrl"]
    for part in (
        "response_type=code",
        "access_type=offline",
        "prompt=consent",
        "code_challenge_method=S256",
        "code_challenge=",
        "redirect_uri=",
        "client_id=",
    ):
        assert part in location
    assert "include_granted_scopes" not in location  # each service's token carries its own scopes only


def test_slack_auth_url_asks_for_user_scopes_with_pkce(user):
    location = start(user("alice"), "slack")["authUrl"]
    assert "user_scope=channels%3Ahistory%2Cchannels%3Aread%2Cusers%3Aread" in location
    assert "code_challenge=" in location and "code_challenge_method=S256" in location
