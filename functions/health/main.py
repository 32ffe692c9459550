"""GET /api/v1/health: is the API able to reach Firestore and Pub/Sub."""

import functions_framework

from common.health import health_reply
from common.http import endpoint
from common.settings import get_settings


@functions_framework.http
@endpoint("GET")
def health(request):
    return health_reply(get_settings().topic_connection_events)
