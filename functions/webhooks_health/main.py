"""GET /api/v1/webhooks/health: can the webhook ingress dedupe (Firestore) and hand off (Pub/Sub)."""

import functions_framework

from common.health import health_reply
from common.http import endpoint
from common.settings import get_settings


@functions_framework.http
@endpoint("GET")
def webhooks_health(request):
    return health_reply(get_settings().topic_slack_events)
