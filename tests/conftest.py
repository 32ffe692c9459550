"""Test harness: the real local stack (Firestore and Pub/Sub emulators, provider sandbox,
function host) started once per session on free ports, and an empty database for every test
that uses it. SIGTERM is turned into an interrupt so teardown stops the emulators then too."""

import atexit
import json
import os
import pathlib
import signal
import time

import pytest
import requests
from google.cloud import pubsub_v1

from common.platform import clock
from common.platform.clients import reset_clients
from common.platform.secrets import clear_secret_cache
from common.platform.settings import SETTINGS, reset_settings
from common.serving.config_check import reset_configuration_check
from common.tokens.crypto import reset_cipher
from local.stack import Stack
from tests.backend_helpers import BACKEND_SETTINGS
from tests.oauth_helpers import APP_ORIGIN, FAILURE_URL, SUCCESS_URL

ARTIFACTS = pathlib.Path(__file__).resolve().parent.parent / "test-artifacts"


# One shared host serves the whole suite, hundreds of requests as "alice": rate limits have their own tests.
NO_RATE_LIMITS = {
    name: "100000"
    for name in (
        "RATE_LIMIT_USER_PER_MINUTE",
        "RATE_LIMIT_USER_BURST",
        "RATE_LIMIT_WEBHOOK_PER_MINUTE",
        "RATE_LIMIT_WEBHOOK_BURST",
        "RATE_LIMIT_PROXY_USER_PER_MINUTE",
        "RATE_LIMIT_PROXY_USER_BURST",
        "RATE_LIMIT_PROXY_CONNECTION_PER_MINUTE",
        "RATE_LIMIT_PROXY_CONNECTION_BURST",
    )
}


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
    reset_configuration_check()


@pytest.fixture(scope="session")
def stack():
    running = Stack(
        log_dir=ARTIFACTS / "logs",
        extra_env={
            "OAUTH_SUCCESS_URL": SUCCESS_URL,
            "OAUTH_FAILURE_URL": FAILURE_URL,
            "CORS_ALLOWED_ORIGINS": APP_ORIGIN,
            "FLAGS_CACHE_SECONDS": "0",
            **NO_RATE_LIMITS,
            **BACKEND_SETTINGS,
        },
        gateway=True,
    )
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
    return BaseUrlSession(stack.api_url)


@pytest.fixture
def sandbox(stack):
    return BaseUrlSession(stack.sandbox_url)


@pytest.fixture
def id_token(sandbox):
    """Signs in through the sandbox issuer: id_token("alice") -> a Firebase ID token."""

    def sign_in(uid: str, **knobs) -> str:
        response = sandbox.get("/identity/token", params={"uid": uid, **knobs})
        response.raise_for_status()
        return response.json()["idToken"]

    return sign_in


class BaseUrlSession(requests.Session):
    def __init__(self, base_url: str):
        super().__init__()
        self.base_url = base_url

    def request(self, method, url, *args, **kwargs):
        kwargs.setdefault("timeout", 30)
        kwargs["allow_redirects"] = False  # Session.get would default it to True
        return super().request(method, self.base_url + url if url.startswith("/") else url, *args, **kwargs)


@pytest.fixture
def user(api, id_token):
    """A signed-in user: user("alice").get("/api/v1/...") carries alice's bearer token."""

    def sign_in(uid: str):
        session = BaseUrlSession(api.base_url)
        session.headers["Authorization"] = f"Bearer {id_token(uid)}"
        return session

    return sign_in


@pytest.fixture
def topic_messages(stack):
    """Subscribe to a topic now; the returned function pulls what has been published since."""
    subscriber, publisher = pubsub_v1.SubscriberClient(), pubsub_v1.PublisherClient()
    created = []

    def subscribe(topic: str):
        name = subscriber.subscription_path(stack.emulators.project, f"test-{topic}-{len(created)}-{os.getpid()}")
        subscriber.create_subscription(request={"name": name, "topic": publisher.topic_path(stack.emulators.project, topic)})
        created.append(name)

        def pull(expected: int = 1, timeout: float = 10.0) -> list[dict]:
            messages, deadline = [], time.monotonic() + timeout
            while len(messages) < expected and time.monotonic() < deadline:
                reply = subscriber.pull(request={"subscription": name, "max_messages": 50, "return_immediately": True}, timeout=5)
                if not reply.received_messages:
                    time.sleep(0.1)
                if reply.received_messages:
                    subscriber.acknowledge(request={"subscription": name, "ack_ids": [m.ack_id for m in reply.received_messages]})
                messages += [
                    {"data": json.loads(m.message.data), "attributes": dict(m.message.attributes)}
                    for m in reply.received_messages
                ]
            return messages

        return pull

    yield subscribe
    for name in created:
        subscriber.delete_subscription(request={"subscription": name})


@pytest.fixture
def rate_limits(monkeypatch):
    """Tight rate limits for this test, from full buckets: rate_limits(RATE_LIMIT_USER_BURST="2")."""
    from common.product import rate_limit

    def apply(**values: str) -> None:
        for name, value in values.items():
            monkeypatch.setenv(name, value)
        reset_settings()
        rate_limit.reset()

    yield apply
    monkeypatch.undo()
    reset_settings()
    rate_limit.reset()


@pytest.fixture
def flag(stack):
    """Set a feature flag for this test: flag("integration_auto_sync", rollout=0, overrides={"alice": True})."""
    from common.platform.clients import firestore_client
    from common.product.flags import DEFAULT_FLAGS

    def set_flag(name: str, rollout: float | None = None, overrides: dict | None = None) -> None:
        firestore_client().collection("feature_flags").document(name).set(
            {"rollout": DEFAULT_FLAGS.get(name, 0) if rollout is None else rollout, "overrides": overrides or {}}
        )

    return set_flag


@pytest.fixture
def moved_clock():
    """moved_clock(seconds): this process's clock (common/platform/clock.py) that far ahead, until the test ends."""
    yield clock.set_offset
    clock.set_offset(0)
