"""The Slack consumer fed arbitrary envelopes and interactions, as a signed but hostile (or buggy)
sender could queue them: it records them or refuses them as a permanent BadRequest, never raises
anything else. Anything else is redelivered by Pub/Sub until the dead-letter topic takes it."""

import json

import pytest
from hypothesis import HealthCheck, event, example, given, settings
from hypothesis import strategies as st

from common.platform.errors import BadRequest
from common.stores.connections import account_ref, connection_ref
from common.sync.slack_processing import process_event, process_interaction
from tests.fuzz_helpers import json_values, mostly
from tests.helpers import user_docs

TEAM = "T0FUZZ"
FUZZ = settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])

JSON_VALUES = json_values(st.text(st.characters(exclude_categories=()), max_size=20), finite=False)  # as json.loads reads them


def either(plausible, hostile=JSON_VALUES):
    """A plausible value three times in four (most messages reach the code that writes), else a
    hostile one: by default anything JSON can hold."""
    return mostly(plausible, hostile)


USERS = either(["U0ALICE", "U0BOB"], st.sampled_from(["U0NOBODY", "\ud800"]) | JSON_VALUES)
TEXTS = either(["TODO: ship it by tomorrow", "<@U0BOB> can you review by Friday?", "action item: by 2026-13-45", "hi"])
EVENTS = st.fixed_dictionaries(
    {"type": either(["message", "app_mention", "channel_created", "member_joined_channel"]), "user": USERS},
    optional={
        "inviter": USERS,
        "channel": either(["C0GENERAL", {"id": "C0GENERAL"}]),
        "ts": either(["1763726400.000100"], st.just(1763726400) | JSON_VALUES),
        "event_ts": either(["1763726400.000100"]),
        "subtype": either(["bot_message", "thread_broadcast"]),
        "text": TEXTS,
    },
)
ENVELOPES = st.fixed_dictionaries(
    {
        "team_id": either([TEAM], st.just("T0OTHER") | JSON_VALUES),
        "event_id": either(
            ["Ev0FUZZ", "Ev1FUZZ"], st.sampled_from(["Ev/slash", ".", "..", "__Ev__", "\ud800", "E" * 200]) | JSON_VALUES
        ),
        "event": either(EVENTS),
    },
    optional={
        "authorizations": either(st.lists(st.fixed_dictionaries({"user_id": USERS}) | JSON_VALUES, max_size=3)),
        "event_time": either([1763726400], st.sampled_from([253402300799, -1, 10**20, 1.5, float("inf")]) | JSON_VALUES),
    },
)
INTERACTIONS = st.fixed_dictionaries(
    {
        "type": either(["block_actions", "view_submission"]),
        "team": either([{"id": TEAM}], st.sampled_from([{"id": 7}, {}]) | JSON_VALUES),
    },
    optional={
        "user": either([{"id": "U0ALICE"}], st.sampled_from([{"id": "\ud800"}, "U0ALICE"]) | JSON_VALUES),
        "actions": either(st.lists(either([{"action_id": "approve"}]), max_size=3)),
        "channel": either([{"id": "C0GENERAL"}], st.just("C0GENERAL") | JSON_VALUES),
        "callback_id": either(["cb"]),
        "view": either([{"callback_id": "view-cb"}], st.just("view") | JSON_VALUES),
    },
)


@pytest.fixture
def workspace(stack):
    """Alice and Bob have connected Slack in TEAM (the account index and the connection an event is
    recorded for): events for them reach the code that writes."""
    for uid, user in (("alice", "U0ALICE"), ("bob", "U0BOB")):
        account = {"teamId": TEAM, "userId": user}
        account_ref("slack", f"{TEAM}:{user}").set({"uid": uid, "service": "slack", "account": account})
        connection_ref(uid, "slack").set({"service": "slack", "status": "active", "account": account})


@FUZZ
@given(envelope=ENVELOPES)
@example(envelope={"team_id": TEAM, "event_id": "Ev1", "event": {"type": "message"}, "authorizations": 5})
@example(envelope={"team_id": TEAM, "event_id": "..", "event": {"type": "message", "user": "U0ALICE"}})
@example(envelope={"team_id": TEAM, "event_id": "Ev2", "event": {"type": "message", "user": "U0ALICE", "ts": 1763726400}})
@example(envelope={"team_id": TEAM, "event_id": "Ev3", "event": {"type": "message", "user": ["U0ALICE"], "text": "TODO: x"}})
@example(
    envelope={
        "team_id": TEAM,
        "event_id": "Ev4",
        "event_time": 253402300799,
        "event": {"type": "message", "user": "U0ALICE", "text": "TODO: x by tomorrow"},
    }
)
def test_an_event_is_recorded_or_refused_for_good(workspace, envelope):
    try:
        reached = process_event(json.loads(json.dumps(envelope)))  # as the consumer decodes it
    except BadRequest as refused:
        assert refused.retryable is False
        return
    event(f"reached {reached}")
    assert reached in (0, 1, 2)


@FUZZ
@given(payload=INTERACTIONS)
@example(payload={"type": "block_actions", "team": {"id": TEAM}, "user": "U0ALICE"})
@example(payload={"type": "block_actions", "team": {"id": TEAM}, "user": {"id": "U0ALICE"}, "channel": "C0GENERAL"})
@example(payload={"type": "block_actions", "team": {"id": TEAM}, "user": {"id": "U0ALICE"}, "actions": 3})
def test_an_interaction_is_recorded_or_refused_for_good(workspace, payload):
    try:
        reached = process_interaction(json.loads(json.dumps(payload)), "int-fuzz")
    except BadRequest as refused:
        assert refused.retryable is False
        return
    event(f"reached {reached}")
    assert reached in (0, 1)


def test_what_is_recorded_keeps_only_well_typed_fields(workspace):
    event = {"type": "message", "user": "U0ALICE", "channel": ["C0X"], "ts": 5, "subtype": {"a": 1}, "text": 7}
    assert process_event({"team_id": TEAM, "event_id": "EvTYPED", "event": event, "event_time": "yesterday"}) == 1
    recorded = user_docs("alice", "slack_activity")["EvTYPED"]
    assert recorded["channel"] is None and recorded["ts"] is None and recorded["subtype"] is None
    assert recorded["text"] == "" and recorded["eventTime"] is None and recorded["link"] is None
