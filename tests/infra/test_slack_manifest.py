"""The Slack app manifest (infra/slack-app-manifest.json) asks for what the code uses: the provider
spec's user scopes, the events the consumer handles, and URLs the API serves. Scopes per event from
https://docs.slack.dev/reference/events (message.channels, channel_created, member_joined_channel)."""

import json
import re
import urllib.parse

import pytest

from common.platform.settings import reset_settings
from common.providers import provider, redirect_uri
from common.sync.slack_processing import HANDLED_EVENTS
from local.catalog import ROOT

MANIFEST = json.loads((ROOT / "infra" / "slack-app-manifest.json").read_text())
OPENAPI = json.loads((ROOT / "infra" / "openapi.json").read_text())
HOST = "https://GATEWAY_HOST"
# The scope each user event needs, and the event type it arrives as.
USER_EVENTS = {
    "message.channels": ("channels:history", "message"),
    "channel_created": ("channels:read", "channel_created"),
    "member_joined_channel": ("channels:read", "member_joined_channel"),
}


@pytest.fixture
def deployed(monkeypatch):
    monkeypatch.delenv("SLACK_USER_SCOPES", raising=False)
    monkeypatch.setenv("PUBLIC_BASE_URL", HOST)
    reset_settings()
    yield
    monkeypatch.undo()
    reset_settings()


def test_the_manifest_asks_for_exactly_the_scopes_the_oauth_flow_asks_for(deployed):
    assert sorted(MANIFEST["oauth_config"]["scopes"]["user"]) == sorted(provider("slack").scopes)
    assert set(MANIFEST["oauth_config"]["scopes"]) == {"user"}  # the flow asks for user_scope only: no bot


def test_the_subscribed_events_are_the_ones_the_consumer_handles():
    subscribed = MANIFEST["settings"]["event_subscriptions"]
    assert "bot_events" not in subscribed
    assert set(subscribed["user_events"]) == set(USER_EVENTS)
    # app_mention is a bot event only (app_mentions:read on a bot token), which a user-only install never gets.
    assert {USER_EVENTS[event][1] for event in subscribed["user_events"]} == set(HANDLED_EVENTS) - {"app_mention"}
    assert {USER_EVENTS[event][0] for event in subscribed["user_events"]} <= set(MANIFEST["oauth_config"]["scopes"]["user"])


def _operation(url: str, method: str) -> dict:
    assert url.startswith(HOST + "/"), url
    path = urllib.parse.urlsplit(url).path
    for template, operations in OPENAPI["paths"].items():
        if re.fullmatch(re.sub(r"\\\{\w+\\\}", "[^/]+", re.escape(template)), path) and method in operations:
            return operations[method]
    raise AssertionError(f"no {method.upper()} {path} in infra/openapi.json")


def test_the_manifest_urls_are_routes_of_the_api(deployed):
    (redirect,) = MANIFEST["oauth_config"]["redirect_urls"]
    assert redirect == redirect_uri("slack")
    assert _operation(redirect, "get")["operationId"] == "oauthCallback"
    settings = MANIFEST["settings"]
    assert (
        _operation(settings["event_subscriptions"]["request_url"], "post")["x-google-backend"]["address"]
        == "${urls.slack_events}"
    )
    assert settings["interactivity"]["is_enabled"] is True
    interactions = _operation(settings["interactivity"]["request_url"], "post")
    assert interactions["x-google-backend"]["address"] == "${urls.slack_interactions}"
    assert settings["socket_mode_enabled"] is False  # Slack posts to the request URLs above
