"""GET /api/v1/health: is the API able to reach Firestore and Pub/Sub."""

import functions_framework

from common.serving.health import health_reply
from common.serving.http import endpoint


@functions_framework.http
@endpoint("GET", check_configuration=False)  # the reply reports it
def health(request):
    return health_reply("topic_connection_events")
