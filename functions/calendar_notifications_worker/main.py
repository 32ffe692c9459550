"""Pub/Sub `calendar-notifications`: incremental Calendar sync for the channel's user."""

import functions_framework

from common.platform.settings import get_settings
from common.sync import calendar_sync
from common.webhooks.consumer import consumer


@functions_framework.cloud_event
@consumer(max_age_seconds=get_settings().google_push_max_age_seconds, webhook="calendar")
def calendar_notifications_worker(payload, attributes):
    calendar_sync.handle_notification(payload)
