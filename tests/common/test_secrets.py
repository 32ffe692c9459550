"""Secret settings resolved from Secret Manager version names (the sandbox serves the REST API)."""

import base64
import json
import os

import pytest

from common.platform.errors import ConfigError
from common.platform.secrets import clear_secret_cache, get_secret
from common.platform.settings import reset_settings
from common.tokens.crypto import get_cipher, reset_cipher

VERSION = "projects/demo-gateway/secrets/token-key-ring/versions/7"


@pytest.fixture
def resolved(monkeypatch, stack):
    def use(setting: str, value: str):
        monkeypatch.setenv(setting, value)
        reset_settings()
        clear_secret_cache()
        reset_cipher()

    yield use
    monkeypatch.undo()
    reset_settings()
    clear_secret_cache()
    reset_cipher()


def test_plain_values_are_used_as_they_are(resolved):
    resolved("SLACK_SIGNING_SECRET", "plain-signing-secret")
    assert get_secret("SLACK_SIGNING_SECRET") == "plain-signing-secret"


def test_version_names_are_fetched_once_and_cached(resolved, sandbox):
    ring = json.dumps({"active": "prod-1", "keys": {"prod-1": base64.b64encode(os.urandom(32)).decode()}})
    sandbox.put("/_sandbox/secrets/demo-gateway/token-key-ring/7", data=ring).raise_for_status()
    resolved("TOKEN_KEY_RING", VERSION)
    assert get_secret("TOKEN_KEY_RING") == ring
    assert get_cipher().ring.active == "prod-1"
    sandbox.put("/_sandbox/secrets/demo-gateway/token-key-ring/7", data="changed").raise_for_status()
    assert get_secret("TOKEN_KEY_RING") == ring  # cached for the life of the instance


def test_a_missing_version_is_a_config_error_naming_the_setting(resolved):
    resolved("SLACK_CLIENT_SECRET", "projects/demo-gateway/secrets/absent/versions/1")
    with pytest.raises(ConfigError, match="SLACK_CLIENT_SECRET"):
        get_secret("SLACK_CLIENT_SECRET")


def test_only_secret_settings_resolve():
    with pytest.raises(ConfigError):
        get_secret("GCP_PROJECT")


def test_an_unreachable_secret_manager_is_retryable_not_a_config_error(resolved, monkeypatch):
    from common.platform.clients import reset_clients
    from common.platform.errors import Unavailable
    from local.processes import free_port

    monkeypatch.setenv("SECRET_MANAGER_ENDPOINT", f"http://127.0.0.1:{free_port()}")
    reset_clients()
    resolved("SLACK_CLIENT_SECRET", "projects/demo-gateway/secrets/x/versions/1")
    try:
        with pytest.raises(Unavailable):
            get_secret("SLACK_CLIENT_SECRET")
    finally:
        reset_clients()
