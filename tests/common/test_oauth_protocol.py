"""The pure OAuth pieces: PKCE, authorize URLs, token-response parsing per provider spec."""

import urllib.parse

import pytest

from common.oauth.oauth_protocol import (
    TokenResponseError,
    authorize_url,
    code_challenge,
    holds_scopes_of,
    missing_scopes,
    new_code_verifier,
    new_state,
    parse_token_response,
    state_key,
)
from common.platform.settings import reset_settings
from common.providers import provider


@pytest.fixture(autouse=True)
def _dev_settings(monkeypatch):
    for name in ("SLACK_BASE_URL", "GOOGLE_ACCOUNTS_BASE_URL", "GOOGLE_OAUTH2_BASE_URL", "GOOGLE_OPENID_BASE_URL", "APP_ENV"):
        monkeypatch.delenv(name, raising=False)
    reset_settings()
    yield
    monkeypatch.undo()
    reset_settings()


def test_pkce_matches_rfc_7636_appendix_b():
    assert code_challenge("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk") == "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
    assert 43 <= len(new_code_verifier()) <= 128


def test_states_are_random_and_stored_by_hash():
    states = {new_state() for _ in range(100)}
    assert len(states) == 100 and all(len(s) >= 43 for s in states)
    state = new_state()
    assert state_key(state) != state and len(state_key(state)) == 64


def test_google_authorize_url():
    url = authorize_url(provider("gmail"), "st", "https://api.example/cb", "challenge")
    parts = urllib.parse.urlsplit(url)
    query = dict(urllib.parse.parse_qsl(parts.query))
    assert f"{parts.scheme}://{parts.netloc}{parts.path}" == "https://accounts.google.com/o/oauth2/v2/auth"
    assert query == {
        "client_id": "dev-google-client-id.apps.googleusercontent.com",
        "scope": "openid email https://www.googleapis.com/auth/gmail.readonly",
        "state": "st",
        "redirect_uri": "https://api.example/cb",
        "response_type": "code",
        "access_type": "offline",
        "prompt": "consent",
        "code_challenge": "challenge",
        "code_challenge_method": "S256",
    }


def test_slack_authorize_url_has_comma_separated_user_scopes_and_pkce():
    query = dict(
        urllib.parse.parse_qsl(urllib.parse.urlsplit(authorize_url(provider("slack"), "st", "https://x/cb", "challenge")).query)
    )
    assert query["user_scope"] == "channels:history,channels:read,users:read" and "scope" not in query
    assert (query["code_challenge"], query["code_challenge_method"]) == ("challenge", "S256")


def test_a_token_that_merged_another_services_scopes_is_recognised():
    gmail, calendar = provider("gmail").scopes, provider("calendar").scopes
    merged = ("openid", "https://www.googleapis.com/auth/userinfo.email", *calendar[2:], *gmail[2:])
    assert holds_scopes_of(merged, calendar, gmail)
    assert not holds_scopes_of(("openid", "https://www.googleapis.com/auth/userinfo.email", *calendar[2:]), calendar, gmail)
    assert missing_scopes(calendar, ("openid", "https://www.googleapis.com/auth/userinfo.email", *calendar[2:])) == []


SLACK_EXCHANGE = {
    "ok": True,
    "app_id": "A1",
    "authed_user": {
        "id": "U1",
        "scope": "a,b",
        "access_token": "xoxp-1",
        "token_type": "user",
        "refresh_token": "xoxe-1-r",
        "expires_in": 43200,
    },
    "scope": "",
    "token_type": "bot",
    "team": {"id": "T1", "name": "Team"},
    "enterprise": None,
}


def test_slack_exchange_reads_the_user_token_from_authed_user():
    tokens = parse_token_response(provider("slack"), 200, SLACK_EXCHANGE)
    assert (tokens.access_token, tokens.refresh_token, tokens.expires_in, tokens.scopes) == (
        "xoxp-1",
        "xoxe-1-r",
        43200,
        ("a", "b"),
    )
    assert "xox" not in repr(tokens)


def test_slack_refresh_reads_top_level_tokens():
    reply = {
        "ok": True,
        "access_token": "xoxp-2",
        "refresh_token": "xoxe-1-s",
        "expires_in": 43200,
        "token_type": "user",
        "scope": "a",
    }
    tokens = parse_token_response(provider("slack"), 200, reply, refresh=True)
    assert (tokens.access_token, tokens.refresh_token) == ("xoxp-2", "xoxe-1-s")


def test_google_refresh_without_refresh_token():
    tokens = parse_token_response(
        provider("calendar"), 200, {"access_token": "ya29.x", "expires_in": 3599, "scope": "openid", "token_type": "Bearer"}
    )
    assert tokens.refresh_token is None and tokens.expires_in == 3599


@pytest.mark.parametrize(
    "service, status, body, error, retryable",
    [
        ("slack", 200, {"ok": False, "error": "invalid_refresh_token"}, "invalid_refresh_token", False),
        ("slack", 200, {"ok": False, "error": "ratelimited"}, "ratelimited", True),
        ("slack", 429, {"ok": False, "error": "ratelimited"}, "ratelimited", True),
        ("slack", 200, {"ok": True}, "invalid_response", False),
        (
            "gmail",
            400,
            {"error": "invalid_grant", "error_description": "Token has been expired or revoked."},
            "invalid_grant",
            False,
        ),
        ("gmail", 503, {"error": "temporarily_unavailable"}, "temporarily_unavailable", True),
        ("gmail", 500, None, "invalid_response", True),
        ("gmail", 400, {"error": "server_error"}, "server_error", True),
    ],
)
def test_token_errors_are_classified(service, status, body, error, retryable):
    with pytest.raises(TokenResponseError) as raised:
        parse_token_response(provider(service), status, body)
    assert (raised.value.error, raised.value.retryable) == (error, retryable)


def test_missing_scopes_accepts_googles_expanded_email_scope():
    granted = ("openid", "https://www.googleapis.com/auth/userinfo.email", "https://www.googleapis.com/auth/gmail.readonly")
    assert missing_scopes(("openid", "email", "https://www.googleapis.com/auth/gmail.readonly"), granted) == []
    assert missing_scopes(("openid", "email", "x"), granted) == ["x"]


def test_unknown_service_is_not_found():
    from common.platform.errors import NotFound

    with pytest.raises(NotFound):
        provider("trello")
