"""Feature flags and experiments: consistent hashing, overrides, sticky assignments, exposures,
and where they are enforced."""

import json
import threading
import time

import pytest

from common.platform.clients import firestore_client
from common.platform.settings import reset_settings
from common.product import flags
from tests.helpers import user_docs, wait_for
from tests.slack_helpers import event_envelope, post_event

USERS = [f"user-{n}" for n in range(10_000)]


@pytest.mark.parametrize("rollout", [10, 33, 50, 90])
def test_a_rollout_enables_that_share_of_users_within_two_points(rollout):
    share = sum(flags.bucket("integration_auto_sync", uid) < rollout for uid in USERS) / len(USERS) * 100
    assert abs(share - rollout) <= 2


def test_buckets_are_stable_and_independent_per_flag():
    assert flags.bucket("a", "alice") == flags.bucket("a", "alice")
    assert flags.bucket("a", "alice") != flags.bucket("b", "alice")


@pytest.fixture
def long_cache(monkeypatch, stack):
    monkeypatch.setenv("FLAGS_CACHE_SECONDS", "3600")
    reset_settings()
    flags.reset_cache()
    yield
    monkeypatch.undo()
    reset_settings()
    flags.reset_cache()


@pytest.mark.parametrize(
    "experiment, expected",
    [
        ("oauth_flow_optimization", {"control": 50, "optimized": 50}),
        ("provider_onboarding_ux", {"standard": 33, "guided": 33, "video": 34}),
    ],
)
def test_experiment_variants_follow_their_weights(long_cache, experiment, expected):
    counts = {}
    for uid in USERS:
        chosen = flags._pick(experiment, uid)
        counts[chosen] = counts.get(chosen, 0) + 1
    assert set(counts) == set(expected)
    for name, weight in expected.items():
        assert abs(counts[name] / len(USERS) * 100 - weight) <= 2


def test_definitions_are_cached_per_instance(long_cache, flag):
    assert flags.is_enabled("integration_slack_enabled", "alice") is True
    flag("integration_slack_enabled", rollout=0)
    assert flags.is_enabled("integration_slack_enabled", "alice") is True  # served from the cache
    flags.reset_cache()
    assert flags.is_enabled("integration_slack_enabled", "alice") is False


def test_an_expired_cache_is_served_while_one_thread_reloads_it(long_cache, flag, monkeypatch):
    """The reload is held at its Firestore read: a request meanwhile gets the old definitions at
    once, a second request starts no second reload, and once the read is let go the new flag shows."""
    assert flags.is_enabled("integration_slack_enabled", "alice") is True  # loaded (in the request: nothing yet)
    flag("integration_slack_enabled", rollout=0)
    release, reads, read = threading.Event(), [], flags._read_definitions

    def held_read():
        reads.append(threading.current_thread().name)
        assert release.wait(30)
        return read()

    monkeypatch.setattr(flags, "_read_definitions", held_read)
    monkeypatch.setattr(flags._definitions, "_loaded_at", time.monotonic() - 7200)  # expired
    answers = []
    requests = [
        threading.Thread(target=lambda: answers.append(flags.is_enabled("integration_slack_enabled", "alice"))) for _ in range(2)
    ]
    for request in requests:
        request.start()
        request.join(timeout=10)
    assert answers == [True, True] and reads == ["flags-refresh"]  # served stale, one reload, none in a request
    release.set()
    assert wait_for(lambda: flags.is_enabled("integration_slack_enabled", "alice") is False)


def test_overrides_win_over_the_rollout(stack, flag):
    flag("integration_asana_enabled", rollout=0, overrides={"alice": True})
    assert flags.is_enabled("integration_asana_enabled", "alice") is True
    assert flags.is_enabled("integration_asana_enabled", "bob") is False
    flag("integration_slack_enabled", rollout=100, overrides={"bob": False})
    assert flags.is_enabled("integration_slack_enabled", "bob") is False


def test_assignments_stick_and_exposures_are_recorded_once(stack):
    first = flags.variant("alice", "oauth_flow_optimization")
    other = next(v for v in ("control", "optimized") if v != first)
    firestore_client().collection("experiments").document("oauth_flow_optimization").set(
        {"variants": [{"name": other, "weight": 100}]}
    )
    assert flags.variant("alice", "oauth_flow_optimization") == first  # sticky despite new weights
    assert flags.variant("bob", "oauth_flow_optimization") == other
    exposures = user_docs("alice", "experiment_exposures")
    assert list(exposures) == ["oauth_flow_optimization"] and exposures["oauth_flow_optimization"]["variant"] == first


def test_the_flags_endpoint(user):
    reply = user("alice").get("/api/v1/flags")
    assert reply.status_code == 200
    data = reply.json()["data"]
    assert set(data["flags"]) >= set(flags.DEFAULT_FLAGS)
    assert data["flags"]["integration_slack_enabled"] is True and data["flags"]["integration_notion_enabled"] is False
    assert data["experiments"]["provider_onboarding_ux"] in ("standard", "guided", "video")
    assert set(user_docs("alice", "experiment_exposures")) == set(flags.DEFAULT_EXPERIMENTS)
    assert user("alice").get("/api/v1/flags", headers={"Authorization": "Bearer nope"}).status_code == 401


def test_oauth_start_for_a_disabled_provider_is_403(user, flag):
    flag("integration_google_enabled", rollout=0)
    reply = user("alice").get("/api/v1/oauth/gmail/start")
    assert reply.status_code == 403 and reply.json()["error"]["code"] == "feature_disabled"
    assert user("alice").get("/api/v1/oauth/slack/start").status_code == 200
    flag("integration_google_enabled", rollout=0, overrides={"alice": True})
    assert user("alice").get("/api/v1/oauth/calendar/start").status_code == 200


def test_disabled_webhooks_are_acknowledged_and_not_queued(api, flag, topic_messages):
    published = topic_messages("slack-events")
    flag("integration_webhooks_enabled", rollout=0)
    reply = post_event(api, event_envelope("EvOFF", {"type": "message", "user": "U1", "text": "x"}, team_id="T0OFF"))
    assert reply.status_code == 200 and reply.json()["data"] == {"ignored": "webhooks_disabled"}
    assert published(expected=1, timeout=1) == []
    assert json.loads(reply.text)["success"] is True
