"""The Pub/Sub consumer wrapper, driven through a real functions-framework CloudEvent app."""

import base64
import datetime
import json
import textwrap

import functions_framework
import pytest
from cloudevents.conversion import to_structured
from cloudevents.http import CloudEvent

SOURCE = """
import functions_framework
from common.webhooks.consumer import consumer
from common.platform.errors import BadRequest, Unavailable

SEEN = []


@functions_framework.cloud_event
@consumer(max_age_seconds=60)
def probe(payload, attributes):
    SEEN.append(payload)
    if payload.get("fail") == "retryable":
        raise Unavailable("try again")
    if payload.get("fail") == "permanent":
        raise BadRequest("never")
    if payload.get("fail") == "bug":
        raise RuntimeError("unexpected")
"""


@pytest.fixture(scope="module")
def client(tmp_path_factory):
    folder = tmp_path_factory.mktemp("probe_consumer")
    (folder / "main.py").write_text(textwrap.dedent(SOURCE))
    return functions_framework.create_app("probe", str(folder / "main.py")).test_client()


def deliver(client, payload, age_seconds: float = 0, raw: bytes | None = None):
    published = datetime.datetime.now(datetime.UTC) - datetime.timedelta(seconds=age_seconds)
    data = base64.b64encode(raw if raw is not None else json.dumps(payload).encode()).decode()
    event = CloudEvent(
        {"type": "google.cloud.pubsub.topic.v1.messagePublished", "source": "//pubsub.googleapis.com/t"},
        {"message": {"data": data, "messageId": "7", "publishTime": published.isoformat()}, "subscription": "s"},
    )
    headers, body = to_structured(event)
    return client.post("/", headers=headers, data=body)


def test_success_and_permanent_failures_acknowledge(client):
    assert deliver(client, {"ok": 1}).status_code == 200
    assert deliver(client, {"fail": "permanent"}).status_code == 200
    assert deliver(client, None, raw=b"\xff not json").status_code == 200


def test_retryable_and_unexpected_failures_are_redelivered(client):
    assert deliver(client, {"fail": "retryable"}).status_code == 500
    assert deliver(client, {"fail": "bug"}).status_code == 500


def test_too_old_messages_are_dropped_before_the_handler(client):
    assert deliver(client, {"fail": "retryable"}, age_seconds=120).status_code == 200


def test_a_raw_pubsub_push_envelope_is_accepted(client):
    body = {
        "message": {
            "data": base64.b64encode(b'{"ok": 2}').decode(),
            "messageId": "9",
            "publishTime": datetime.datetime.now(datetime.UTC).isoformat(),
        },
        "subscription": "projects/p/subscriptions/s",
    }
    assert client.post("/", json=body).status_code == 200


PUSH_URL = "https://fn-probe-123456789012.europe-west1.run.app"  # what Terraform sets as PUSH_AUDIENCE


@pytest.fixture
def push_account(monkeypatch, stack):
    """Consumers in production accept only the push account's OIDC token (checked against the sandbox's certs)."""
    from common.platform.settings import reset_settings

    monkeypatch.setenv("PUSH_SERVICE_ACCOUNT", "fn-probe@acme-gateway.iam.gserviceaccount.com")
    monkeypatch.setenv("PUSH_AUDIENCE", PUSH_URL)
    monkeypatch.setenv("GOOGLE_OIDC_CERTS_URL", f"{stack.sandbox_url}/identity/certs")
    reset_settings()
    yield "fn-probe@acme-gateway.iam.gserviceaccount.com"
    monkeypatch.undo()
    reset_settings()


def _push(client, token: str | None, url: str = PUSH_URL):
    body = {
        "message": {
            "data": base64.b64encode(b'{"ok": 3}').decode(),
            "messageId": "11",
            "publishTime": datetime.datetime.now(datetime.UTC).isoformat(),
        },
        "subscription": "projects/p/subscriptions/s",
    }
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return client.post("/", json=body, headers=headers, base_url=url)


def test_push_tokens_are_verified_when_a_push_account_is_set(client, push_account, sandbox):
    def token(**claims):
        return sandbox.get("/identity/google-oidc", params={"aud": PUSH_URL, "email": push_account, **claims}).json()["token"]

    assert _push(client, token()).status_code == 200
    assert _push(client, None).status_code == 401
    assert _push(client, token(aud="https://other.a.run.app")).status_code == 401
    assert _push(client, token(email="someone@else.iam.gserviceaccount.com")).status_code == 401
    assert _push(client, token(iss="https://evil.example")).status_code == 401
    assert _push(client, token()[:-4] + "AAAA").status_code == 401
    assert _push(client, token(aud=PUSH_URL + "/")).status_code == 401


def test_the_push_audience_is_the_configured_url_not_the_requests_host(client, push_account, sandbox):
    """Whoever sends the request chooses its Host header: a token minted for a host of the sender's
    choosing (any Google-signed token of the push account, for any audience) must not pass."""
    forged = "https://evil.example"
    token = sandbox.get("/identity/google-oidc", params={"aud": forged, "email": push_account}).json()["token"]
    assert _push(client, token, url=forged).status_code == 401
    assert _push(client, token, url=forged + "/_pubsub/probe").status_code == 401


def test_without_a_push_audience_every_push_is_refused(client, push_account, sandbox, monkeypatch):
    from common.platform.settings import reset_settings

    monkeypatch.delenv("PUSH_AUDIENCE")
    reset_settings()
    token = sandbox.get("/identity/google-oidc", params={"aud": PUSH_URL, "email": push_account}).json()["token"]
    assert _push(client, token).status_code == 401


@pytest.mark.parametrize(
    "push_settings, missing",
    [
        ({}, "PUSH_SERVICE_ACCOUNT"),
        ({"PUSH_SERVICE_ACCOUNT": "fn-probe@acme-gateway.iam.gserviceaccount.com"}, "PUSH_AUDIENCE"),
        ({"PUSH_AUDIENCE": PUSH_URL}, "PUSH_SERVICE_ACCOUNT"),
    ],
)
def test_production_consumers_without_a_push_account_and_audience_refuse_every_message(
    tmp_path, monkeypatch, push_settings, missing
):
    """The missing setting is one of the configuration's listed problems; the consumer starts and
    answers each message with an error, so Pub/Sub redelivers it once the setting is fixed."""
    from common.platform.settings import SETTINGS, reset_settings
    from common.serving.config_check import configuration_problems, reset_configuration_check

    for setting in SETTINGS:
        monkeypatch.delenv(setting.name, raising=False)
    monkeypatch.setenv("APP_ENV", "production")
    monkeypatch.setenv("GCP_PROJECT", "acme-gateway")
    for name, value in push_settings.items():
        monkeypatch.setenv(name, value)
    reset_settings()
    reset_configuration_check()
    try:
        assert f"{missing} must be set in production for consumer functions" in configuration_problems(role="consumer")
        (tmp_path / "main.py").write_text(textwrap.dedent(SOURCE))
        client = functions_framework.create_app("probe", str(tmp_path / "main.py")).test_client()
        assert deliver(client, {"ok": 1}).status_code == 500
    finally:
        monkeypatch.undo()
        reset_settings()
        reset_configuration_check()
