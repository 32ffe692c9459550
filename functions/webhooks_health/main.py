"""GET /api/v1/webhooks/health: can the webhook ingress dedupe (Firestore) and hand off (Pub/Sub)."""

import functions_framework

from common.serving.health import health_reply
from common.serving.http import endpoint


@functions_framework.http
@endpoint("GET", check_configuration=False)  # the reply reports it
def webhooks_health(request):
    return health_reply("topic_slack_events")
