"""The backend's credential fetch through the real stack: the stored token while fresh, one refresh
under the lease once it is due, 409 for a connection that needs the user, and an audit entry for
every token handed out."""

import datetime

import pytest
from google.cloud.firestore_v1.base_query import FieldFilter

from common.platform.clients import firestore_client
from common.stores import erasures
from tests.backend_helpers import BACKEND_ACCOUNT
from tests.functions.test_oauth_flow import connect
from tests.oauth_helpers import held_tokens


def _credentials(backend, uid="alice", service="gmail"):
    return backend().get(f"/api/v1/users/{uid}/connections/{service}/credentials")


def _expire(uid: str, service: str) -> None:
    past = datetime.datetime.now(datetime.UTC) - datetime.timedelta(seconds=5)
    ref = firestore_client().collection("users").document(uid).collection("connections").document(service)
    ref.update({"expiresAt": past, "refreshDueAt": past})


def _audit(action: str) -> list[dict]:
    entries = firestore_client().collection("audit_log").where(filter=FieldFilter("action", "==", action)).stream()
    return [entry.to_dict() for entry in entries]


@pytest.fixture
def connected(user, sandbox):
    def make(service: str, uid: str = "alice") -> None:
        assert connect(user(uid), service)["outcome"] == "success"
        sandbox.delete("/_sandbox/calls")

    return make


@pytest.mark.parametrize("service", ["slack", "gmail", "calendar"])
def test_a_fresh_token_is_handed_out_without_a_refresh_and_audited(backend, connected, sandbox, service):
    connected(service)
    reply = _credentials(backend, service=service)
    assert reply.status_code == 200, reply.text
    assert reply.headers["Cache-Control"] == "no-store"
    data = reply.json()["data"]
    assert data["accessToken"] == held_tokens("alice")[service]["access_token"]
    assert data["uid"] == "alice" and data["service"] == service
    expires_at = datetime.datetime.fromisoformat(data["expiresAt"])
    assert expires_at > datetime.datetime.now(datetime.UTC) + datetime.timedelta(minutes=10)
    assert sandbox.get("/_sandbox/refreshes").json() == {}
    (entry,) = _audit("backend_credentials")
    assert (entry["uid"], entry["service"], entry["backend"], entry["outcome"]) == ("alice", service, BACKEND_ACCOUNT, "ok")


def test_an_expired_token_is_refreshed_once_and_the_new_one_handed_out(backend, connected, sandbox):
    connected("gmail")
    old = held_tokens("alice")["gmail"]["access_token"]
    _expire("alice", "gmail")
    first, second = _credentials(backend).json()["data"], _credentials(backend).json()["data"]
    assert first["accessToken"] != old and first["accessToken"] == held_tokens("alice")["gmail"]["access_token"]
    assert second == first
    assert datetime.datetime.fromisoformat(first["expiresAt"]) > datetime.datetime.now(datetime.UTC)
    assert sum(sandbox.get("/_sandbox/refreshes").json().values()) == 1
    assert len(_audit("backend_credentials")) == 2


def test_a_connection_that_needs_the_user_answers_409_without_a_token(backend, connected, sandbox):
    connected("gmail")
    _expire("alice", "gmail")
    sandbox.post("/_sandbox/faults", json={"endpoint": "google.token", "status": 400, "body": {"error": "invalid_grant"}})
    for _ in range(2):  # the refresh that finds out, then the stored state
        reply = _credentials(backend)
        assert reply.status_code == 409 and reply.json()["error"]["code"] == "needs_reauth", reply.text
        assert "accessToken" not in reply.text
    assert sandbox.get("/_sandbox/calls").json().get("google.token") == 1
    refused = [(e["uid"], e["service"], e["backend"], e["outcome"]) for e in _audit("backend_credentials")]
    assert refused == [("alice", "gmail", BACKEND_ACCOUNT, "needs_reauth")] * 2  # refused fetches are audited too


def test_no_connection_unknown_service_and_unusable_uid(backend, connected):
    connected("gmail")
    assert _credentials(backend, service="slack").json()["error"]["code"] == "not_connected"
    assert _credentials(backend, uid="bob").json()["error"]["code"] == "not_connected"
    unknown = _credentials(backend, service="dropbox")
    assert unknown.status_code == 404 and unknown.json()["error"]["code"] == "unknown_service"
    assert _credentials(backend, uid="__reserved__").json()["error"]["code"] == "unknown_user"
    refused = sorted((e["uid"], e["service"], e["outcome"]) for e in _audit("backend_credentials"))
    assert refused == [("alice", "slack", "not_connected"), ("bob", "gmail", "not_connected")]  # no entry for a malformed target


def test_a_fetch_that_cannot_be_audited_hands_out_no_token(backend, connected, sandbox):
    connected("gmail")
    erasures.begin("alice")  # an erasure running: the audit entry naming alice is refused
    reply = _credentials(backend)
    assert reply.status_code == 503 and reply.json()["error"]["code"] == "audit_unavailable", reply.text
    assert held_tokens("alice")["gmail"]["access_token"] not in reply.text and "accessToken" not in reply.text
    assert _audit("backend_credentials") == []
