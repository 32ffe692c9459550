"""Pub/Sub tick (Cloud Scheduler, daily): renew Gmail watches and Calendar channels that are due."""

import functions_framework

from common.sync.watches import renew_due
from common.webhooks.consumer import consumer

TICK_MAX_AGE_SECONDS = 43200


@functions_framework.cloud_event
@consumer(max_age_seconds=TICK_MAX_AGE_SECONDS)
def renew_watches(payload, attributes):
    renew_due()
