"""POST /api/v1/webhooks/slack/events: Slack Events API ingress (verify, dedupe, queue, ack)."""

import functions_framework

from common.platform.settings import get_settings
from common.serving.http import endpoint
from common.webhooks.slack_ingress import receive_event


@functions_framework.http
@endpoint("POST", max_body_bytes=get_settings().webhook_max_body_bytes)
def slack_events(request):
    return receive_event(request)
