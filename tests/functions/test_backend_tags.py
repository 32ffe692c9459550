"""Connection tags through the real stack: the backend sets (replaces) them with clear validation
errors, lists connections by tag page by page with an opaque cursor, and the tags show in the
user's status, export and connection events, survive a reconnect and go with an erasure."""

import datetime

import pytest
from google.cloud.firestore_v1.base_query import FieldFilter

from common.platform.clients import firestore_client
from common.stores import erasures
from tests.backend_helpers import BACKEND_ACCOUNT
from tests.functions.test_oauth_flow import connect
from tests.helpers import documents_mentioning
from tests.oauth_helpers import held_tokens

ACME = {"organizationId": "org-acme-7", "endUserEmail": "alice@acme.example", "plan": "team"}


def _connect_gmail(user, uid: str) -> None:
    assert connect(user(uid), "gmail", email=f"{uid}@example.com")["outcome"] == "success"


def _tag(backend, uid: str, tags: dict, service: str = "gmail"):
    return backend().put(f"/api/v1/users/{uid}/connections/{service}/tags", json={"tags": tags})


def _listed(backend, **params):
    return backend().get("/api/v1/connections", params=params)


def _audit(action: str) -> list[dict]:
    entries = firestore_client().collection("audit_log").where(filter=FieldFilter("action", "==", action)).stream()
    return [entry.to_dict() for entry in entries]


def test_tags_are_set_replaced_and_shown_in_status_and_export(backend, user):
    _connect_gmail(user, "alice")
    reply = _tag(backend, "alice", ACME)
    assert reply.status_code == 200, reply.text
    assert reply.json()["data"] == {"uid": "alice", "service": "gmail", "connectionId": "gmail", "tags": ACME}
    alice = user("alice")
    assert alice.get("/api/v1/oauth/gmail/status").json()["data"]["tags"] == ACME
    assert alice.get("/api/v1/oauth/connections").json()["data"]["connections"][0]["tags"] == ACME
    assert alice.get("/api/v1/me/export").json()["data"]["collections"]["connections"]["gmail"]["tags"] == ACME
    assert alice.get("/api/v1/oauth/slack/status").json()["data"]["tags"] == {}

    assert _tag(backend, "alice", {"organizationId": "org-globex"}).status_code == 200  # replaced, not merged
    assert alice.get("/api/v1/oauth/gmail/status").json()["data"]["tags"] == {"organizationId": "org-globex"}
    assert _listed(backend, **{"tag.plan": "team"}).json()["data"]["connections"] == []

    entries = _audit("backend_tags_set")
    assert [(e["uid"], e["service"], e["backend"]) for e in entries] == [("alice", "gmail", BACKEND_ACCOUNT)] * 2
    assert not any(value in str(entries) for value in ACME.values())  # the keys only, never a value


@pytest.mark.parametrize(
    "body, says",
    [
        ({"tags": {f"k{n}": "v" for n in range(11)}}, "at most 10 tags"),
        ({"tags": {"org.id": "x"}}, "is not a letter, then at most 63"),
        ({"tags": {"9lives": "x"}}, "is not a letter"),
        ({"tags": {"k" * 65: "x"}}, "is not a letter"),
        ({"tags": {"organizationId": "x" * 257}}, "1 to 256 characters"),
        ({"tags": {"organizationId": ""}}, "1 to 256 characters"),
        ({"tags": {"organizationId": 7}}, "1 to 256 characters"),
        ({"tags": {"organizationId": "a\nb"}}, "without control characters"),
        ({"tags": {"endUserEmail": "not an email"}}, "endUserEmail must be an email address"),
        ({"tags": ["organizationId"]}, 'The body must be {"tags"'),
        ({"organizationId": "x"}, 'The body must be {"tags"'),
        ({"tags": {}, "more": 1}, 'The body must be {"tags"'),
    ],
)
def test_invalid_tags_are_refused_with_what_is_wrong(backend, user, body, says):
    _connect_gmail(user, "alice")
    assert _tag(backend, "alice", {"organizationId": "kept"}).status_code == 200
    reply = backend().put("/api/v1/users/alice/connections/gmail/tags", json=body)
    assert reply.status_code == 400 and reply.json()["error"]["code"] == "invalid_tags", reply.text
    assert says in reply.json()["error"]["message"]
    assert user("alice").get("/api/v1/oauth/gmail/status").json()["data"]["tags"] == {"organizationId": "kept"}


def test_a_body_that_is_not_json_and_a_missing_connection(backend, user):
    _connect_gmail(user, "alice")
    path = "/api/v1/users/alice/connections/gmail/tags"
    not_json = backend().put(path, data="{", headers={"Content-Type": "application/json"})
    assert not_json.status_code == 400 and not_json.json()["error"]["code"] == "invalid_json"
    form = backend().put(path, data="tags=x", headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert form.status_code == 415
    missing = _tag(backend, "alice", {"organizationId": "x"}, service="slack")
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "not_connected"
    slack = firestore_client().collection("users").document("alice").collection("connections").document("slack")
    assert slack.get().exists is False


def test_listing_by_tag_pages_with_a_cursor_and_never_holds_a_token(backend, user):
    members = ["u1", "u2", "u3", "u4", "u5"]
    for uid in [*members, "outsider"]:
        _connect_gmail(user, uid)
    for uid in members:
        assert _tag(backend, uid, {"organizationId": "org-acme-7", "endUserEmail": f"{uid}@acme.example"}).status_code == 200
    assert _tag(backend, "outsider", {"organizationId": "org-globex"}).status_code == 200

    seen, cursor, pages = [], None, 0
    while True:
        reply = _listed(backend, **{"tag.organizationId": "org-acme-7", "pageSize": 2, **({"cursor": cursor} if cursor else {})})
        assert reply.status_code == 200, reply.text
        data = reply.json()["data"]
        pages += 1
        assert len(data["connections"]) <= 2
        seen += [(c["uid"], c["service"]) for c in data["connections"]]
        for connection in data["connections"]:
            assert connection["tags"]["organizationId"] == "org-acme-7" and connection["status"] == "active"
        issued = [token for uid in members for token in held_tokens(uid)["gmail"].values()]
        assert not any(token in reply.text for token in issued) and "accessToken" not in reply.text
        cursor = data["nextCursor"]
        if cursor is None:
            break
        assert "users/" not in cursor  # opaque
    assert sorted(seen) == [(uid, "gmail") for uid in members] and len(set(seen)) == 5 and pages == 3

    both = _listed(backend, **{"tag.organizationId": "org-acme-7", "tag.endUserEmail": "u3@acme.example"})
    assert [c["uid"] for c in both.json()["data"]["connections"]] == ["u3"]
    listings = _audit("backend_connections_listed")  # the audit log has no order among entries of one instant
    assert all(entry["uid"] is None and entry["backend"] == BACKEND_ACCOUNT for entry in listings)
    assert sorted(entry["tagKeys"] for entry in listings) == [["endUserEmail", "organizationId"]] + [["organizationId"]] * 3
    assert "org-acme-7" not in str(_audit("backend_connections_listed"))


@pytest.mark.parametrize(
    "params, code",
    [
        ({}, "missing_tag_filter"),
        ({"pageSize": "2"}, "missing_tag_filter"),
        ({"tag.organizationId": "x", "pageSize": "0"}, "invalid_page_size"),
        ({"tag.organizationId": "x", "pageSize": "201"}, "invalid_page_size"),
        ({"tag.organizationId": "x", "pageSize": "two"}, "invalid_page_size"),
        ({"tag.organizationId": "x", "cursor": "bm90IGEgY3Vyc29y"}, "invalid_cursor"),
        ({"tag.organizationId": "x", "cursor": "%%%"}, "invalid_cursor"),
        ({"tag.org.id": "x"}, "invalid_tags"),
        ({"tag.organizationId": ""}, "invalid_tags"),
        ({"tag.organizationId": "x", "limit": "3"}, "invalid_query"),
    ],
)
def test_listing_refuses_bad_queries(backend, params, code):
    reply = _listed(backend, **params)
    assert reply.status_code == 400 and reply.json()["error"]["code"] == code, reply.text


def test_a_repeated_tag_filter_is_refused(backend):
    reply = backend().get("/api/v1/connections?tag.organizationId=a&tag.organizationId=b")
    assert reply.status_code == 400 and reply.json()["error"]["code"] == "invalid_query"


def test_connection_events_carry_the_tags_and_a_reconnect_keeps_them(backend, user, topic_messages):
    _connect_gmail(user, "alice")
    assert _tag(backend, "alice", ACME).status_code == 200
    events = topic_messages("connection-events")
    _connect_gmail(user, "alice")  # the same account again
    assert user("alice").get("/api/v1/oauth/gmail/status").json()["data"]["tags"] == ACME
    other = connect(user("alice"), "gmail", email="alice.other@example.com")["connectionId"]  # another account
    statuses = {
        c["connectionId"]: c["tags"] for c in user("alice").get("/api/v1/oauth/connections").json()["data"]["connections"]
    }
    assert statuses == {"gmail": ACME, other: {}}  # tags describe a connection: the other account's has none
    assert user("alice").delete("/api/v1/oauth/gmail/disconnect", params={"connectionId": "gmail"}).status_code == 200
    published = [m["data"] for m in events(expected=3)]
    assert [(e["type"], e["connectionId"], e["tags"]) for e in published] == [
        ("connected", "gmail", ACME),
        ("connected", other, {}),
        ("disconnected", "gmail", ACME),
    ]


def test_erasure_removes_the_tags(backend, user):
    _connect_gmail(user, "alice")
    _connect_gmail(user, "bob")
    assert _tag(backend, "alice", ACME).status_code == 200
    assert _tag(backend, "bob", {"organizationId": "org-acme-7"}).status_code == 200
    assert _listed(backend, **{"tag.organizationId": "org-acme-7"}).json()["data"]["connections"][0]["uid"] == "alice"
    assert user("alice").delete("/api/v1/me").status_code == 200
    assert documents_mentioning(*ACME.values()) == [("users/bob/connections/gmail", "org-acme-7")]
    listed = _listed(backend, **{"tag.organizationId": "org-acme-7"}).json()["data"]["connections"]
    assert [c["uid"] for c in listed] == ["bob"]
    assert _tag(backend, "alice", ACME).json()["error"]["code"] == "not_connected"


def test_a_refresh_failure_event_carries_the_tags_and_empty_tags_clear(backend, user, sandbox, topic_messages):
    _connect_gmail(user, "alice")
    assert _tag(backend, "alice", ACME).status_code == 200
    events = topic_messages("connection-events")
    past = datetime.datetime.now(datetime.UTC) - datetime.timedelta(seconds=5)
    connection = firestore_client().collection("users").document("alice").collection("connections").document("gmail")
    connection.update({"expiresAt": past, "refreshDueAt": past})
    sandbox.post("/_sandbox/faults", json={"endpoint": "google.token", "status": 400, "body": {"error": "invalid_grant"}})
    assert backend().get("/api/v1/users/alice/connections/gmail/credentials").status_code == 409
    (failed,) = [m["data"] for m in events(expected=1)]
    assert failed["type"] == "refresh_failed" and failed["needsReauth"] is True and failed["tags"] == ACME
    assert _tag(backend, "alice", {}).json()["data"]["tags"] == {}
    assert user("alice").get("/api/v1/oauth/gmail/status").json()["data"]["tags"] == {}


def test_tags_and_their_audit_entry_land_together_or_not_at_all(backend, user):
    _connect_gmail(user, "alice")
    assert _tag(backend, "alice", ACME).status_code == 200
    erasures.begin("alice")  # an erasure running: the change and its entry are refused in one transaction
    reply = _tag(backend, "alice", {"plan": "free"})
    assert reply.status_code == 409 and reply.json()["error"]["code"] == "user_erased", reply.text
    stored = firestore_client().collection("users").document("alice").collection("connections").document("gmail").get()
    assert stored.get("tags") == ACME and len(_audit("backend_tags_set")) == 1
