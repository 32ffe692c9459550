import json
import pathlib
import re

import pytest

from common.platform.errors import ConfigError
from common.platform.settings import DEV_KEY_RING, SETTINGS, load_settings

SETTINGS_PAGE = pathlib.Path(__file__).resolve().parents[2] / "docs" / "settings.md"

PRODUCTION = {
    "APP_ENV": "production",
    "GCP_PROJECT": "acme-gateway",
    "TOKEN_KEY_RING": "projects/acme-gateway/secrets/token-key-ring/versions/latest",
    "SLACK_CLIENT_ID": "1234.5678",
    "SLACK_CLIENT_SECRET": "projects/acme-gateway/secrets/slack-client-secret/versions/latest",
    "SLACK_SIGNING_SECRET": "projects/acme-gateway/secrets/slack-signing-secret/versions/3",
    "GOOGLE_CLIENT_ID": "42-abc.apps.googleusercontent.com",
    "GOOGLE_CLIENT_SECRET": "projects/acme-gateway/secrets/google-client-secret/versions/latest",
}


def test_defaults_are_a_working_dev_setup():
    settings = load_settings({})
    assert settings.app_env == "dev"
    assert settings.gcp_project == "demo-gateway"
    assert settings.firebase_audience == "demo-gateway"
    assert settings.token_key_ring == DEV_KEY_RING
    assert settings.health_timeout_seconds == 2.0


def test_a_complete_production_environment_is_accepted():
    settings = load_settings(PRODUCTION)
    assert settings.production and settings.firebase_certs_url.startswith("https://www.googleapis.com/")


DEV_ONLY = [s for s in SETTINGS if s.dev_only_default]


@pytest.mark.parametrize("setting", DEV_ONLY, ids=lambda s: s.name)
def test_production_refuses_each_dev_only_value_set_explicitly(setting):
    with pytest.raises(ConfigError, match=setting.name):
        load_settings({**PRODUCTION, setting.name: setting.default})


@pytest.mark.parametrize("setting", [s for s in DEV_ONLY if s.name != "GCP_PROJECT"], ids=lambda s: s.name)
def test_production_has_no_default_for_an_unset_dev_only_setting(setting):
    """A function starts without the secrets it does not read, and fails on the first read of one it does."""
    settings = load_settings({k: v for k, v in PRODUCTION.items() if k != setting.name})
    with pytest.raises(ConfigError, match=setting.name):
        getattr(settings, setting.name.lower())


def test_production_needs_a_project():
    with pytest.raises(ConfigError, match="GCP_PROJECT"):
        load_settings({k: v for k, v in PRODUCTION.items() if k != "GCP_PROJECT"})


def test_production_refuses_the_dev_key_inside_another_ring():
    ring = json.loads(DEV_KEY_RING)
    ring["keys"]["prod-1"] = ring["keys"].pop("dev-1")
    ring["active"] = "prod-1"
    with pytest.raises(ConfigError, match="dev-only key"):
        load_settings({**PRODUCTION, "TOKEN_KEY_RING": json.dumps(ring)})


@pytest.mark.parametrize(
    "extra, named",
    [
        ({"FIRESTORE_EMULATOR_HOST": "127.0.0.1:8086"}, "FIRESTORE_EMULATOR_HOST"),
        ({"PUBSUB_EMULATOR_HOST": "127.0.0.1:8085"}, "PUBSUB_EMULATOR_HOST"),
        ({"FIREBASE_CERTS_URL": "http://127.0.0.1:8090/identity/certs"}, "FIREBASE_CERTS_URL"),
        ({"SECRET_MANAGER_ENDPOINT": "http://127.0.0.1:8090"}, "SECRET_MANAGER_ENDPOINT"),
    ],
)
def test_production_refuses_local_endpoints(extra, named):
    with pytest.raises(ConfigError, match=named):
        load_settings({**PRODUCTION, **extra})


@pytest.mark.parametrize(
    "environ, named",
    [
        ({"APP_ENV": "prod"}, "APP_ENV"),
        ({"GCP_PROJECT": "Bad_Project"}, "GCP_PROJECT"),
        ({"HEALTH_TIMEOUT_SECONDS": "soon"}, "HEALTH_TIMEOUT_SECONDS"),
        ({"HEALTH_TIMEOUT_SECONDS": "0"}, "HEALTH_TIMEOUT_SECONDS"),
        ({"LOG_LEVEL": "LOUD"}, "LOG_LEVEL"),
        ({"FIREBASE_CERTS_URL": "ftp://x"}, "FIREBASE_CERTS_URL"),
        ({"PUBSUB_EMULATOR_HOST": "nohost"}, "PUBSUB_EMULATOR_HOST"),
        ({"TOPIC_SLACK_EVENTS": "x"}, "TOPIC_SLACK_EVENTS"),
        ({"SLACK_SIGNING_SECRET": "projects/p/secrets/s"}, "SLACK_SIGNING_SECRET"),
    ],
)
def test_bad_values_are_named(environ, named):
    with pytest.raises(ConfigError, match=named):
        load_settings(environ)


def test_a_lease_shorter_than_a_provider_call_is_refused():
    with pytest.raises(ConfigError, match="TOKEN_LEASE_SECONDS"):
        load_settings({"TOKEN_LEASE_SECONDS": "20", "PROVIDER_TIMEOUT_SECONDS": "10"})


def test_every_problem_is_reported_at_once():
    with pytest.raises(ConfigError) as error:
        load_settings({"LOG_LEVEL": "LOUD", "HEALTH_TIMEOUT_SECONDS": "x"})
    assert "LOG_LEVEL" in error.value.message and "HEALTH_TIMEOUT_SECONDS" in error.value.message


def test_secret_values_are_not_echoed():
    secret = "projects/oops/secrets/no-version-part"
    with pytest.raises(ConfigError) as error:
        load_settings({"SLACK_CLIENT_SECRET": secret})
    assert secret not in error.value.message
    assert "dev-slack-client-secret" not in repr(load_settings({}))


def test_readme_lists_every_setting_with_its_default():
    rows = {m.group(1): m.group(2) for m in re.finditer(r"^\| `([A-Z0-9_]+)` \| ([^|]*) \|", SETTINGS_PAGE.read_text(), re.M)}
    for setting in SETTINGS:
        assert setting.name in rows, f"{setting.name} is missing from the settings table in docs/settings.md"
        shown = rows[setting.name].strip().strip("`")
        if not setting.secret and setting.name != "TOKEN_KEY_RING":
            assert shown == (setting.default or "(empty)"), f"docs/settings.md default for {setting.name} is {shown!r}"
