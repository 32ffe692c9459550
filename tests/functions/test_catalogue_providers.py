"""Asana, Notion and Microsoft 365 (Outlook mail and calendar through Graph), added as catalogue
entries only, end to end against the sandbox's catalogue-driven endpoints: each behind its flag,
each one's wire quirks (Notion's JSON token request with HTTP Basic and no scopes or expiry,
Microsoft's tenant in the URL, offline_access asked for and never granted back, rotating refresh
tokens, no revocation), connect, status, refresh, proxy and disconnect."""

import datetime
import urllib.parse
import uuid

import pytest

from common.platform.clients import firestore_client
from local.consent_browser import decide
from tests.oauth_helpers import held_tokens, landed

FLAGS = {
    "asana": "integration_asana_enabled",
    "notion": "integration_notion_enabled",
    "outlookmail": "integration_microsoft_enabled",
    "outlookcalendar": "integration_microsoft_enabled",
}
FAMILY = {"asana": "asana", "notion": "notion", "outlookmail": "microsoft", "outlookcalendar": "microsoft"}
# A path each service's proxy accepts, and one under the same API base it refuses.
PROXIED = {
    "asana": ("users/me", None),
    "notion": ("users/me", "oauth/introspect"),
    "outlookmail": ("me/messages", "me/events"),
    "outlookcalendar": ("me/events", "me/messages"),
}


@pytest.fixture
def dana(user, flag):
    """A signed-in user with every new provider's flag on for her (they ship at 0%)."""

    def sign_in(uid: str = "dana"):
        for name in set(FLAGS.values()):
            flag(name, overrides={uid: True})
        return user(uid)

    return sign_in


def _connect(session, service: str, email: str) -> dict:
    started = session.get(f"/api/v1/oauth/{service}/start")
    assert started.status_code == 200, started.text
    auth_url = started.json()["data"]["authUrl"]
    return {"url": auth_url, "landed": landed(decide(session, auth_url, email=email))}


def _connection(uid: str, service: str):
    return firestore_client().collection("users").document(uid).collection("connections").document(service)


@pytest.mark.parametrize("service", sorted(FLAGS))
def test_each_new_provider_is_off_until_its_flag_is_on(user, service):
    refused = user("erin").get(f"/api/v1/oauth/{service}/start")
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "feature_disabled"


def test_the_listing_offers_every_catalogued_service_with_its_flag_for_this_user(user, flag):
    flag("integration_notion_enabled", overrides={"fay": True})
    offered = user("fay").get("/api/v1/oauth/connections").json()["data"]["services"]
    assert [s["service"] for s in offered] == ["slack", "gmail", "calendar", "asana", "notion", "outlookmail", "outlookcalendar"]
    enabled = {s["service"]: s["enabled"] for s in offered}
    assert enabled == {
        "slack": True,
        "gmail": True,
        "calendar": True,
        "asana": False,
        "notion": True,
        "outlookmail": False,
        "outlookcalendar": False,
    }
    assert next(s for s in offered if s["service"] == "outlookmail")["displayName"] == "Outlook Mail"


def test_the_consent_urls_carry_each_providers_own_parameters(dana):
    session = dana()
    urls = {s: session.get(f"/api/v1/oauth/{s}/start").json()["data"]["authUrl"] for s in FLAGS}
    asana, notion, mail = (urllib.parse.urlsplit(urls[s]) for s in ("asana", "notion", "outlookmail"))
    asana_args, notion_args, mail_args = (dict(urllib.parse.parse_qsl(u.query)) for u in (asana, notion, mail))
    assert asana.path == "/-/oauth_authorize" and asana_args["code_challenge_method"] == "S256"
    assert set(asana_args["scope"].split(" ")) >= {"users:read", "tasks:read"}
    assert notion.path == "/v1/oauth/authorize" and notion_args["owner"] == "user"
    assert "scope" not in notion_args and "code_challenge" not in notion_args  # Notion takes neither
    assert mail.path == "/common/oauth2/v2.0/authorize" and mail_args["response_mode"] == "query"
    assert set(mail_args["scope"].split(" ")) >= {"offline_access", "Mail.Read", "User.Read"}


@pytest.mark.parametrize("service", sorted(FLAGS))
def test_connect_refresh_proxy_and_disconnect(dana, sandbox, service):
    session, email = dana(), f"dana-{uuid.uuid4().hex[:6]}@example.com"
    assert _connect(session, service, email)["landed"] == {"outcome": "success", "service": service, "connectionId": service}

    status = session.get(f"/api/v1/oauth/{service}/status").json()["data"]
    assert status["connected"] is True and status["status"] == "active"
    assert email in status["account"].values()
    if service.startswith("outlook"):  # asked for, never granted back, and no reason to refuse the grant
        read = {"outlookmail": "Mail.Read", "outlookcalendar": "Calendars.Read"}[service]
        assert read in status["scopes"] and "offline_access" not in status["scopes"]
    before = held_tokens("dana")[service]
    assert before.get("refresh_token")  # every one of them issues a refresh token

    # Expired (or, for Notion, whose tokens carry no expiry, refused): the proxy refreshes once and retries.
    sandbox.delete("/_sandbox/calls")
    if service == "notion":
        assert status["expiresAt"] is None
        sandbox.post("/_sandbox/expire", json={"token": before["access_token"]}).raise_for_status()
    else:
        _connection("dana", service).update({"expiresAt": datetime.datetime.now(datetime.UTC) - datetime.timedelta(minutes=1)})
    allowed, refused = PROXIED[service]
    proxied = session.get(f"/api/v1/proxy/{service}/{allowed}")
    assert proxied.status_code == 200, proxied.text
    assert proxied.json()["sandbox"]["path"] == allowed and proxied.json()["sandbox"]["email"] == email
    calls = sandbox.get("/_sandbox/calls").json()
    assert calls.get(f"{FAMILY[service]}.token") == 1
    after = held_tokens("dana")[service]
    assert after["access_token"] != before["access_token"]
    rotates = FAMILY[service] in ("notion", "microsoft")  # Asana keeps its refresh token
    assert (after["refresh_token"] != before["refresh_token"]) is rotates
    if service == "notion":  # every proxied call carried the version header the API requires
        assert sandbox.get("/_sandbox/requests/notion.api/headers").json()["Notion-Version"] == "2025-09-03"
    if refused:
        escaped = session.get(f"/api/v1/proxy/{service}/{refused}")
        assert escaped.status_code == 400 and escaped.json()["error"]["code"] == "invalid_path"

    gone = session.delete(f"/api/v1/oauth/{service}/disconnect").json()["data"]
    assert gone["wasConnected"] is True and not _connection("dana", service).get().exists
    if FAMILY[service] == "microsoft":  # no revocation endpoint: said, not pretended
        assert gone["revoked"] is None and "no endpoint" in gone["revokeNote"]
    else:
        assert gone["revoked"] is True and gone["revokeNote"] is None
        assert after["refresh_token" if service == "asana" else "access_token"] in sandbox.get("/_sandbox/revoked").json()


def test_an_outlook_refresh_asks_for_its_own_services_scopes_only(dana):
    """One Microsoft refresh token serves every scope the account consented to the client: after
    connecting Outlook Calendar too, a Mail refresh that asked for nothing would come back with
    calendar scopes as well. It asks for Mail's, and gets those."""
    session, email = dana("gail"), "gail-outlook@example.com"
    for service in ("outlookmail", "outlookcalendar"):
        assert _connect(session, service, email)["landed"]["outcome"] == "success"
    _connection("gail", "outlookmail").update({"expiresAt": datetime.datetime.now(datetime.UTC) - datetime.timedelta(minutes=1)})
    assert session.get("/api/v1/proxy/outlookmail/me/messages").status_code == 200
    scopes = session.get("/api/v1/oauth/outlookmail/status").json()["data"]["scopes"]
    assert "Mail.Read" in scopes and "Calendars.Read" not in scopes


def test_one_microsoft_account_cannot_be_connected_by_two_users(dana):
    assert _connect(dana("dana"), "outlookmail", "shared@example.com")["landed"]["outcome"] == "success"
    taken = _connect(dana("frank"), "outlookmail", "shared@example.com")["landed"]
    assert taken["outcome"] == "failure" and taken["reason"] == "account_in_use"
