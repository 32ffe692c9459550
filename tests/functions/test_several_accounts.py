"""Several accounts of one service (issue 19): a user connects a personal and a work account
(Asana, Gmail, Calendar, two Slack workspaces), each its own connection with an id; every endpoint
takes that id and keeps its old behaviour when the user has one; a reconnect of an account updates
its connection; `account_in_use` still holds across users; the refresh job, health, proxy, watches,
syncs and their synced data, the app's events, export and erasure handle many; and the migration
names every stored connection in the account index, resumably."""

import datetime
import uuid

import pytest
from google.cloud.firestore_v1.base_query import FieldFilter

from common.platform.clients import firestore_client
from common.stores import connection_migration, leases
from local.bench_refresh import run_refresh
from local.consent_browser import decide
from tests.helpers import user_docs, wait_for
from tests.oauth_helpers import held_tokens, landed
from tests.slack_helpers import event_envelope, post_event

ASANA_FLAG = "integration_asana_enabled"
PAST = datetime.datetime(2020, 1, 1, tzinfo=datetime.UTC)


@pytest.fixture
def asana_user(user, flag):
    def sign_in(uid: str):
        flag(ASANA_FLAG, overrides={uid: True})
        return user(uid)

    return sign_in


def _connect(session, email: str | None, service: str = "asana", **account) -> dict:
    started = session.get(f"/api/v1/oauth/{service}/start")
    assert started.status_code == 200, started.text
    return landed(decide(session, started.json()["data"]["authUrl"], **({"email": email} if email else account)))


def _error(reply) -> str:
    return reply.json()["error"]["code"]


def _two_accounts(session) -> tuple[str, str, str, str]:
    personal, work = f"p-{uuid.uuid4().hex[:6]}@example.com", f"w-{uuid.uuid4().hex[:6]}@example.com"
    first, second = _connect(session, personal), _connect(session, work)
    assert first["outcome"] == second["outcome"] == "success"
    return personal, first["connectionId"], work, second["connectionId"]


def _index(uid: str):
    return firestore_client().collection("account_index").where(filter=FieldFilter("uid", "==", uid))


def _connections(uid: str):
    return firestore_client().collection("users").document(uid).collection("connections")


def test_a_second_account_is_a_connection_of_its_own_and_every_endpoint_takes_its_id(asana_user, sandbox):
    session = asana_user("hana")
    personal, first, work, second = _two_accounts(session)
    assert first == "asana" and second.startswith("asana-") and second != first  # the first keeps the service's name

    listed = session.get("/api/v1/oauth/connections").json()["data"]["connections"]
    assert {(c["connectionId"], c["account"]["email"]) for c in listed} == {(first, personal), (second, work)}

    ambiguous = session.get("/api/v1/oauth/asana/status")
    assert ambiguous.status_code == 409 and _error(ambiguous) == "connection_id_required"
    for connection_id, email in ((first, personal), (second, work)):
        status = session.get("/api/v1/oauth/asana/status", params={"connectionId": connection_id}).json()["data"]
        assert status["connected"] and status["connectionId"] == connection_id and status["account"]["email"] == email
    malformed = session.get("/api/v1/oauth/asana/status", params={"connectionId": "asana/../gmail"})
    assert malformed.status_code == 400 and _error(malformed) == "invalid_connection_id"
    of_another_service = session.get("/api/v1/oauth/asana/status", params={"connectionId": "notion"}).json()["data"]
    assert of_another_service["connected"] is False

    # The proxy: the provider's query is its own, so the connection is named in a header.
    refused = session.get("/api/v1/proxy/asana/users/me")
    assert refused.status_code == 409 and _error(refused) == "connection_id_required"
    for connection_id, email in ((first, personal), (second, work)):
        proxied = session.get("/api/v1/proxy/asana/users/me", headers={"X-Connection-Id": connection_id})
        assert proxied.status_code == 200 and proxied.json()["sandbox"]["email"] == email
    forwarded = {name.lower() for name in sandbox.get("/_sandbox/requests/asana.api/headers").json()}
    assert "x-connection-id" not in forwarded  # it names the connection here, and goes no further
    elsewhere = session.get("/api/v1/proxy/asana/users/me", headers={"X-Connection-Id": "notion"})
    assert elsewhere.status_code == 404 and _error(elsewhere) == "not_connected"


def test_a_reconnect_updates_its_accounts_connection_and_another_user_cannot_take_either(asana_user):
    session = asana_user("ines")
    personal, first, work, second = _two_accounts(session)
    before = held_tokens("ines")
    again = _connect(session, work)
    assert again["outcome"] == "success" and again["connectionId"] == second
    after = held_tokens("ines")
    assert sorted(after) == sorted([first, second])  # no third connection
    assert after[second]["access_token"] != before[second]["access_token"] and after[first] == before[first]

    for email in (personal, work):
        taken = _connect(asana_user("jon"), email)
        assert taken["outcome"] == "failure" and taken["reason"] == "account_in_use"


def test_disconnecting_one_leaves_the_other_and_frees_only_its_account(asana_user, sandbox):
    session = asana_user("kai")
    personal, first, work, second = _two_accounts(session)
    assert session.delete("/api/v1/oauth/asana/disconnect").status_code == 409  # which one?
    gone = session.delete("/api/v1/oauth/asana/disconnect", params={"connectionId": second}).json()["data"]
    assert gone["wasConnected"] and gone["connectionId"] == second and gone["revoked"] is True
    assert [doc.id for doc in _connections("kai").stream()] == [first]
    status = session.get("/api/v1/oauth/asana/status").json()["data"]  # one left: no id needed again
    assert status["connectionId"] == first and status["account"]["email"] == personal
    assert session.get("/api/v1/proxy/asana/users/me").json()["sandbox"]["email"] == personal

    assert _connect(asana_user("lea"), work)["outcome"] == "success"  # free again
    assert _connect(asana_user("lea"), personal)["reason"] == "account_in_use"  # still kai's


def test_without_an_id_the_only_connection_left_is_found_whichever_it_is(asana_user):
    session = asana_user("kim")
    personal, first, work, second = _two_accounts(session)
    user_document = firestore_client().collection("users").document("kim")
    assert user_document.get().get("connectionIds") == {"asana": sorted([first, second])}
    session.delete("/api/v1/oauth/asana/disconnect", params={"connectionId": first})
    assert user_document.get().get("connectionIds") == {"asana": [second]}
    status = session.get("/api/v1/oauth/asana/status").json()["data"]
    assert status["connectionId"] == second and status["account"]["email"] == work
    gone = session.delete("/api/v1/oauth/asana/disconnect").json()["data"]  # no id: the only one, named in the reply
    assert (gone["wasConnected"], gone["connectionId"]) == (True, second)
    assert session.get("/api/v1/oauth/asana/status").json()["data"]["connected"] is False

    # Stored before several accounts: no list on the user's document, the service-named connection alone.
    assert _connect(session, personal)["connectionId"] == first
    user_document.delete()
    assert session.get("/api/v1/oauth/asana/status").json()["data"]["connectionId"] == first
    assert _connect(session, work)["connectionId"] == second  # the list starts again with both
    assert user_document.get().get("connectionIds") == {"asana": sorted([first, second])}
    assert session.get("/api/v1/oauth/asana/status").status_code == 409


def test_the_refresh_job_refreshes_each_connection_once(asana_user, sandbox):
    session = asana_user("mia")
    _, first, _, second = _two_accounts(session)
    for connection_id in (first, second):
        _connections("mia").document(connection_id).update({"refreshDueAt": PAST, "expiresAt": PAST})
    before = held_tokens("mia")
    sandbox.delete("/_sandbox/calls")
    run = run_refresh()
    assert (run["due"], run["refreshed"], run["failed"]) == (2, 2, 0)
    assert sandbox.get("/_sandbox/calls").json().get("asana.token") == 2
    after = held_tokens("mia")
    assert all(after[c]["access_token"] != before[c]["access_token"] for c in (first, second))


def test_health_counts_against_the_connection_that_failed(asana_user, sandbox):
    session = asana_user("ned")
    _, first, _, second = _two_accounts(session)
    sandbox.post("/_sandbox/faults", json={"endpoint": "asana.api", "status": 503, "count": 10}).raise_for_status()
    failed = session.get("/api/v1/proxy/asana/users/me", headers={"X-Connection-Id": second})
    assert failed.status_code == 503
    sandbox.delete("/_sandbox/faults")
    stored = {doc.id: doc.to_dict().get("callFailures", 0) for doc in _connections("ned").stream()}
    assert stored == {first: 0, second: 1}
    listed = {c["connectionId"]: c for c in session.get("/api/v1/oauth/connections").json()["data"]["connections"]}
    assert listed[second]["consecutiveFailures"] == 1 and listed[first]["consecutiveFailures"] == 0


def test_the_backend_names_the_connection_for_credentials_and_tags(asana_user, backend):
    session = asana_user("ola")
    _, first, work, second = _two_accounts(session)
    caller = backend()
    path = "/api/v1/users/ola/connections/asana"
    assert _error(caller.get(f"{path}/credentials")) == "connection_id_required"
    fetched = caller.get(f"{path}/credentials", params={"connectionId": second}).json()["data"]
    assert fetched["connectionId"] == second and fetched["accessToken"] == held_tokens("ola")[second]["access_token"]
    tagged = caller.put(f"{path}/tags", params={"connectionId": second}, json={"tags": {"workspace": "work"}})
    assert tagged.status_code == 200 and tagged.json()["data"]["connectionId"] == second
    stored = {doc.id: doc.to_dict().get("tags", {}) for doc in _connections("ola").stream()}
    assert stored == {first: {}, second: {"workspace": "work"}}
    found = caller.get("/api/v1/connections", params={"tag.workspace": "work"}).json()["data"]["connections"]
    assert [(c["uid"], c["connectionId"], c["account"]["email"]) for c in found] == [("ola", second, work)]
    _connect(session, work)  # a reconnect keeps the tags of its connection
    assert _connections("ola").document(second).get().get("tags") == {"workspace": "work"}

    proxied = caller.get("/api/v1/users/ola/proxy/asana/users/me", headers={"X-Connection-Id": second})
    assert proxied.status_code == 200 and proxied.json()["sandbox"]["email"] == work
    audited = firestore_client().collection("audit_log").where(filter=FieldFilter("action", "==", "backend_proxy"))
    assert [e.get("connectionId") for e in audited.where(filter=FieldFilter("uid", "==", "ola")).stream()] == [second]


def test_the_apps_events_name_the_connection(asana_user, topic_messages):
    pull = topic_messages("connection-events")
    session = asana_user("pia")
    _, first, _, second = _two_accounts(session)
    session.delete("/api/v1/oauth/asana/disconnect", params={"connectionId": second})
    events = [m["data"] for m in pull(3)]
    assert [(e["type"], e["service"], e["connectionId"]) for e in events] == [
        ("connected", "asana", first),
        ("connected", "asana", second),
        ("disconnected", "asana", second),
    ]


def test_export_lists_both_and_erasure_removes_both_with_their_index_entries(asana_user):
    session = asana_user("quin")
    personal, first, work, second = _two_accounts(session)
    exported = session.get("/api/v1/me/export").json()["data"]["collections"]
    assert sorted(exported["connections"]) == sorted([first, second])
    assert sorted(e["connectionId"] for e in exported["account_index"].values()) == sorted([first, second])
    erased = session.delete("/api/v1/me").json()["data"]
    assert erased["disconnected"] == ["asana"]
    assert list(_connections("quin").stream()) == []
    assert [d.id for d in _index("quin").stream()] == []
    assert _connect(asana_user("rui"), personal)["outcome"] == "success"  # the accounts are free


def _index_entries(uid: str) -> dict[str, dict]:
    return {e.id: e.to_dict() for e in _index(uid).stream()}


def _forget_connection_id(uid: str, connection_id: str) -> None:
    """The index entry as connects wrote it before several accounts: no connectionId."""
    from google.cloud import firestore

    for entry_id, entry in _index_entries(uid).items():
        if entry["connectionId"] == connection_id:
            firestore_client().collection("account_index").document(entry_id).update({"connectionId": firestore.DELETE_FIELD})


def test_the_migration_names_each_stored_connection_in_the_index_resumably(asana_user):
    session = asana_user("sam")
    personal, first, _, second = _two_accounts(session)
    _forget_connection_id("sam", first)
    assert sorted(e.get("connectionId") is None for e in _index_entries("sam").values()) == [False, True]

    # Before the migration, an entry without an id still leads to the connection named after its service.
    assert _connect(session, personal)["connectionId"] == first
    assert sorted(held_tokens("sam")) == sorted([first, second])
    _forget_connection_id("sam", first)
    taken = _connect(asana_user("tia"), personal)
    assert taken["reason"] == "account_in_use"

    progress, runs = connection_migration.run_migration(restart=True, batch_size=1, budget_seconds=0), 1
    while not progress["done"]:
        progress, runs = connection_migration.run_migration(restart=False, batch_size=1, budget_seconds=0), runs + 1
    assert runs >= 3  # one entry a run: it stopped and resumed from its cursor
    assert (progress["scanned"], progress["migrated"], progress["failed"]) == (2, 1, 0)
    assert sorted(e["connectionId"] for e in _index_entries("sam").values()) == sorted([first, second])
    assert connection_migration.run_migration(restart=True, batch_size=10, budget_seconds=60)["migrated"] == 0  # idempotent


def test_the_migration_names_a_further_accounts_entry_by_the_connection_holding_it(asana_user):
    """An entry of a further account that lost its id is not given the service's name (that connection
    holds another account): the connection named after its account does, and gets it."""
    session = asana_user("uma")
    _, first, _, second = _two_accounts(session)
    _forget_connection_id("uma", second)
    progress = connection_migration.run_migration(restart=True, batch_size=10, budget_seconds=60)
    assert progress["done"] and progress["migrated"] == 1
    assert sorted(e["connectionId"] for e in _index_entries("uma").values()) == sorted([first, second])
    firestore_client().collection("users").document("uma").collection("connections").document(second).delete()
    _forget_connection_id("uma", second)
    again = connection_migration.run_migration(restart=True, batch_size=10, budget_seconds=60)
    assert again["migrated"] == 0  # no connection holds it: not guessed at


def test_a_second_migration_run_while_one_holds_the_lease_is_busy():
    taken = leases.try_take("maintenance", "connection_ids", "another-run", 60)
    try:
        assert connection_migration.run_migration(restart=True, batch_size=10, budget_seconds=60) == {"done": False, "busy": True}
    finally:
        leases.release("maintenance", "connection_ids", taken)


def _state(uid: str, connection_id: str) -> dict:
    snapshot = firestore_client().collection("users").document(uid).collection("sync_state").document(connection_id).get()
    return snapshot.to_dict() if snapshot.exists else {}


def _by_connection(uid: str, collection: str) -> dict[str, set]:
    """{connection id: {document ids}} of the user's synced collection."""
    found = {}
    for doc_id, record in user_docs(uid, collection).items():
        found.setdefault(record.get("connectionId"), set()).add(doc_id)
    return found


@pytest.mark.usefixtures("auto_sync_for_alice")
def test_two_gmail_accounts_each_have_a_watch_a_cursor_and_their_own_mail(user, sandbox):
    alice, home, work = user("alice"), f"home-{uuid.uuid4().hex[:6]}@example.com", f"work-{uuid.uuid4().hex[:6]}@example.com"
    first, second = (_connect(alice, email, "gmail")["connectionId"] for email in (home, work))
    assert first == "gmail" and second.startswith("gmail-")
    for email, connection_id in ((home, first), (work, second)):
        assert sandbox.get("/_sandbox/gmail/watch", params={"email": email}).json()["topic"].endswith("gmail-notifications")
        assert _state("alice", connection_id)["historyId"] == 1000

    at_home = sandbox.post("/_sandbox/gmail/deliver", json={"email": home, "subject": "dinner"}).json()
    at_work = sandbox.post("/_sandbox/gmail/deliver", json={"email": work, "subject": "standup"}).json()
    mail = wait_for(lambda: len(user_docs("alice", "mail")) == 2 and user_docs("alice", "mail"))
    assert mail[at_home["id"]]["subject"] == "dinner" and mail[at_home["id"]]["connectionId"] == first
    assert mail[f"{second}:{at_work['id']}"]["subject"] == "standup"
    assert wait_for(lambda: _state("alice", second)["historyId"] == at_work["historyId"])
    assert _state("alice", first)["historyId"] == at_home["historyId"]

    gone = alice.delete("/api/v1/oauth/gmail/disconnect", params={"connectionId": second}).json()["data"]
    assert gone["removed"] == {"mail": 1}
    assert sandbox.get("/_sandbox/gmail/watch", params={"email": work}).json() is None
    assert sandbox.get("/_sandbox/gmail/watch", params={"email": home}).json() is not None
    assert _by_connection("alice", "mail") == {first: {at_home["id"]}} and _state("alice", second) == {}


@pytest.mark.usefixtures("auto_sync_for_alice")
def test_two_calendars_keep_one_meeting_apart_and_a_full_resync_clears_only_its_own(user, sandbox):
    alice, home, work = user("alice"), f"home-{uuid.uuid4().hex[:6]}@example.com", f"work-{uuid.uuid4().hex[:6]}@example.com"
    first, second = (_connect(alice, email, "calendar")["connectionId"] for email in (home, work))
    assert len(sandbox.get("/_sandbox/calendar/channels").json()) == 2
    for email, summary in ((home, "Standup (home view)"), (work, "Standup")):
        sandbox.post(
            "/_sandbox/calendar/change", json={"email": email, "action": "create", "eventId": "standup", "summary": summary}
        )
    events = wait_for(lambda: len(user_docs("alice", "calendar_events")) == 2 and user_docs("alice", "calendar_events"))
    assert events["standup"]["connectionId"] == first and events[f"{second}:standup"]["summary"] == "Standup"

    # The work calendar's sync token expires: its full sync clears its own events only.
    sandbox.post("/_sandbox/calendar/expire-sync-tokens", json={"email": work}).raise_for_status()
    sandbox.post("/_sandbox/calendar/change", json={"email": work, "action": "cancel", "eventId": "standup"})
    sandbox.post("/_sandbox/calendar/change", json={"email": work, "action": "create", "eventId": "retro", "summary": "Retro"})
    assert wait_for(lambda: _by_connection("alice", "calendar_events") == {first: {"standup"}, second: {f"{second}:retro"}})

    channel = _state("alice", second)["channelId"]
    assert alice.delete("/api/v1/oauth/calendar/disconnect", params={"connectionId": second}).status_code == 200
    assert firestore_client().collection("calendar_channels").document(channel).get().get("status") == "stopped"
    assert len(sandbox.get("/_sandbox/calendar/channels").json()) == 1
    assert _by_connection("alice", "calendar_events") == {first: {"standup"}}


def test_two_slack_workspaces_route_to_their_own_connection(api, user):
    teams = [f"T{uuid.uuid4().hex[:10].upper()}" for _ in range(2)]
    alice = user("alice")
    ids = [_connect(alice, None, "slack", team_id=t, team_name=t, user_id="U0ALICE")["connectionId"] for t in teams]
    assert ids[0] == "slack" and ids[1].startswith("slack-")
    for n, team in enumerate(teams):
        message = {
            "type": "message",
            "channel": "C0GENERAL",
            "user": "U0ALICE",
            "ts": f"17637264{n}0.000100",
            "text": "TODO: ship it",
        }
        assert post_event(api, event_envelope(f"EvTWO{n}", message, team_id=team)).status_code == 200
    assert wait_for(lambda: _by_connection("alice", "action_items") == {ids[0]: {"EvTWO0-0"}, ids[1]: {f"{ids[1]}:EvTWO1-0"}})
    assert _by_connection("alice", "slack_activity") == {ids[0]: {"EvTWO0"}, ids[1]: {f"{ids[1]}:EvTWO1"}}

    gone = alice.delete("/api/v1/oauth/slack/disconnect", params={"connectionId": ids[0]}).json()["data"]
    assert gone["removed"] == {"slack_activity": 1, "action_items": 1}
    assert _by_connection("alice", "slack_activity") == {ids[1]: {f"{ids[1]}:EvTWO1"}}


# Found by the outside review of this change; each test failed on the code it reviewed.


@pytest.mark.usefixtures("auto_sync_for_alice")
def test_disconnecting_a_connection_that_is_not_there_touches_no_live_connections_data(user, sandbox, email):
    alice = user("alice")
    _connect(alice, email, "gmail")
    _connect(alice, email, "calendar")
    sandbox.post("/_sandbox/gmail/deliver", json={"email": email, "subject": "kept"})
    sandbox.post("/_sandbox/calendar/change", json={"email": email, "action": "create", "eventId": "kept", "summary": "kept"})
    wait_for(lambda: user_docs("alice", "mail") and user_docs("alice", "calendar_events"))
    gone = alice.delete("/api/v1/oauth/gmail/disconnect", params={"connectionId": "gmail-000000000000"}).json()["data"]
    assert (gone["wasConnected"], gone["removed"]) == (False, {})
    other = alice.delete("/api/v1/oauth/calendar/disconnect", params={"connectionId": "gmail"}).json()["data"]
    assert (other["wasConnected"], other["removed"]) == (False, {})
    assert len(user_docs("alice", "mail")) == 1 and list(user_docs("alice", "calendar_events")) == ["kept"]


def test_a_connection_id_never_passes_to_another_account(asana_user):
    session = asana_user("vic")
    personal, work = f"p-{uuid.uuid4().hex[:6]}@example.com", f"w-{uuid.uuid4().hex[:6]}@example.com"
    assert _connect(session, personal)["connectionId"] == "asana"
    session.delete("/api/v1/oauth/asana/disconnect")
    # The service's name stays the personal account's: an app that kept "asana" never reaches the work one.
    assert _connect(session, work)["connectionId"].startswith("asana-")
    assert _connect(session, personal)["connectionId"] == "asana"


def test_an_index_entry_that_lost_its_id_does_not_send_a_reconnect_onto_another_account(asana_user, sandbox):
    session = asana_user("wes")
    personal, first, work, second = _two_accounts(session)
    _forget_connection_id("wes", second)
    assert _connect(session, work)["connectionId"] == second
    assert sorted(held_tokens("wes")) == sorted([first, second])
    assert (
        session.get("/api/v1/oauth/asana/status", params={"connectionId": first}).json()["data"]["account"]["email"] == personal
    )
    repaired = connection_migration.run_migration(restart=True, batch_size=10, budget_seconds=60)
    assert sorted(e["connectionId"] for e in _index_entries("wes").values()) == sorted([first, second])
    assert repaired["migrated"] == 0  # the reconnect wrote it back


def test_a_user_connects_at_most_ten_accounts_of_a_service(asana_user, sandbox):
    session = asana_user("xia")
    for n in range(10):
        assert _connect(session, f"xia-{n}-{uuid.uuid4().hex[:4]}@example.com")["outcome"] == "success"
    refused = _connect(session, f"xia-10-{uuid.uuid4().hex[:4]}@example.com")
    assert (refused["outcome"], refused["reason"]) == ("failure", "too_many_connections")
    assert len(held_tokens("xia")) == 10
    assert (
        _connect(session, sorted(c["account"]["email"] for c in _listed(session))[0])["outcome"] == "success"
    )  # a reconnect is not one more


def _listed(session) -> list[dict]:
    return session.get("/api/v1/oauth/connections").json()["data"]["connections"]


def test_connect_disconnect_and_backend_proxy_audit_entries_name_the_connection(asana_user):
    session = asana_user("yan")
    _, first, _, second = _two_accounts(session)
    session.delete("/api/v1/oauth/asana/disconnect", params={"connectionId": second})
    entries = firestore_client().collection("audit_log").where(filter=FieldFilter("uid", "==", "yan")).stream()
    named = sorted((e.get("action"), e.to_dict().get("connectionId")) for e in entries)
    assert named == sorted([("connect", first), ("connect", second), ("disconnect", second)])


def test_a_browser_on_an_allowed_origin_may_name_a_connection_and_use_every_proxied_method(api, stack):
    from tests.oauth_helpers import APP_ORIGIN

    preflight = api.options(
        "/api/v1/proxy/asana/users/me",
        headers={
            "Origin": APP_ORIGIN,
            "Access-Control-Request-Method": "PATCH",
            "Access-Control-Request-Headers": "authorization,x-connection-id,if-match",
        },
    )
    allowed_headers = {h.strip().lower() for h in preflight.headers["Access-Control-Allow-Headers"].split(",")}
    allowed_methods = {m.strip() for m in preflight.headers["Access-Control-Allow-Methods"].split(",")}
    assert {"authorization", "x-connection-id", "if-match"} <= allowed_headers
    assert {"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"} <= allowed_methods
