"""Pub/Sub `slack-events`: record each Slack event or interaction for the users it concerns."""

import functions_framework

from common.platform.settings import get_settings
from common.sync.slack_processing import process_event, process_interaction
from common.webhooks.consumer import consumer


@functions_framework.cloud_event
@consumer(max_age_seconds=get_settings().slack_event_max_age_seconds, webhook="slack")
def slack_events_worker(payload, attributes):
    if attributes.get("kind") == "interaction":
        process_interaction(payload, attributes.get("event_id", ""))
    else:
        process_event(payload)
