"""Pub/Sub `slack-events`: record each Slack event or interaction for the users it concerns."""

import functions_framework

from common.consumer import consumer
from common.settings import get_settings
from common.slack_processing import process_event, process_interaction


@functions_framework.cloud_event
@consumer(max_age_seconds=get_settings().slack_event_max_age_seconds, webhook="slack")
def slack_events_worker(payload, attributes):
    if attributes.get("kind") == "interaction":
        process_interaction(payload, attributes.get("event_id", ""))
    else:
        process_event(payload)
