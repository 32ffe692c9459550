"""Connection events reach Pub/Sub before the function that announced them answers: the app's
webhooks are made from them, and a serverless instance may get no CPU (or no life) after its reply."""

import base64
import json
import textwrap

import functions_framework
import pytest
from cloudevents.conversion import to_structured
from cloudevents.http import CloudEvent

from common.platform import clients
from tests.conftest import reset_process_state

SOURCE = """
import functions_framework
from common.product.events import publish_connection_event
from common.serving.http import endpoint
from common.webhooks.consumer import consumer


@functions_framework.http
@endpoint("POST")
def announce_http(request):
    publish_connection_event("connected", request.args["uid"], "gmail", None)
    return {"announced": True}


@functions_framework.cloud_event
@consumer()
def announce_consumer(payload, attributes):
    publish_connection_event("connected", payload["uid"], "gmail", None)
"""


@pytest.fixture
def held_publishes(stack, monkeypatch):
    """The hand-off publisher holds each message in its batch for 3 s before sending it, as a slow
    Pub/Sub would: a function that answered without waiting leaves its event unsent."""
    monkeypatch.setattr(clients, "HAND_OFF_BATCH", {"max_messages": 100, "max_latency": 3.0})
    reset_process_state()
    yield
    monkeypatch.undo()
    reset_process_state()


def _app(tmp_path, target: str):
    (tmp_path / "main.py").write_text(textwrap.dedent(SOURCE))
    return functions_framework.create_app(target, str(tmp_path / "main.py")).test_client()


def _on_topic_now(pull) -> list[str]:
    return [message["data"]["uid"] for message in pull(expected=1, timeout=0.2)]


def test_an_http_function_answers_once_its_connection_event_is_on_the_topic(held_publishes, topic_messages, tmp_path):
    pull = topic_messages("connection-events")
    reply = _app(tmp_path, "announce_http").post("/?uid=held-http")
    assert reply.status_code == 200
    assert _on_topic_now(pull) == ["held-http"]


def test_a_consumer_acknowledges_once_its_connection_event_is_on_the_topic(held_publishes, topic_messages, tmp_path):
    pull = topic_messages("connection-events")
    data = base64.b64encode(json.dumps({"uid": "held-consumer"}).encode()).decode()
    event = CloudEvent(
        {"type": "google.cloud.pubsub.topic.v1.messagePublished", "source": "//pubsub.googleapis.com/t"},
        {"message": {"data": data, "messageId": "9"}, "subscription": "s"},
    )
    headers, body = to_structured(event)
    assert _app(tmp_path, "announce_consumer").post("/", headers=headers, data=body).status_code == 200
    assert _on_topic_now(pull) == ["held-consumer"]
