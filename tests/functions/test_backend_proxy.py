"""The backend form of the proxy through the real stack: the app's backend acts on a user's
connection it names, with that user's token, each call audited before it is made; an end user's
token never gets in, and a refused path or service writes nothing."""

import pytest
from google.cloud.firestore_v1.base_query import FieldFilter

from common.platform.clients import firestore_client
from common.stores import erasures
from tests.functions.test_oauth_flow import connect
from tests.functions.test_proxy import CALLS
from tests.oauth_helpers import held_tokens


def _audit() -> list[dict]:
    query = firestore_client().collection("audit_log").where(filter=FieldFilter("action", "==", "backend_proxy"))
    return [doc.to_dict() for doc in query.stream()]


@pytest.fixture
def alice_slack(user, sandbox):
    alice = user("alice")
    assert connect(alice, "slack", team_id="T0ACME", team_name="Acme", user_id="U0ALICE")["outcome"] == "success"
    sandbox.delete("/_sandbox/calls").raise_for_status()
    return alice


def test_the_backend_calls_slack_as_the_user_it_names_and_is_audited(backend, alice_slack, sandbox):
    path, endpoint = CALLS["slack"]
    reply = backend().get(f"/api/v1/users/alice/proxy/slack/{path}?limit=5")
    assert reply.status_code == 200 and reply.json()["ok"] is True
    sent = sandbox.get(f"/_sandbox/requests/{endpoint}/headers").json()
    assert sent["Authorization"] == f"Bearer {held_tokens('alice')['slack']['access_token']}"
    (entry,) = _audit()
    assert {k: entry[k] for k in ("uid", "service", "method", "path")} == {
        "uid": "alice",
        "service": "slack",
        "method": "GET",
        "path": "conversations.list",
    }
    assert entry["backend"].endswith(".gserviceaccount.com") and "limit" not in str(entry)


def test_an_end_users_token_never_reaches_the_backend_proxy(alice_slack, sandbox):
    reply = alice_slack.get("/api/v1/users/alice/proxy/slack/conversations.list")
    assert reply.status_code == 401 and reply.json()["error"]["code"] == "invalid_token"
    assert sandbox.get("/_sandbox/calls").json().get("slack.conversations.list", 0) == 0 and _audit() == []


def test_another_account_is_refused(backend, alice_slack):
    reply = backend(email="intruder@other-project.iam.gserviceaccount.com").get("/api/v1/users/alice/proxy/slack/auth.test")
    assert reply.status_code == 403 and reply.json()["error"]["code"] == "backend_not_allowed" and _audit() == []


@pytest.mark.parametrize(
    ("path", "status", "code"),
    [
        ("/api/v1/users/alice/proxy/slack/..%2f..%2fevil", 400, "invalid_path"),
        ("/api/v1/users/alice/proxy/dropbox/files", 404, "unknown_service"),
        ("/api/v1/users/nobody/proxy/slack/conversations.list", 404, "not_connected"),
    ],
)
def test_refused_calls_reach_no_provider(backend, alice_slack, sandbox, path, status, code):
    reply = backend().get(path)
    assert (reply.status_code, reply.json()["error"]["code"]) == (status, code)
    assert sandbox.get("/_sandbox/calls").json().get("slack.conversations.list", 0) == 0
    if code != "not_connected":
        assert _audit() == []


def test_a_call_that_cannot_be_audited_is_not_made(backend, alice_slack, sandbox):
    path, endpoint = CALLS["slack"]
    erasures.begin("alice")  # an erasure running: the audit entry naming alice is refused
    reply = backend().get(f"/api/v1/users/alice/proxy/slack/{path}")
    assert reply.status_code == 503 and reply.json()["error"]["code"] == "audit_unavailable", reply.text
    assert sandbox.get("/_sandbox/calls").json().get(endpoint, 0) == 0 and _audit() == []
