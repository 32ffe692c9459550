"""The proxy end to end: the user's request reaches the service's API (the sandbox) through the local
gateway front and host, with the user's token, and the provider's answer comes back; refresh on a
refused token, needs_reauth, retries and passthrough under injected faults, header filtering,
limits, rate limits, health counters and the log line."""

import http.client
import json
import re
import secrets
import urllib.parse
import uuid

import functions_framework
import pytest
from hypothesis import HealthCheck, given, settings

from common.access.proxy_paths import InvalidPath, upstream_url
from common.platform.clients import firestore_client
from common.platform.settings import reset_settings
from common.stores import connections
from local.catalog import FUNCTIONS_DIR
from tests.functions.test_oauth_flow import connect
from tests.fuzz_helpers import PROXY_PATHS
from tests.oauth_helpers import held_tokens

CALLS = {
    "slack": ("conversations.list", "slack.conversations.list"),
    "gmail": ("gmail/v1/users/me/labels", "gmail.labels.list"),
    "calendar": ("users/me/calendarList", "calendar.calendarList.list"),
}


@pytest.fixture
def connected(user, sandbox):
    """connected(service) -> alice's signed-in session, her account's email, after connecting it."""

    def connect_service(service: str):
        session, email = user("alice"), f"alice-{uuid.uuid4().hex[:8]}@example.com"
        account = {"team_id": "T0ACME", "team_name": "Acme", "user_id": "U0ALICE"} if service == "slack" else {"email": email}
        assert connect(session, service, **account)["outcome"] == "success"
        sandbox.delete("/_sandbox/calls").raise_for_status()
        return session, email

    return connect_service


def _fault(sandbox, endpoint: str, **fault) -> None:
    sandbox.post("/_sandbox/faults", json={"endpoint": endpoint, **fault}).raise_for_status()


def _calls(sandbox, endpoint: str) -> int:
    return sandbox.get("/_sandbox/calls").json().get(endpoint, 0)


def _refreshes(sandbox) -> int:
    return sum(sandbox.get("/_sandbox/refreshes").json().values())


@pytest.mark.parametrize("service", sorted(CALLS))
def test_each_service_is_called_with_the_users_token(connected, sandbox, service):
    session, email = connected(service)
    path, endpoint = CALLS[service]
    reply = session.get(f"/api/v1/proxy/{service}/{path}")
    assert reply.status_code == 200 and reply.headers["Content-Type"].startswith("application/json")
    body = reply.json()
    if service == "slack":
        assert body["ok"] is True and [c["name"] for c in body["channels"]] == ["general", "random"]
    elif service == "gmail":
        assert "INBOX" in [label["id"] for label in body["labels"]]
    else:
        assert body["kind"] == "calendar#calendarList" and body["items"][0]["id"] == email
    assert _calls(sandbox, endpoint) == 1
    sent = sandbox.get(f"/_sandbox/requests/{endpoint}/headers").json()
    assert sent["Authorization"] == f"Bearer {held_tokens('alice')[service]['access_token']}"


def test_a_post_carries_its_body_and_query(connected, sandbox):
    session, _ = connected("slack")
    reply = session.post("/api/v1/proxy/slack/conversations.list?limit=5", data={"types": "public_channel"})
    assert reply.status_code == 200 and reply.json()["ok"] is True
    # The default user scopes have no chat:write: Slack's own answer comes back as it is.
    denied = session.post("/api/v1/proxy/slack/chat.postMessage", json={"channel": "C0GENERAL", "text": "hi"})
    assert denied.status_code == 200 and denied.json() == {
        "ok": False,
        "error": "missing_scope",
        "needed": "chat:write",
        "provided": "channels:history,channels:read,users:read",
    }


def test_a_401_gets_exactly_one_refresh_and_one_retry(connected, sandbox):
    session, _ = connected("gmail")
    unauthorized = {"error": {"code": 401, "message": "Invalid Credentials", "status": "UNAUTHENTICATED"}}
    _fault(sandbox, "gmail.labels.list", status=401, body=unauthorized)
    before = held_tokens("alice")["gmail"]["access_token"]
    reply = session.get("/api/v1/proxy/gmail/gmail/v1/users/me/labels")
    assert reply.status_code == 200 and reply.json()["labels"]
    assert _calls(sandbox, "gmail.labels.list") == 2 and _refreshes(sandbox) == 1
    assert held_tokens("alice")["gmail"]["access_token"] != before


def test_a_401_after_the_refresh_is_passed_through(connected, sandbox):
    session, _ = connected("calendar")
    _fault(sandbox, "calendar.calendarList.list", status=401, count=2, body={"error": {"code": 401}})
    reply = session.get("/api/v1/proxy/calendar/users/me/calendarList")
    assert reply.status_code == 401 and reply.json() == {"error": {"code": 401}}
    assert _calls(sandbox, "calendar.calendarList.list") == 2 and _refreshes(sandbox) == 1


@pytest.mark.parametrize("error", ["invalid_auth", "token_expired", "token_revoked"])
def test_slacks_token_errors_get_exactly_one_refresh_and_one_retry(connected, sandbox, error):
    session, _ = connected("slack")
    _fault(sandbox, "slack.conversations.list", status=200, body={"ok": False, "error": error})
    reply = session.get("/api/v1/proxy/slack/conversations.list")
    assert reply.status_code == 200 and reply.json()["ok"] is True
    assert _calls(sandbox, "slack.conversations.list") == 2 and _refreshes(sandbox) == 1


def test_a_slack_error_that_is_not_about_the_token_is_not_retried(connected, sandbox):
    session, _ = connected("slack")
    _fault(sandbox, "slack.conversations.list", status=200, body={"ok": False, "error": "invalid_cursor"})
    reply = session.get("/api/v1/proxy/slack/conversations.list?cursor=nope")
    assert reply.json() == {"ok": False, "error": "invalid_cursor"}
    assert _calls(sandbox, "slack.conversations.list") == 1 and _refreshes(sandbox) == 0


def test_needs_reauth_answers_409_without_calling_the_provider(connected, sandbox):
    session, _ = connected("gmail")
    connections.connection_ref("alice", "gmail").update({"status": "needs_reauth"})
    reply = session.get("/api/v1/proxy/gmail/gmail/v1/users/me/labels")
    assert reply.status_code == 409 and reply.json()["error"]["code"] == "needs_reauth"
    assert sandbox.get("/_sandbox/calls").json() == {}


def test_a_get_is_retried_on_429_and_503_honouring_retry_after(connected, sandbox):
    session, _ = connected("calendar")
    _fault(sandbox, "calendar.calendarList.list", status=429, headers={"Retry-After": "1"}, body={"error": {"code": 429}})
    _fault(sandbox, "calendar.calendarList.list", status=503, headers={"Retry-After": "0"}, body={"error": {"code": 503}})
    reply = session.get("/api/v1/proxy/calendar/users/me/calendarList")
    assert reply.status_code == 200 and reply.json()["items"]
    assert _calls(sandbox, "calendar.calendarList.list") == 3


def test_a_get_failing_on_every_attempt_gets_the_providers_last_answer(connected, sandbox):
    session, _ = connected("calendar")
    _fault(
        sandbox, "calendar.calendarList.list", status=503, count=5, headers={"Retry-After": "0"}, body={"error": {"code": 503}}
    )
    reply = session.get("/api/v1/proxy/calendar/users/me/calendarList")
    assert reply.status_code == 503 and reply.json() == {"error": {"code": 503}}
    assert _calls(sandbox, "calendar.calendarList.list") == 3  # PROXY_RETRY_ATTEMPTS
    assert connections.get_connection("alice", "calendar")["callFailures"] == 1  # one proxied call, one failure
    sandbox.delete("/_sandbox/faults")
    assert session.get("/api/v1/proxy/calendar/users/me/calendarList").status_code == 200
    assert connections.get_connection("alice", "calendar")["callFailures"] == 0


def test_a_retry_after_beyond_the_deadline_is_passed_through_at_once(connected, sandbox):
    session, _ = connected("gmail")
    _fault(sandbox, "gmail.labels.list", status=429, headers={"Retry-After": "120"}, body={"error": {"code": 429}})
    reply = session.get("/api/v1/proxy/gmail/gmail/v1/users/me/labels")
    assert reply.status_code == 429 and reply.headers["Retry-After"] == "120"
    assert _calls(sandbox, "gmail.labels.list") == 1


def test_a_post_is_not_retried_and_gets_retry_after(connected, sandbox):
    session, _ = connected("slack")
    _fault(
        sandbox, "slack.chat.postMessage", status=429, headers={"Retry-After": "7"}, body={"ok": False, "error": "ratelimited"}
    )
    reply = session.post("/api/v1/proxy/slack/chat.postMessage", json={"channel": "C0GENERAL", "text": "hi"})
    assert reply.status_code == 429 and reply.headers["Retry-After"] == "7"
    assert reply.json() == {"ok": False, "error": "ratelimited"}
    assert _calls(sandbox, "slack.chat.postMessage") == 1


def _raw_get(stack, path: str, token: str) -> tuple[int, dict]:
    """GET with the path sent byte for byte (requests would re-quote it)."""
    host = urllib.parse.urlsplit(stack.api_url)
    connection = http.client.HTTPConnection(host.hostname, host.port, timeout=30)
    try:
        connection.putrequest("GET", path, skip_accept_encoding=True)
        connection.putheader("Authorization", f"Bearer {token}")
        connection.endheaders()
        reply = connection.getresponse()
        return reply.status, json.loads(reply.read())
    finally:
        connection.close()


ESCAPES = [
    "..%2f..%2fapi/auth.test",
    "%2e%2e/oauth.v2.access",
    "%2E%2E%2Fsecrets",
    "a/../auth.test",
    "./conversations.list",
    "conversations.list/..",
    "%252e%252e/auth.test",
    "%25%32%65%25%32%65/x",
    "@evil.example/x",
    "user@evil.example",
    "https:/evil.example/x",
    "http:%2f%2fevil.example",
    "a%5c..%5cb",
    "a\\b",
    "a//b",
    "%00conversations.list",
    "conversations.list%0d%0aX-Injected:%20yes",
    "%c0%ae%c0%ae/auth.test",
    "%ef%bc%8e%ef%bc%8e/auth.test",
    "a%ef%bc%8fb",
    "conversations.list%",
    "conversations.list%zz",
]


@pytest.mark.parametrize("path", ESCAPES)
def test_paths_that_could_leave_the_api_base_are_refused(connected, sandbox, stack, id_token, path):
    connected("slack")
    status, body = _raw_get(stack, f"/api/v1/proxy/slack/{path}", id_token("alice"))
    # A decoded line break cannot match the host's route (as the framework's own rule cannot): 404 there.
    refused = {(400, "invalid_path")} | ({(404, "not_found")} if "%0d%0a" in path else set())
    assert (status, body["error"]["code"]) in refused, (status, body)
    assert sandbox.get("/_sandbox/calls").json() == {}


def test_another_users_connection_cannot_be_reached(connected, user, sandbox):
    connected("slack")
    bob = user("bob")
    reply = bob.get("/api/v1/proxy/slack/conversations.list", params={"uid": "alice"}, headers={"X-User-Id": "alice"})
    assert reply.status_code == 404 and reply.json()["error"]["code"] == "not_connected"
    refused = bob.get("/api/v1/users/alice/proxy/slack/conversations.list")  # the backend's route: no user token gets in
    assert refused.status_code == 401 and refused.json()["error"]["code"] == "invalid_token"
    assert sandbox.get("/_sandbox/calls").json() == {}


def test_only_listed_headers_cross_in_either_direction(connected, sandbox):
    session, _ = connected("gmail")
    sent = {
        "Cookie": "session=secret",
        "Proxy-Authorization": "Basic c2VjcmV0OnNlY3JldA==",
        "X-Custom": "1",
        "Accept": "application/json",
        "If-None-Match": '"v1"',
        "Connection": "keep-alive, X-Custom",
        "traceparent": f"00-{secrets.token_hex(16)}-{secrets.token_hex(8)}-01",
    }
    provider_headers = {"Set-Cookie": "sid=1", "WWW-Authenticate": "Bearer", "X-Provider-Internal": "1", "ETag": '"v2"'}
    _fault(sandbox, "gmail.labels.list", status=200, headers=provider_headers, body={"labels": []})
    reply = session.get("/api/v1/proxy/gmail/gmail/v1/users/me/labels", headers=sent)
    assert reply.status_code == 200 and reply.json() == {"labels": []}
    forwarded = {name.lower() for name in sandbox.get("/_sandbox/requests/gmail.labels.list/headers").json()}
    assert {"accept", "if-none-match", "authorization"} <= forwarded
    refused = {"cookie", "proxy-authorization", "x-custom", "x-forwarded-authorization", "traceparent", "x-forwarded-for"}
    assert not forwarded & refused
    assert reply.headers["ETag"] == '"v2"' and reply.headers["Cache-Control"] == "no-store"
    assert not {"set-cookie", "www-authenticate", "x-provider-internal"} & {name.lower() for name in reply.headers}


def test_a_body_over_the_limit_is_refused_before_the_provider(connected, sandbox):
    session, _ = connected("slack")
    reply = session.post("/api/v1/proxy/slack/chat.postMessage", data=b"x" * (1024 * 1024 + 1))
    assert reply.status_code == 413 and reply.json()["error"]["code"] == "payload_too_large"
    assert sandbox.get("/_sandbox/calls").json() == {}


@pytest.fixture
def in_process(monkeypatch):
    """The proxy function in this process, with settings of the test's own: in_process(NAME="value")."""

    def build(**values: str):
        for name, value in values.items():
            monkeypatch.setenv(name, value)
        reset_settings()
        from common.product import rate_limit

        rate_limit.reset()
        return functions_framework.create_app("proxy_call", str(FUNCTIONS_DIR / "proxy" / "main.py")).test_client()

    yield build
    monkeypatch.undo()
    reset_settings()


def test_a_reply_over_the_limit_is_refused(connected, sandbox, in_process, id_token):
    connected("gmail")
    client = in_process(PROXY_MAX_RESPONSE_BYTES="1024")
    _fault(sandbox, "gmail.labels.list", status=200, body={"labels": [{"id": "x" * 2000}]})
    reply = client.get("/api/v1/proxy/gmail/gmail/v1/users/me/labels", headers={"Authorization": f"Bearer {id_token('alice')}"})
    assert reply.status_code == 502 and reply.get_json()["error"]["code"] == "upstream_too_large"


def test_the_connection_and_user_rate_limits_answer_429(connected, in_process, id_token):
    connected("slack")
    connected("gmail")
    client = in_process(
        RATE_LIMIT_PROXY_CONNECTION_BURST="2",
        RATE_LIMIT_PROXY_CONNECTION_PER_MINUTE="1",
        RATE_LIMIT_PROXY_USER_BURST="3",
        RATE_LIMIT_PROXY_USER_PER_MINUTE="1",
    )
    headers = {"Authorization": f"Bearer {id_token('alice')}"}
    slack = [client.get("/api/v1/proxy/slack/conversations.list", headers=headers) for _ in range(3)]
    assert [r.status_code for r in slack] == [200, 200, 429]
    assert slack[2].get_json()["error"]["code"] == "rate_limited" and int(slack[2].headers["Retry-After"]) >= 1
    gmail = [client.get("/api/v1/proxy/gmail/gmail/v1/users/me/labels", headers=headers) for _ in range(2)]
    assert [r.status_code for r in gmail] == [200, 429]  # the user's budget (3) is spent across services


def test_one_log_line_per_call_with_a_path_template_and_no_token(connected, sandbox, stack):
    session, email = connected("gmail")
    delivered = sandbox.post("/_sandbox/gmail/deliver", json={"email": email, "subject": "s", "notify": False}).json()
    trace = secrets.token_hex(16)
    reply = session.get(
        f"/api/v1/proxy/gmail/gmail/v1/users/me/messages/{delivered['id']}?format=metadata&q=secret-query",
        headers={"traceparent": f"00-{trace}-{secrets.token_hex(8)}-01"},
    )
    assert reply.status_code == 200 and reply.json()["id"] == delivered["id"]
    log = (stack.log_dir / "host.log").read_text(errors="replace")
    lines = [json.loads(line) for line in log.splitlines() if trace in line and '"proxy call"' in line]
    assert len(lines) == 1
    line = lines[0]
    assert line["service"] == "gmail" and line["method"] == "GET" and line["status"] == 200 and line["attempts"] == 1
    assert line["pathTemplate"] == "gmail/v1/users/me/messages/{id}" and isinstance(line["upstreamMs"], float)
    assert delivered["id"] not in json.dumps(line) and "secret-query" not in json.dumps(line)
    assert held_tokens("alice")["gmail"]["access_token"] not in log


def test_the_stored_record_is_untouched_by_a_proxied_call(connected):
    """A success on a healthy connection writes nothing (the hot path stays reads only)."""
    session, _ = connected("slack")
    before = firestore_client().collection("users").document("alice").collection("connections").document("slack").get()
    assert session.get("/api/v1/proxy/slack/conversations.list").status_code == 200
    after = firestore_client().collection("users").document("alice").collection("connections").document("slack").get()
    assert after.update_time == before.update_time


SENDABLE = re.compile(r"[!-~]+")  # what a request line can carry as it is (no space, no control, ASCII)


@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
@given(path=PROXY_PATHS.filter(lambda p: SENDABLE.fullmatch(p) is not None and "?" not in p and "#" not in p))
def test_the_function_sees_the_path_as_sent_and_refuses_what_the_check_refuses(stack, sandbox, id_token, path):
    """Through the real server and host, byte for byte: a path the check refuses never reaches the
    provider (nothing normalised it on the way), whatever it holds."""
    sandbox.delete("/_sandbox/calls")
    status, body = _raw_get(stack, f"/api/v1/proxy/slack/{path}", id_token("fuzz-alice"))
    try:
        upstream_url("https://slack.com/api/", path, "")
    except InvalidPath:
        assert status in (400, 404) and body.get("error", {}).get("code") in ("invalid_path", "not_found"), (status, body)
        assert sandbox.get("/_sandbox/calls").json() == {}
    else:
        assert (status, body["error"]["code"]) == (404, "not_connected"), (status, body)  # checked, then the connection
