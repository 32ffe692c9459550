"""The health endpoints: through the local host with the emulators up, and in-process with
each dependency pointed at a dead port."""

import functions_framework
import pytest

from local.catalog import FUNCTIONS_DIR
from local.processes import free_port
from tests.conftest import reset_process_state

# A ring whose one key is 5 bytes (AES-256 needs 32), and a timeout that is no number.
BAD_CONFIGURATION = {"TOKEN_KEY_RING": '{"active": "k1", "keys": {"k1": "AAAAAAA="}}', "PROVIDER_TIMEOUT_SECONDS": "abc"}


def _answers_only_up_or_down_with_latency(data: dict) -> None:
    """A public endpoint says whether each dependency answers and how fast, nothing of what is behind it."""
    assert set(data) == {"status", "dependencies"} and set(data["dependencies"]) == {"configuration", "firestore", "pubsub"}
    for dependency in data["dependencies"].values():
        assert set(dependency) == {"status", "latencyMs"} and isinstance(dependency["latencyMs"], float)


@pytest.mark.parametrize("path, topic", [("/api/v1/health", "connection-events"), ("/api/v1/webhooks/health", "slack-events")])
def test_both_dependencies_up(api, path, topic):
    reply = api.get(path)
    assert reply.status_code == 200
    data = reply.json()["data"]
    assert data["status"] == "ok"
    assert data["dependencies"]["firestore"]["status"] == "up" and data["dependencies"]["pubsub"]["status"] == "up"
    _answers_only_up_or_down_with_latency(data)
    assert topic not in reply.text


@pytest.fixture
def health_client(stack, monkeypatch):
    """The health function in-process, with chosen emulator hosts."""

    def build(name: str, **hosts):
        for key, value in hosts.items():
            monkeypatch.setenv(key, value)
        monkeypatch.setenv("HEALTH_TIMEOUT_SECONDS", "1")
        reset_process_state()
        return functions_framework.create_app(name, str(FUNCTIONS_DIR / name / "main.py")).test_client()

    yield build
    monkeypatch.undo()
    reset_process_state()


def test_everything_down_is_a_503_with_the_same_shape(health_client):
    dead = f"127.0.0.1:{free_port()}"
    reply = health_client("health", FIRESTORE_EMULATOR_HOST=dead, PUBSUB_EMULATOR_HOST=dead).get("/")
    assert reply.status_code == 503
    body = reply.get_json()
    assert body["success"] is False and body["error"]["code"] == "unavailable"
    assert body["data"]["status"] == "degraded"
    for name in ("firestore", "pubsub"):
        assert body["data"]["dependencies"][name]["status"] == "down"
    _answers_only_up_or_down_with_latency(body["data"])


def test_one_dependency_down(health_client):
    reply = health_client("webhooks_health", PUBSUB_EMULATOR_HOST=f"127.0.0.1:{free_port()}").get("/")
    assert reply.status_code == 503
    dependencies = reply.get_json()["data"]["dependencies"]
    assert dependencies["firestore"]["status"] == "up" and dependencies["pubsub"]["status"] == "down"
    assert reply.get_json()["error"]["message"] == "Down: pubsub"


def test_a_missing_topic_is_down_and_only_the_log_says_why(health_client, monkeypatch, caplog):
    monkeypatch.setenv("TOPIC_CONNECTION_EVENTS", "never-created")
    reply = health_client("health").get("/")
    assert reply.status_code == 503
    assert reply.get_json()["data"]["dependencies"]["pubsub"]["status"] == "down"
    _answers_only_up_or_down_with_latency(reply.get_json()["data"])
    assert "NotFound" not in reply.text and "never-created" not in reply.text
    (probe,) = [record.fields for record in caplog.records if record.getMessage() == "health probe failed"]
    assert probe == {"dependency": "pubsub", "error": "NotFound", "topic": "never-created"}


def test_a_bad_configuration_is_down_and_every_route_refuses_until_fixed(health_client, caplog):
    """Before: the 5-byte key passed the start and health said ok; the bad timeout crashed the
    module import with a traceback. Now both are named in one log line, health is down, and a
    request answers 503 in the envelope, naming no setting."""
    health = health_client("health", **BAD_CONFIGURATION).get("/")
    assert health.status_code == 503
    assert health.get_json()["data"] == {
        "status": "degraded",
        "dependencies": {
            "configuration": {
                "status": "down",
                "latencyMs": health.get_json()["data"]["dependencies"]["configuration"]["latencyMs"],
            }
        },
    }
    assert "TOKEN_KEY_RING" not in health.text and "PROVIDER_TIMEOUT" not in health.text
    (logged,) = [record.fields["problems"] for record in caplog.records if record.getMessage() == "configuration invalid"]
    assert len(logged) == 2
    assert any("PROVIDER_TIMEOUT_SECONDS" in problem for problem in logged)
    assert any("TOKEN_KEY_RING key 'k1' is 5 bytes" in problem for problem in logged)

    me = health_client("me", **BAD_CONFIGURATION).get("/", headers={"Origin": "https://app.example.test"})
    assert me.status_code == 503
    assert me.get_json()["error"]["code"] == "configuration_invalid" and "TOKEN_KEY_RING" not in me.text
