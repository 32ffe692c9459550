"""Fixtures of the end-to-end tests of the Gmail, Calendar and Slack pipelines."""

import uuid

import pytest


@pytest.fixture
def email():
    """A mailbox of this test's own, so a notification still in flight from another test cannot land here."""
    return f"alice-{uuid.uuid4().hex[:8]}@example.com"


@pytest.fixture
def auto_sync_for_alice(flag):
    """integration_auto_sync is a 50% rollout that leaves alice out: tests of the syncs opt her in."""
    flag("integration_auto_sync", overrides={"alice": True})


@pytest.fixture
def backend(api, sandbox):
    """The app's backend: backend().get(...) carries its Google ID token; backend(email=...) another
    account's, backend(aud=..., iss=..., email_verified="false") a token the gateway must refuse."""
    from tests.backend_helpers import backend_token

    def sign_in(**claims):
        session = type(api)(api.base_url)
        session.headers["Authorization"] = f"Bearer {backend_token(sandbox, **claims)}"
        return session

    return sign_in
