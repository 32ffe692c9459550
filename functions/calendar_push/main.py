"""POST /api/v1/webhooks/calendar/push: Google Calendar channel notifications (checked, queued, acked)."""

import functions_framework

from common.serving.http import endpoint
from common.webhooks.calendar_push import receive_push


@functions_framework.http
@endpoint("POST")
def calendar_push(request):
    return receive_push(request)
