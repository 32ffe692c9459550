"""Pub/Sub tick (Cloud Scheduler, every 5 minutes): hand every active connection due soon to
token_refresh_worker, in chunks."""

import functions_framework

from common.tokens.refresh_job import start_run
from common.webhooks.consumer import consumer

TICK_MAX_AGE_SECONDS = 600  # a tick older than two periods is superseded by a newer one


@functions_framework.cloud_event
@consumer(max_age_seconds=TICK_MAX_AGE_SECONDS)
def token_refresh(payload, attributes):
    start_run()
