"""The sandbox speaks the providers' wire formats: what the gateway relies on, checked directly."""

import concurrent.futures
import uuid

from local.consent_browser import callback_url
from tests.functions.test_oauth_flow import ACCOUNTS, connect, start
from tests.helpers import user_docs, wait_for

SLACK_AUTH = ("dev-slack-client-id", "dev-slack-client-secret")
GOOGLE_CLIENT = {"client_id": "dev-google-client-id.apps.googleusercontent.com", "client_secret": "dev-google-client-secret"}


def _code(user, service: str) -> tuple[str, str]:
    alice = user("alice")
    url = callback_url(alice, start(alice, service)["authUrl"], **ACCOUNTS[service])
    query = dict(part.split("=", 1) for part in url.split("?", 1)[1].split("&"))
    return query["code"], url.split("?", 1)[0]


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
    code, redirect = _code(user, "slack")
    exchange = sandbox.post("/api/oauth.v2.access", auth=SLACK_AUTH, data={"code": code, "redirect_uri": redirect}).json()
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


def test_slack_without_rotation_issues_no_refresh_token(user, sandbox):
    sandbox.patch("/_sandbox/config", json={"slack_rotation": False}).raise_for_status()
    code, redirect = _code(user, "slack")
    authed = sandbox.post("/api/oauth.v2.access", auth=SLACK_AUTH, data={"code": code, "redirect_uri": redirect}).json()[
        "authed_user"
    ]
    assert "refresh_token" not in authed and "expires_in" not in authed


def test_google_pkce_is_enforced_and_refresh_keeps_no_refresh_token(user, sandbox):
    code, redirect = _code(user, "gmail")
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
    import re
    import urllib.parse

    from local.consent_browser import Browser

    browser = Browser()
    consent = browser.get(
        f"{sandbox.base_url}/o/oauth2/v2/auth",
        params={
            "client_id": GOOGLE_CLIENT["client_id"],
            "redirect_uri": "https://app.example.test/cb",
            "response_type": "code",
            "scope": "openid email",
            "state": "s",
        },
    )
    request_id = re.search(r'name="request" value="([^"]+)"', consent.text).group(1)
    approved = browser.post(
        f"{sandbox.base_url}/o/oauth2/v2/auth/decision",
        data={"request": request_id, "decision": "approve", "scope": ["openid", "email"], "email": "online@example.com"},
    )
    code = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(approved.headers["Location"]).query))["code"]
    reply = sandbox.post(
        "/token",
        data={**GOOGLE_CLIENT, "grant_type": "authorization_code", "code": code, "redirect_uri": "https://app.example.test/cb"},
    ).json()
    assert "access_token" in reply and "refresh_token" not in reply


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
