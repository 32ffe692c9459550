"""The sandbox speaks the providers' wire formats: what the gateway relies on, checked directly."""

import concurrent.futures
import http.client
import re
import urllib.parse
import uuid

from common.oauth.oauth_protocol import code_challenge, new_code_verifier, state_key
from common.platform.clients import firestore_client
from common.tokens.crypto import get_cipher
from common.tokens.token_fields import verifier_field
from local.consent_browser import Browser, callback_url
from tests.functions.test_oauth_flow import ACCOUNTS, connect, start
from tests.helpers import user_docs, wait_for

SLACK_AUTH = ("dev-slack-client-id", "dev-slack-client-secret")
GOOGLE_CLIENT = {"client_id": "dev-google-client-id.apps.googleusercontent.com", "client_secret": "dev-google-client-secret"}
REDIRECT = "https://app.example.test/cb"
GMAIL = "https://www.googleapis.com/auth/gmail.readonly"
CALENDAR = "https://www.googleapis.com/auth/calendar.readonly"
GMAIL_PROFILE = "/gmail/v1/users/me/profile"
CALENDAR_EVENTS = "/calendar/v3/calendars/primary/events"


def _code(user, service: str) -> tuple[str, str, str]:
    """A code from the gateway's own flow, stopped before its callback: (code, redirect URI, PKCE verifier)."""
    alice = user("alice")
    url = callback_url(alice, start(alice, service)["authUrl"], **ACCOUNTS[service])
    query = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(url).query))
    key = state_key(query["state"])
    record = firestore_client().collection("oauth_states").document(key).get().to_dict()
    return query["code"], url.split("?", 1)[0], get_cipher().decrypt(record["codeVerifier"], "alice", verifier_field(key))


def _approved(sandbox, path: str, account: dict, **params) -> dict:
    """Approve one of the sandbox's consent pages directly (no gateway): the redirect's query."""
    url = callback_url(Browser(), f"{sandbox.base_url}{path}?{urllib.parse.urlencode(params)}", **account)
    return dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(url).query))


def _google_tokens(sandbox, email: str, scopes: list[str], **params) -> dict:
    """Consent to these scopes at the sandbox's Google page as `email`, and exchange the code."""
    query = {"client_id": GOOGLE_CLIENT["client_id"], "redirect_uri": REDIRECT, "response_type": "code", "state": "s"}
    code = _approved(sandbox, "/o/oauth2/v2/auth", {"email": email}, **query, scope=" ".join(scopes), **params)["code"]
    form = {**GOOGLE_CLIENT, "grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT}
    return sandbox.post("/token", data=form).json()


def _bearer(tokens: dict) -> dict:
    return {"Authorization": f"Bearer {tokens['access_token']}"}


def test_slack_errors_are_http_200_ok_false(sandbox):
    wrong_secret = sandbox.post("/api/oauth.v2.access", auth=("dev-slack-client-id", "nope"), data={"code": "x"})
    assert wrong_secret.status_code == 200 and wrong_secret.json() == {"ok": False, "error": "bad_client_secret"}
    bad_code = sandbox.post("/api/oauth.v2.access", auth=SLACK_AUTH, data={"code": "x", "redirect_uri": "y"})
    assert bad_code.json() == {"ok": False, "error": "invalid_code"}
    assert sandbox.post("/api/auth.test", headers={"Authorization": "Bearer xoxp-nope"}).json() == {
        "ok": False,
        "error": "invalid_auth",
    }


def test_slack_rotation_refresh_tokens_are_single_use(user, sandbox):
    code, redirect, verifier = _code(user, "slack")
    form = {"code": code, "redirect_uri": redirect, "code_verifier": verifier}
    exchange = sandbox.post("/api/oauth.v2.access", auth=SLACK_AUTH, data=form).json()
    assert exchange["ok"] and exchange["authed_user"]["expires_in"] == 43200 and exchange["team"]["id"] == "T0ACME"
    refresh = exchange["authed_user"]["refresh_token"]
    rotated = sandbox.post(
        "/api/oauth.v2.access", auth=SLACK_AUTH, data={"grant_type": "refresh_token", "refresh_token": refresh}
    ).json()
    assert rotated["ok"] and rotated["refresh_token"] != refresh and rotated["access_token"].startswith("xoxp-")
    again = sandbox.post(
        "/api/oauth.v2.access", auth=SLACK_AUTH, data={"grant_type": "refresh_token", "refresh_token": refresh}
    ).json()
    assert again == {"ok": False, "error": "invalid_refresh_token"}
    who = sandbox.post("/api/auth.test", headers={"Authorization": f"Bearer {rotated['access_token']}"}).json()
    assert (who["ok"], who["team_id"], who["user_id"]) == (True, "T0ACME", "U0ALICE")
    sandbox.post("/_sandbox/expire", json={"token": rotated["refresh_token"]}).raise_for_status()  # 30 days on (PKCE app)
    expired = {"grant_type": "refresh_token", "refresh_token": rotated["refresh_token"]}
    assert sandbox.post("/api/oauth.v2.access", auth=SLACK_AUTH, data=expired).json() == {
        "ok": False,
        "error": "invalid_refresh_token",
    }


def test_slack_without_rotation_issues_no_refresh_token(user, sandbox):
    sandbox.patch("/_sandbox/config", json={"slack_rotation": False}).raise_for_status()
    code, redirect, verifier = _code(user, "slack")
    form = {"code": code, "redirect_uri": redirect, "code_verifier": verifier}
    authed = sandbox.post("/api/oauth.v2.access", auth=SLACK_AUTH, data=form).json()["authed_user"]
    assert "refresh_token" not in authed and "expires_in" not in authed


def test_google_pkce_is_enforced_and_refresh_keeps_no_refresh_token(user, sandbox):
    code, redirect, _ = _code(user, "gmail")
    form = {**GOOGLE_CLIENT, "grant_type": "authorization_code", "code": code, "redirect_uri": redirect}
    wrong = sandbox.post("/token", data={**form, "code_verifier": "x" * 43})
    assert wrong.status_code == 400 and wrong.json() == {"error": "invalid_grant", "error_description": "Invalid code verifier."}
    used = sandbox.post("/token", data={**form, "code_verifier": "x" * 43})
    assert used.json()["error"] == "invalid_grant"  # a code is single use, even after a failed try


def test_google_unknown_client_refresh_token_and_revoke(sandbox):
    wrong_client = sandbox.post("/token", data={"client_id": "x", "client_secret": "y", "grant_type": "refresh_token"})
    assert wrong_client.status_code == 401 and wrong_client.json()["error"] == "invalid_client"
    revoked = sandbox.post("/token", data={**GOOGLE_CLIENT, "grant_type": "refresh_token", "refresh_token": "1//0gunknown"})
    assert revoked.status_code == 400 and revoked.json() == {
        "error": "invalid_grant",
        "error_description": "Token has been expired or revoked.",
    }
    assert sandbox.post("/revoke", params={"token": "ya29.unknown"}).status_code == 400


def test_faults_queue_and_counters(sandbox):
    sandbox.post(
        "/_sandbox/faults",
        json={
            "endpoint": "google.token",
            "count": 2,
            "status": 429,
            "headers": {"Retry-After": "7"},
            "body": {"error": "rate_limit_exceeded"},
        },
    ).raise_for_status()
    first, second, third = (sandbox.post("/token", data={}) for _ in range(3))
    assert (first.status_code, first.headers["Retry-After"], second.status_code, third.status_code) == (429, "7", 429, 401)
    assert sandbox.get("/_sandbox/calls").json()["google.token"] == 3
    assert sandbox.post("/_sandbox/faults", json={"endpoint": "google.token"}).status_code == 400


def test_standing_faults_meet_every_call_at_their_rate_and_are_counted(sandbox):
    assert sandbox.post("/_sandbox/faults", json={"endpoint": "google.token", "rate": 0, "status": 503}).status_code == 400
    unavailable = {"endpoint": "google.token", "rate": 1, "status": 503, "body": {"error": "temporarily_unavailable"}}
    sandbox.post("/_sandbox/faults", json=unavailable).raise_for_status()
    sandbox.post("/_sandbox/faults", json={"endpoint": "google.userinfo", "rate": 1, "delay": 0.01}).raise_for_status()
    assert [sandbox.post("/token", data={}).status_code for _ in range(3)] == [503, 503, 503]
    assert sandbox.get("/v1/userinfo").status_code == 401  # late, then the real answer
    assert sandbox.get("/_sandbox/faults").json()["injected"] == {"google.token": {"503": 3}, "google.userinfo": {"latency": 1}}
    sandbox.delete("/_sandbox/faults").raise_for_status()
    assert sandbox.post("/token", data={}).status_code == 401
    assert sandbox.get("/_sandbox/faults").json()["injected"]["google.token"] == {"503": 3}


def test_introspect_says_which_tokens_the_provider_still_honours(sandbox):
    (google,) = sandbox.post("/_sandbox/mint", json={"family": "google", "count": 1}).json()
    (slack,) = sandbox.post("/_sandbox/mint", json={"family": "slack", "count": 1}).json()
    sandbox.post("/_sandbox/expire", json={"token": google["access_token"]}).raise_for_status()
    rotated = sandbox.post(
        "/api/oauth.v2.access", auth=SLACK_AUTH, data={"grant_type": "refresh_token", "refresh_token": slack["refresh_token"]}
    ).json()
    tokens = [google["access_token"], google["refresh_token"], slack["refresh_token"], rotated["refresh_token"], "ya29.nope"]
    assert [(a["kind"], a["state"]) for a in sandbox.post("/_sandbox/introspect", json={"tokens": tokens}).json()] == [
        ("access", "expired"),
        ("refresh", "live"),
        (None, "unknown"),  # spent by the rotation
        ("refresh", "live"),
        (None, "unknown"),
    ]


def test_a_calendar_change_can_hand_its_notification_back(user, sandbox, api):
    assert connect(user("alice"), "calendar")["outcome"] == "success"
    change = sandbox.post("/_sandbox/calendar/change", json={"email": "alice@example.com", "notify": False}).json()
    (notification,) = change["notifications"]
    assert notification["address"] == f"{api.base_url}/api/v1/webhooks/calendar/push"
    assert notification["headers"]["X-Goog-Resource-State"] == "exists" and notification["headers"]["X-Goog-Channel-Token"]
    reply = api.post("/api/v1/webhooks/calendar/push", headers=notification["headers"])
    assert reply.status_code == 200 and reply.json()["data"] == {"queued": True}


def test_google_gives_a_refresh_token_only_for_offline_access(sandbox):
    reply = _google_tokens(sandbox, "online@example.com", ["openid", "email"])
    assert "access_token" in reply and "refresh_token" not in reply
    assert "refresh_token" in _google_tokens(sandbox, "offline@example.com", ["openid", "email"], access_type="offline")


def test_google_apis_answer_403_to_a_token_without_their_scope(sandbox):
    """Scopes are per token, as consented for that authorization; include_granted_scopes adds the
    account's earlier grants to the new token."""
    gmail = _google_tokens(sandbox, "scoped@example.com", ["openid", "email", GMAIL], access_type="offline")
    calendar = _google_tokens(sandbox, "scoped@example.com", ["openid", "email", CALENDAR], access_type="offline")
    assert set(calendar["scope"].split()) == {"openid", "https://www.googleapis.com/auth/userinfo.email", CALENDAR}
    assert sandbox.get(GMAIL_PROFILE, headers=_bearer(gmail)).status_code == 200
    denied = sandbox.get(GMAIL_PROFILE, headers=_bearer(calendar))
    assert denied.status_code == 403
    assert denied.json()["error"]["code"] == 403
    assert denied.json()["error"]["message"] == "Request had insufficient authentication scopes."
    assert denied.json()["error"]["errors"] == [
        {"message": "Insufficient Permission", "domain": "global", "reason": "insufficientPermissions"}
    ]
    assert denied.json()["error"]["status"] == "PERMISSION_DENIED"
    assert 'error="insufficient_scope"' in denied.headers["WWW-Authenticate"]
    assert sandbox.get(CALENDAR_EVENTS, headers=_bearer(gmail)).status_code == 403
    assert sandbox.get(CALENDAR_EVENTS, headers=_bearer(calendar)).status_code == 200
    refreshed = sandbox.post(
        "/token", data={**GOOGLE_CLIENT, "grant_type": "refresh_token", "refresh_token": calendar["refresh_token"]}
    ).json()
    assert GMAIL not in refreshed["scope"].split()
    assert sandbox.get(GMAIL_PROFILE, headers=_bearer(refreshed)).status_code == 403
    merged = _google_tokens(sandbox, "scoped@example.com", [CALENDAR], include_granted_scopes="true")
    assert {GMAIL, CALENDAR} <= set(merged["scope"].split())
    assert sandbox.get(GMAIL_PROFILE, headers=_bearer(merged)).status_code == 200


def test_google_revoke_ends_the_whole_grant_of_the_account(sandbox):
    """Revoking one token revokes every scope the account granted the client, other authorizations' tokens too."""
    gmail = _google_tokens(sandbox, "revoked@example.com", ["openid", "email", GMAIL], access_type="offline")
    calendar = _google_tokens(sandbox, "revoked@example.com", ["openid", "email", CALENDAR], access_type="offline")
    other = _google_tokens(sandbox, "other@example.com", ["openid", "email", CALENDAR], access_type="offline")
    assert sandbox.post("/revoke", params={"token": gmail["refresh_token"]}).status_code == 200
    assert sandbox.get(CALENDAR_EVENTS, headers=_bearer(calendar)).status_code == 401
    refresh = {**GOOGLE_CLIENT, "grant_type": "refresh_token", "refresh_token": calendar["refresh_token"]}
    assert sandbox.post("/token", data=refresh).json()["error"] == "invalid_grant"
    assert sandbox.get(CALENDAR_EVENTS, headers=_bearer(other)).status_code == 200  # another account's grant stays


def _slack_code(sandbox, **params) -> str:
    query = {"client_id": SLACK_AUTH[0], "user_scope": "channels:read", "redirect_uri": REDIRECT, "state": "s", **params}
    return _approved(sandbox, "/oauth/v2/authorize", {}, **query)["code"]


def test_slack_pkce_binds_a_code_to_its_verifier(sandbox):
    """An app with PKCE on: S256 only; a code issued with a challenge is exchanged with its verifier,
    without the client secret; any other verifier is refused and spends the code."""
    verifier = new_code_verifier()
    with_pkce = {"code_challenge": code_challenge(verifier), "code_challenge_method": "S256"}
    plain = Browser().get(
        f"{sandbox.base_url}/oauth/v2/authorize",
        params={
            "client_id": SLACK_AUTH[0],
            "user_scope": "channels:read",
            "code_challenge": verifier,
            "code_challenge_method": "plain",
        },
    )
    assert plain.status_code == 400

    def exchange(code: str, **form) -> dict:
        return sandbox.post(
            "/api/oauth.v2.access", data={"client_id": SLACK_AUTH[0], "code": code, "redirect_uri": REDIRECT, **form}
        ).json()

    code = _slack_code(sandbox, **with_pkce)
    assert exchange(code, code_verifier=new_code_verifier()) == {"ok": False, "error": "invalid_code"}
    assert exchange(code, code_verifier=verifier) == {"ok": False, "error": "invalid_code"}  # spent by the refused try
    assert exchange(_slack_code(sandbox, **with_pkce)) == {"ok": False, "error": "invalid_code"}  # no verifier
    granted = exchange(_slack_code(sandbox, **with_pkce), code_verifier=verifier)
    assert granted["ok"] is True and granted["authed_user"]["access_token"].startswith("xoxp-")
    assert exchange(_slack_code(sandbox)) == {"ok": False, "error": "bad_client_secret"}  # no PKCE: the secret is needed
    wrong_secret = sandbox.post(
        "/api/oauth.v2.access",
        auth=(SLACK_AUTH[0], "nope"),
        data={"code": _slack_code(sandbox, **with_pkce), "redirect_uri": REDIRECT, "code_verifier": verifier},
    )
    assert wrong_secret.json() == {"ok": False, "error": "bad_client_secret"}  # a secret that is sent must be right


def test_slack_message_is_a_signed_event_the_gateway_accepts(user, sandbox):
    team = f"T{uuid.uuid4().hex[:10].upper()}"
    assert connect(user("alice"), "slack", team_id=team, team_name="Acme", user_id="U0ALICE")["outcome"] == "success"
    sent = sandbox.post("/_sandbox/slack/message", json={"teamId": team, "userId": "U0ALICE", "text": "TODO: ship it"})
    assert sent.status_code == 200 and sent.json()["status"] == 200 and sent.json()["reply"]["data"]["queued"] is True
    activity = wait_for(lambda: user_docs("alice", "slack_activity"))
    assert activity[sent.json()["eventId"]]["text"] == "TODO: ship it"
    assert sandbox.post("/_sandbox/slack/message", json={"teamId": team}).status_code == 400


def test_only_the_console_origin_may_steer_the_sandbox_from_a_browser(sandbox, stack):
    """A simple cross-site POST needs no preflight, so CORS alone would let any page reset the sandbox."""
    refused = sandbox.post("/_sandbox/reset", headers={"Origin": "https://evil.example", "Content-Type": "text/plain"})
    assert refused.status_code == 403
    token = sandbox.get("/identity/token", params={"uid": "alice"}, headers={"Origin": "https://evil.example"})
    assert token.status_code == 403
    console = stack.api_url
    allowed = sandbox.post("/_sandbox/reset", headers={"Origin": console})
    assert allowed.status_code == 204 and allowed.headers["Access-Control-Allow-Origin"] == console


def test_a_held_call_is_answered_for_real_once_released(sandbox):
    sandbox.post("/_sandbox/faults", json={"endpoint": "google.token", "hold": "h1"}).raise_for_status()
    assert sandbox.post("/_sandbox/faults", json={"endpoint": "google.token", "hold": "h2", "rate": 1}).status_code == 400
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        held = pool.submit(sandbox.post, "/token", data={})
        assert sandbox.post("/_sandbox/holds/h1/wait").status_code == 204
        assert not held.done()
        assert sandbox.post("/token", data={}).status_code == 401  # only the first call is held
        sandbox.post("/_sandbox/holds/h1/release").raise_for_status()
        assert held.result().status_code == 401  # the real answer
    assert sandbox.get("/_sandbox/faults").json()["injected"] == {"google.token": {"hold": 1}}
    assert sandbox.post("/_sandbox/holds/nope/wait").status_code == 404


def test_the_sandbox_keeps_a_connection_open_between_calls(stack):
    """As the real providers do: every provider call over a pooled session reuses one TCP connection."""
    url = urllib.parse.urlsplit(stack.sandbox_url)
    connection = http.client.HTTPConnection(url.hostname, url.port, timeout=10)
    try:
        for _ in range(3):
            connection.request("GET", "/_sandbox/health")
            reply = connection.getresponse()
            reply.read()
            assert reply.status == 200 and reply.version == 11 and reply.getheader("Connection") != "close"
        assert connection.sock is not None  # the same socket served all three
    finally:
        connection.close()


def test_sandbox_accounts_are_derived_from_the_uid_and_never_shared(sandbox):
    def accounts(uid: str) -> dict:
        return sandbox.get("/_sandbox/accounts", params={"uid": uid}).json()

    alice = accounts("alice")
    assert alice["google"] == {"email": "alice@example.com"} and alice["slack"]["teamId"] == "T0SANDBOX"
    assert alice == accounts("alice") and alice["slack"]["userId"] != accounts("bob")["slack"]["userId"]
    assert re.fullmatch(r"U[A-Z2-7]{10}", alice["slack"]["userId"])
    odd = [accounts(uid)["google"]["email"] for uid in ("Alice", "al ice", "al/ice", "ünï")]
    assert len(set(odd) | {"alice@example.com"}) == 5 and all(re.fullmatch(r"[a-z0-9._-]+@example\.com", e) for e in odd)
    assert sandbox.get("/_sandbox/accounts", params={"uid": ""}).status_code == 400
    assert sandbox.get("/_sandbox/accounts", params={"uid": "a" * 129}).status_code == 400


def test_token_latency_is_a_whole_number_of_milliseconds(sandbox):
    for bad in (-1, 1.5, "200", True, 10001):
        assert sandbox.patch("/_sandbox/config", json={"token_latency_ms": bad}).status_code == 400, bad
    assert sandbox.patch("/_sandbox/config", json={"token_latency_ms": 20}).json()["token_latency_ms"] == 20
