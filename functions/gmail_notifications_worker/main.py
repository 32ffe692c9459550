"""Pub/Sub `gmail-notifications` (Gmail's push): sync the user's mailbox from the stored cursor."""

import functions_framework

from common import gmail_sync
from common.consumer import consumer
from common.settings import get_settings


@functions_framework.cloud_event
@consumer(max_age_seconds=get_settings().google_push_max_age_seconds, webhook="gmail")
def gmail_notifications_worker(payload, attributes):
    gmail_sync.handle_notification(payload)
