"""Pub/Sub token-refresh-chunks: refresh one chunk of a scheduled run's due connections and add its
counts to the run. A failure raises, so Pub/Sub redelivers the chunk (doing it twice is harmless)."""

import functions_framework

from common.tokens.refresh_chunk import refresh_chunk
from common.webhooks.consumer import consumer


@functions_framework.cloud_event
@consumer()
def token_refresh_worker(payload, attributes):
    refresh_chunk(payload)
