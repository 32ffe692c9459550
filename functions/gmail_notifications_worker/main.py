"""Pub/Sub `gmail-notifications` (Gmail's push): sync the user's mailbox from the stored cursor."""

import functions_framework

from common.platform.settings import get_settings
from common.sync import gmail_sync
from common.webhooks.consumer import consumer


@functions_framework.cloud_event
@consumer(max_age_seconds=get_settings().google_push_max_age_seconds, webhook="gmail")
def gmail_notifications_worker(payload, attributes):
    gmail_sync.handle_notification(payload)
