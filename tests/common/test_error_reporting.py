"""The Sentry client starts with the three integrations it needs and no others: the default set
would also wrap every thread start and executor call, and every outgoing HTTP request."""

import sentry_sdk

from common.platform import error_reporting
from common.platform.settings import reset_settings


def test_only_logging_excepthook_and_dedupe_are_installed(monkeypatch):
    monkeypatch.setenv("SENTRY_DSN", "http://public@127.0.0.1:9/1")  # nothing is sent in this test
    reset_settings()
    monkeypatch.setattr(error_reporting, "_started", False)
    try:
        error_reporting.start_error_reporting()
        assert set(sentry_sdk.get_client().integrations) == {"logging", "excepthook", "dedupe"}
    finally:
        sentry_sdk.get_client().close()
        monkeypatch.undo()  # first: sentry_sdk.init() reads SENTRY_DSN from the environment
        sentry_sdk.init()  # an inactive client again, for the rest of the run
        reset_settings()
