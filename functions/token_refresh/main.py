"""Pub/Sub tick (Cloud Scheduler, every 5 minutes): refresh every active connection due soon."""

import functions_framework

from common.consumer import consumer
from common.refresh_job import run_refresh_job

TICK_MAX_AGE_SECONDS = 600  # a tick older than two periods is superseded by a newer one


@functions_framework.cloud_event
@consumer(max_age_seconds=TICK_MAX_AGE_SECONDS)
def token_refresh(payload, attributes):
    run_refresh_job()
