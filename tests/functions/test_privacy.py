"""GDPR export and erasure through the local stack: the export has everything and no token; after
erasure nothing of the user remains in any collection, and the provider grants are revoked."""

from google.cloud.firestore_v1.base_query import FieldFilter

from common.platform.clients import firestore_client
from tests.functions.test_oauth_flow import connect, start
from tests.helpers import documents_mentioning, user_docs

EMAIL = "alice@example.com"


def _alice_everywhere(user, sandbox):
    alice = user("alice")
    assert connect(alice, "slack", team_id="T0ACME", team_name="Acme", user_id="U0ALICE")["outcome"] == "success"
    assert connect(alice, "gmail", email=EMAIL)["outcome"] == "success"
    assert connect(alice, "calendar", email=EMAIL)["outcome"] == "success"
    doc = firestore_client().collection("users").document("alice")
    doc.collection("slack_activity").document("Ev1").set({"text": "hello"})
    doc.collection("mail").document("m1").set({"subject": "hi", "to": EMAIL})
    start(alice, "slack")  # a pending state
    alice.get("/api/v1/flags")  # experiment assignments and exposures
    assert connect(user("bob"), "slack", team_id="T0ACME", team_name="Acme", user_id="U0BOB")["outcome"] == "success"
    return alice


def test_export_has_everything_and_no_token(user, sandbox):
    alice = _alice_everywhere(user, sandbox)
    reply = alice.get("/api/v1/me/export")
    assert reply.status_code == 200
    data = reply.json()["data"]["collections"]
    assert set(data["connections"]) == {"slack", "gmail", "calendar"}
    assert data["mail"]["m1"]["subject"] == "hi" and "Ev1" in data["slack_activity"]
    assert {"experiment_assignments", "experiment_exposures", "account_index", "oauth_states", "audit_log"} <= set(data)
    issued = sandbox.get("/_sandbox/issued").json()
    assert issued and not any(token in reply.text for token in issued)
    assert "v1.dev-1." not in reply.text and "U0BOB" not in reply.text


def test_erasure_leaves_nothing_of_the_user(user, sandbox):
    alice = _alice_everywhere(user, sandbox)
    channel = user_docs("alice", "sync_state")["calendar"]["channelId"]
    reply = alice.delete("/api/v1/me")
    assert reply.status_code == 200
    data = reply.json()["data"]
    assert set(data["disconnected"]) == {"slack", "gmail", "calendar"}
    assert len(sandbox.get("/_sandbox/revoked").json()) == 2  # Slack's token and the one Google grant
    assert sandbox.get("/_sandbox/gmail/watch", params={"email": EMAIL}).json() is None
    assert sandbox.get("/_sandbox/calendar/channels").json() == []
    assert documents_mentioning("alice", channel) == []
    erasures = [
        d.to_dict()
        for d in firestore_client().collection("audit_log").where(filter=FieldFilter("action", "==", "erase")).stream()
    ]
    assert len(erasures) == 1 and erasures[0]["uid"] is None and erasures[0]["erasureId"] == data["erasureId"]
    assert user("bob").get("/api/v1/oauth/slack/status").json()["data"]["connected"] is True  # others untouched
    assert alice.delete("/api/v1/me").status_code == 200  # idempotent


def test_connect_and_disconnect_are_audited(user):
    alice = user("alice")
    connect(alice, "slack", team_id="T0ACME", team_name="Acme", user_id="U0ALICE")
    alice.delete("/api/v1/oauth/slack/disconnect")
    actions = sorted((d.get("action"), d.get("service")) for d in firestore_client().collection("audit_log").stream())
    assert actions == [("connect", "slack"), ("disconnect", "slack")]
