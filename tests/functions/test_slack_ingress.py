"""Slack ingress: signatures checked exactly as Slack signs, hand-off before ack (one publish; the
consumer records a retried event once: test_slack_pipeline.py)."""

import json
import time

import functions_framework
import pytest

from common.platform.clients import firestore_client, reset_clients
from common.platform.settings import reset_settings
from local.catalog import FUNCTIONS_DIR
from local.processes import free_port
from tests.slack_helpers import event_envelope, post_event, post_interaction, signed

MESSAGE = {"type": "message", "channel": "C0GENERAL", "user": "U0ALICE", "text": "hello", "ts": "1763726400.000100"}


def test_url_verification_answers_the_challenge(api):
    body = json.dumps(
        {"token": "x", "challenge": "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P", "type": "url_verification"}
    ).encode()
    reply = api.post("/api/v1/webhooks/slack/events", data=body, headers={"Content-Type": "application/json", **signed(body)})
    assert reply.status_code == 200 and reply.json() == {"challenge": "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P"}


def test_an_event_and_its_retries_are_published_with_attributes_and_nothing_else_is_stored(api, topic_messages):
    """The ack's one round trip is the publish: a retry is queued again (the consumer creates each
    document once), and the ingress writes nothing to Firestore."""
    published = topic_messages("slack-events")
    reply = post_event(api, event_envelope("Ev0001", MESSAGE))
    assert reply.status_code == 200 and reply.json()["data"] == {"queued": True}
    retry = post_event(
        api, event_envelope("Ev0001", MESSAGE), **{"X-Slack-Retry-Num": "1", "X-Slack-Retry-Reason": "http_timeout"}
    )
    assert retry.status_code == 200 and retry.json()["data"] == {"queued": True}
    messages = published(expected=2, timeout=10)
    assert len(messages) == 2
    for message in messages:
        assert {k: message["attributes"][k] for k in ("team_id", "event_type", "event_id", "kind")} == {
            "team_id": "T0ACME",
            "event_type": "message",
            "event_id": "Ev0001",
            "kind": "event_callback",
        }
        assert message["data"]["event"]["text"] == "hello"
    assert list(firestore_client().collection("webhook_dedup").stream()) == []


def _rejected(reply, code: str) -> None:
    assert reply.status_code == 401, reply.text
    assert reply.json()["success"] is False and reply.json()["error"]["code"] == code


@pytest.mark.parametrize(
    "make_headers, code",
    [
        (lambda body: signed(body, timestamp=int(time.time()) - 301), "stale_request"),
        # Ahead by more than the window plus the request's own transit: at + 301 a loaded machine that
        # took over a second to hand the request over made it land inside the window (seen once).
        (lambda body: signed(body, timestamp=int(time.time()) + 330), "stale_request"),
        (lambda body: signed(body + b" "), "invalid_signature"),
        (lambda body: signed(body, secret="not-the-secret"), "invalid_signature"),
        (lambda body: {"X-Slack-Request-Timestamp": str(int(time.time()))}, "invalid_signature"),
        (lambda body: {"X-Slack-Signature": signed(body)["X-Slack-Signature"]}, "invalid_signature"),
        (lambda body: {}, "invalid_signature"),
        (lambda body: {**signed(body), "X-Slack-Request-Timestamp": "12e3"}, "invalid_signature"),
        (lambda body: {k.lower(): v for k, v in signed(body, secret="wrong").items()}, "invalid_signature"),
    ],
)
def test_bad_signatures_are_401_and_publish_nothing(api, topic_messages, make_headers, code):
    published = topic_messages("slack-events")
    body = json.dumps(event_envelope("Ev0002", MESSAGE)).encode()
    _rejected(
        api.post("/api/v1/webhooks/slack/events", data=body, headers={"Content-Type": "application/json", **make_headers(body)}),
        code,
    )
    assert published(expected=1, timeout=1) == []


def test_headers_are_read_case_insensitively(api):
    body = json.dumps(event_envelope("Ev0003", MESSAGE)).encode()
    headers = {k.lower(): v for k, v in signed(body).items()}
    assert (
        api.post("/api/v1/webhooks/slack/events", data=body, headers={"content-type": "application/json", **headers}).status_code
        == 200
    )


@pytest.mark.parametrize(
    "body, content_type, status, code",
    [
        (b"not json", "application/json", 400, "invalid_json"),
        (b"[1, 2]", "application/json", 400, "invalid_payload"),
        (
            json.dumps({"type": "event_callback", "team_id": "T1", "event": {"type": "message"}}).encode(),
            "application/json",
            400,
            "invalid_payload",
        ),
        (
            json.dumps({"type": "event_callback", "event_id": "Ev9", "event": {"type": "message"}}).encode(),
            "application/json",
            400,
            "invalid_payload",
        ),
        (
            json.dumps({"type": "event_callback", "event_id": "Ev9", "team_id": "T1", "event": "x"}).encode(),
            "application/json",
            400,
            "invalid_payload",
        ),
        (json.dumps({"type": "url_verification"}).encode(), "application/json", 400, "invalid_payload"),
        (json.dumps(event_envelope("Ev0004", MESSAGE)).encode(), "text/plain", 415, "unsupported_media_type"),
        (b'{"a": "' + b"x" * 600_000 + b'"}', "application/json", 413, "payload_too_large"),
    ],
)
def test_bad_input_is_a_clear_4xx_and_publishes_nothing(api, topic_messages, body, content_type, status, code):
    published = topic_messages("slack-events")
    reply = api.post("/api/v1/webhooks/slack/events", data=body, headers={"Content-Type": content_type, **signed(body)})
    assert reply.status_code == status and reply.json()["error"]["code"] == code
    assert published(expected=1, timeout=1) == []


def test_other_callback_types_are_acknowledged(api):
    body = json.dumps({"type": "app_rate_limited", "team_id": "T1", "minute_rate_limited": 1}).encode()
    reply = api.post("/api/v1/webhooks/slack/events", data=body, headers={"Content-Type": "application/json", **signed(body)})
    assert reply.status_code == 200 and reply.json()["data"] == {"ignored": True}


INTERACTION = {
    "type": "block_actions",
    "team": {"id": "T0ACME", "domain": "acme"},
    "user": {"id": "U0ALICE"},
    "channel": {"id": "C0GENERAL"},
    "trigger_id": "123.456.abc",
    "actions": [{"action_id": "approve", "value": "1"}],
}


def test_interactions_are_verified_and_published_under_one_id_per_body(api, topic_messages):
    published = topic_messages("slack-events")
    assert post_interaction(api, INTERACTION).json()["data"] == {"queued": True}
    assert post_interaction(api, INTERACTION).json()["data"] == {"queued": True}
    messages = published(expected=2, timeout=10)
    assert [m["attributes"]["kind"] for m in messages] == ["interaction", "interaction"]
    assert messages[0]["attributes"]["event_type"] == "block_actions"
    assert messages[0]["attributes"]["event_id"] == messages[1]["attributes"]["event_id"]  # the consumer's key


@pytest.mark.parametrize(
    "body, content_type, status, code",
    [
        (b"other=1", "application/x-www-form-urlencoded", 400, "missing_payload"),
        (b"payload=%7Bnot", "application/x-www-form-urlencoded", 400, "invalid_json"),
        (b"payload=%7B%7D", "application/x-www-form-urlencoded", 400, "invalid_payload"),
        (b"payload=%7B%7D", "application/json", 415, "unsupported_media_type"),
    ],
)
def test_bad_interactions(api, body, content_type, status, code):
    reply = api.post("/api/v1/webhooks/slack/interactions", data=body, headers={"Content-Type": content_type, **signed(body)})
    assert reply.status_code == status and reply.json()["error"]["code"] == code


def test_a_failed_hand_off_is_a_503_and_the_retry_goes_through(stack, monkeypatch):
    """Publishing fails (Pub/Sub unreachable): no ack; the retry publishes."""

    def client():
        reset_settings()
        reset_clients()
        return functions_framework.create_app("slack_events", str(FUNCTIONS_DIR / "slack_events" / "main.py")).test_client()

    body = json.dumps(event_envelope("Ev0005", MESSAGE)).encode()
    monkeypatch.setenv("PUBSUB_EMULATOR_HOST", f"127.0.0.1:{free_port()}")
    monkeypatch.setenv("PUBLISH_TIMEOUT_SECONDS", "1")
    try:
        failed = client().post("/", data=body, headers={"Content-Type": "application/json", **signed(body)})
        assert failed.status_code == 503 and failed.get_json()["error"]["code"] == "publish_failed"
    finally:
        monkeypatch.undo()
    retry = client().post("/", data=body, headers={"Content-Type": "application/json", **signed(body), "X-Slack-Retry-Num": "1"})
    assert retry.status_code == 200 and retry.get_json()["data"] == {"queued": True}
    reset_settings()
    reset_clients()
