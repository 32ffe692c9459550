"""The provider catalogue: the committed file is valid and yields the specs the flow has always
run on; a broken copy is refused with every mistake named at once, as a configuration problem
(health `down`, 503 `configuration_invalid`), never half loaded."""

import copy
import json

import pytest

from common.platform.errors import ConfigError, NotFound
from common.platform.settings import SETTINGS, reset_settings
from common.product.flags import DEFAULT_FLAGS
from common.providers import provider, services
from common.providers.catalogue import BUILT_IN, catalogue_problems, read_catalogue
from common.serving.config_check import configuration_problems, reset_configuration_check

COMMITTED = json.loads(BUILT_IN.read_text())


def test_the_committed_catalogue_is_valid_and_names_real_flags():
    assert catalogue_problems(COMMITTED) == []
    assert services() == ("slack", "gmail", "calendar", "asana", "notion", "outlookmail", "outlookcalendar")
    assert {entry["flag"] for entry in COMMITTED["services"].values()} <= set(DEFAULT_FLAGS)


@pytest.fixture
def default_settings(monkeypatch):
    """The settings' defaults (the session's stack points every provider URL at the sandbox)."""
    for setting in SETTINGS:
        monkeypatch.delenv(setting.name, raising=False)
    reset_settings()
    yield
    monkeypatch.undo()
    reset_settings()


def test_the_catalogue_yields_each_services_wire_facts(default_settings):
    slack, gmail, calendar = provider("slack"), provider("gmail"), provider("calendar")
    assert (slack.authorize_url, slack.token_url, slack.revoke_url) == (
        "https://slack.com/oauth/v2/authorize",
        "https://slack.com/api/oauth.v2.access",
        "https://slack.com/api/auth.revoke",
    )
    assert (slack.scope_param, slack.scope_separator, slack.client_auth) == ("user_scope", ",", "basic")
    assert slack.exchange_secret is False and slack.pkce is True
    assert slack.exchange_paths["access_token"] == ("authed_user", "access_token")
    assert slack.refresh_paths["access_token"] == ("access_token",)
    assert (slack.ok_field, slack.revoke_kind, slack.revoke_send, slack.userinfo_url) == ("ok", "access_token", "bearer", None)
    assert slack.api_base == "https://slack.com/api/"
    assert gmail.family == calendar.family == "google"
    assert gmail.authorize_url == "https://accounts.google.com/o/oauth2/v2/auth"
    assert gmail.token_url == "https://oauth2.googleapis.com/token"
    assert gmail.userinfo_url == "https://openidconnect.googleapis.com/v1/userinfo"
    assert dict(gmail.authorize_params) == {"response_type": "code", "access_type": "offline", "prompt": "consent"}
    assert (gmail.revoke_kind, gmail.revoke_send, gmail.revoke_confirm) == ("refresh_token", "form", "status")
    assert gmail.api_base == "https://gmail.googleapis.com/" and calendar.api_base == "https://www.googleapis.com/calendar/v3/"
    assert "https://www.googleapis.com/auth/gmail.readonly" in gmail.scopes
    assert (gmail.synced_collections, calendar.synced_collections) == (("mail",), ("calendar_events",))


def test_the_new_families_carry_their_providers_quirks(default_settings):
    asana, notion, mail, calendar = (provider(s) for s in ("asana", "notion", "outlookmail", "outlookcalendar"))
    assert (asana.token_url, asana.revoke_url) == ("https://app.asana.com/-/oauth_token", "https://app.asana.com/-/oauth_revoke")
    assert (asana.revoke_kind, asana.revoke_client_auth, asana.exchange_paths["scope"]) == ("refresh_token", "body", None)
    assert "tasks:read" in asana.scopes and asana.scope_param == "scope"
    assert (notion.token_format, notion.client_auth, notion.scope_param) == ("json", "basic", None)
    assert notion.exchange_paths["expires_in"] is None and notion.refresh_margin_setting is None
    assert dict(notion.api_headers)["Notion-Version"] == dict(notion.revoke_headers)["Notion-Version"]
    tenant = "https://login.microsoftonline.com/common/oauth2/v2.0"
    assert (mail.authorize_url, mail.token_url) == (f"{tenant}/authorize", f"{tenant}/token")
    assert mail.revoke_url is None and "no endpoint" in mail.revoke_note
    assert "offline_access" in mail.scopes and "offline_access" in mail.unreturned_scopes
    assert mail.api_base == calendar.api_base == "https://graph.microsoft.com/v1.0/"
    assert mail.api_paths == ("me/messages", "me/mailFolders", "me/sendMail")
    assert calendar.api_paths == ("me/calendar", "me/calendars", "me/calendarView", "me/events")


def test_production_offers_only_the_families_whose_client_is_set(monkeypatch):
    """Asana, Notion and Microsoft need no settings to deploy: unset, they are not offered."""
    from tests.common.test_settings import PRODUCTION

    for setting in SETTINGS:
        monkeypatch.delenv(setting.name, raising=False)
    for name, value in PRODUCTION.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("NOTION_CLIENT_ID", "2d1d872b-594c-80a0-9a09-0037a1b2c3d4")
    reset_settings()
    try:
        assert services() == ("slack", "gmail", "calendar", "notion")
        with pytest.raises(NotFound) as refused:
            provider("asana")
        assert refused.value.code == "service_not_configured" and "ASANA_CLIENT_ID" in refused.value.message
        assert provider("notion").client_id.startswith("2d1d872b")
    finally:
        monkeypatch.undo()
        reset_settings()


def _broken() -> dict:
    broken = copy.deepcopy(COMMITTED)
    slack, google = broken["families"]["slack"], broken["families"]["google"]
    slack["token"]["client_auth"] = "header"  # not a method the catalogue knows
    del slack["revoke"]["confirm"]  # a required field
    slack["authorize"]["url"] = "{slak}/oauth/v2/authorize"  # a host the family does not declare
    google["client"]["id_setting"] = "GOOGLE_CLIENT"  # no such setting
    google["webhooks"] = {}  # not a catalogue field
    broken["services"]["gmail"]["family"] = "gogle"
    return broken


def test_every_mistake_of_a_broken_catalogue_is_named_at_once():
    problems = catalogue_problems(_broken())
    assert "families.slack.token.client_auth must be one of 'basic', 'body' (got 'header')" in problems
    assert "families.slack.revoke.confirm is missing" in problems
    assert any(problem.startswith("families.google.client.id_setting must name a setting") for problem in problems)
    assert "families.google.webhooks is not a catalogue field" in problems
    assert len(problems) == 4  # the cross-references are checked once the shapes hold


def test_cross_references_are_checked_once_the_shape_holds():
    broken = copy.deepcopy(COMMITTED)
    broken["families"]["slack"]["authorize"]["url"] = "{slak}/oauth/v2/authorize"
    broken["services"]["gmail"]["family"] = "gogle"
    broken["services"]["calendar"]["api_base"] = "{mail}/calendar/v3/"
    broken["families"]["google"]["account"]["url"] = None
    assert catalogue_problems(broken) == [
        "families.slack.authorize.url names {slak}, which families.slack.hosts and .path_params do not declare",
        "families.google.account.url is set exactly when the account is read from userinfo",
        "services.gmail.family names 'gogle', which is not in families",
        "services.calendar.api_base names host {mail}, which families.google.hosts does not declare",
    ]


@pytest.mark.parametrize("content", ["{not json", "[]", json.dumps({"version": 2, "families": {}, "services": {}})])
def test_an_unreadable_catalogue_is_refused(tmp_path, content):
    path = tmp_path / "catalogue.json"
    path.write_text(content)
    with pytest.raises(ConfigError) as refused:
        read_catalogue(path)
    assert str(path) in refused.value.message


def test_a_broken_catalogue_is_a_configuration_problem(monkeypatch, tmp_path):
    path = tmp_path / "catalogue.json"
    path.write_text(json.dumps(_broken()))
    monkeypatch.setenv("PROVIDER_CATALOGUE", str(path))
    reset_settings()
    reset_configuration_check()
    try:
        (problem,) = configuration_problems(resolve_references=False)
        assert problem.startswith(f"Provider catalogue {path} is invalid: ")
        assert "families.slack.revoke.confirm is missing" in problem
        monkeypatch.setenv("PROVIDER_CATALOGUE", str(tmp_path / "missing.json"))
        reset_settings()
        assert configuration_problems(resolve_references=False)[0].startswith(f"Provider catalogue {tmp_path / 'missing.json'}")
    finally:
        monkeypatch.undo()
        reset_settings()
        reset_configuration_check()
