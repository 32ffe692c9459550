"""Test harness: the real local stack (Firestore and Pub/Sub emulators, provider sandbox,
function host) started once per session on free ports, and an empty database for every test
that uses it. SIGTERM is turned into an interrupt so teardown stops the emulators then too."""

import atexit
import os
import pathlib
import signal

import pytest
import requests

from common.clients import reset_clients
from common.crypto import reset_cipher
from common.secrets import clear_secret_cache
from common.settings import SETTINGS, reset_settings
from local.stack import Stack

SUCCESS_URL = "https://app.example.test/connected"
FAILURE_URL = "https://app.example.test/failed"
ARTIFACTS = pathlib.Path(__file__).resolve().parent.parent / "test-artifacts"


def pytest_configure(config):
    def interrupt(signum, frame):
        raise KeyboardInterrupt(f"signal {signum}")

    signal.signal(signal.SIGTERM, interrupt)
    signal.signal(signal.SIGHUP, interrupt)


def reset_process_state() -> None:
    """Forget every cached setting, client, secret and cipher of this process."""
    reset_settings()
    reset_clients()
    clear_secret_cache()
    reset_cipher()


@pytest.fixture(scope="session")
def stack():
    running = Stack(log_dir=ARTIFACTS / "logs", extra_env={"OAUTH_SUCCESS_URL": SUCCESS_URL, "OAUTH_FAILURE_URL": FAILURE_URL})
    atexit.register(running.stop)
    saved = dict(os.environ)
    os.environ.update({s.name: running.env[s.name] for s in SETTINGS if s.name in running.env})
    os.environ["APP_ENV"] = "test"
    reset_process_state()
    try:
        yield running
    finally:
        os.environ.clear()
        os.environ.update(saved)
        reset_process_state()
        running.stop()


@pytest.fixture(autouse=True)
def _empty_database(request):
    """Every test that uses the stack starts from an empty Firestore and a fresh sandbox."""
    if "stack" in request.fixturenames:
        running = request.getfixturevalue("stack")
        running.emulators.reset_firestore()
        requests.post(f"{running.sandbox_url}/_sandbox/reset", timeout=10).raise_for_status()
    yield


@pytest.fixture
def api(stack):
    """A requests session with the API's base URL."""
    return _BaseUrlSession(stack.api_url)


@pytest.fixture
def sandbox(stack):
    return _BaseUrlSession(stack.sandbox_url)


@pytest.fixture
def id_token(sandbox):
    """Signs in through the sandbox issuer: id_token("alice") -> a Firebase ID token."""

    def sign_in(uid: str, **knobs) -> str:
        response = sandbox.get("/identity/token", params={"uid": uid, **knobs})
        response.raise_for_status()
        return response.json()["idToken"]

    return sign_in


class _BaseUrlSession(requests.Session):
    def __init__(self, base_url: str):
        super().__init__()
        self.base_url = base_url

    def request(self, method, url, *args, **kwargs):
        kwargs.setdefault("timeout", 30)
        kwargs.setdefault("allow_redirects", False)
        return super().request(method, self.base_url + url if url.startswith("/") else url, *args, **kwargs)
