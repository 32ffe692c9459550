"""The health endpoints: through the local host with the emulators up, and in-process with
each dependency pointed at a dead port."""

import functions_framework
import pytest

from common.clients import reset_clients
from common.settings import reset_settings
from local.catalog import FUNCTIONS_DIR
from local.processes import free_port


@pytest.mark.parametrize("path, topic", [("/api/v1/health", "connection-events"), ("/api/v1/webhooks/health", "slack-events")])
def test_both_dependencies_up(api, path, topic):
    reply = api.get(path)
    assert reply.status_code == 200
    data = reply.json()["data"]
    assert data["status"] == "ok"
    assert data["dependencies"]["firestore"]["status"] == "up"
    assert data["dependencies"]["pubsub"] == {**data["dependencies"]["pubsub"], "status": "up", "topic": topic}
    assert all(isinstance(dep["latencyMs"], float) for dep in data["dependencies"].values())


@pytest.fixture
def health_client(stack, monkeypatch):
    """The health function in-process, with chosen emulator hosts."""

    def build(name: str, **hosts):
        for key, value in hosts.items():
            monkeypatch.setenv(key, value)
        monkeypatch.setenv("HEALTH_TIMEOUT_SECONDS", "1")
        reset_settings()
        reset_clients()
        return functions_framework.create_app(name, str(FUNCTIONS_DIR / name / "main.py")).test_client()

    yield build
    monkeypatch.undo()
    reset_settings()
    reset_clients()


def test_everything_down_is_a_503_with_the_same_shape(health_client):
    dead = f"127.0.0.1:{free_port()}"
    reply = health_client("health", FIRESTORE_EMULATOR_HOST=dead, PUBSUB_EMULATOR_HOST=dead).get("/")
    assert reply.status_code == 503
    body = reply.get_json()
    assert body["success"] is False and body["error"]["code"] == "unavailable"
    assert body["data"]["status"] == "degraded"
    for name in ("firestore", "pubsub"):
        assert body["data"]["dependencies"][name]["status"] == "down"
        assert "latencyMs" in body["data"]["dependencies"][name]


def test_one_dependency_down(health_client):
    reply = health_client("webhooks_health", PUBSUB_EMULATOR_HOST=f"127.0.0.1:{free_port()}").get("/")
    assert reply.status_code == 503
    dependencies = reply.get_json()["data"]["dependencies"]
    assert dependencies["firestore"]["status"] == "up" and dependencies["pubsub"]["status"] == "down"
    assert reply.get_json()["error"]["message"] == "Down: pubsub"


def test_a_missing_topic_is_down(health_client, monkeypatch):
    monkeypatch.setenv("TOPIC_CONNECTION_EVENTS", "never-created")
    reply = health_client("health").get("/")
    assert reply.status_code == 503
    assert reply.get_json()["data"]["dependencies"]["pubsub"] == {
        **reply.get_json()["data"]["dependencies"]["pubsub"],
        "status": "down",
        "error": "NotFound",
    }
