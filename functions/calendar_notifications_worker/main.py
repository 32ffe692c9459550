"""Pub/Sub `calendar-notifications`: incremental Calendar sync for the channel's user."""

import functions_framework

from common import calendar_sync
from common.consumer import consumer
from common.settings import get_settings


@functions_framework.cloud_event
@consumer(max_age_seconds=get_settings().google_push_max_age_seconds, webhook="calendar")
def calendar_notifications_worker(payload, attributes):
    calendar_sync.handle_notification(payload)
