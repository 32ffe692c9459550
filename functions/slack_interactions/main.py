"""POST /api/v1/webhooks/slack/interactions: Slack interactivity ingress (verify, dedupe, queue, ack)."""

import functions_framework

from common.platform.settings import get_settings
from common.serving.http import endpoint
from common.webhooks.slack_ingress import receive_interaction


@functions_framework.http
@endpoint("POST", max_body_bytes=get_settings().webhook_max_body_bytes)
def slack_interactions(request):
    return receive_interaction(request)
