"""Pub/Sub `connection-events`: deliver each event the app opted into to its webhook URL, signed
(common/webhooks/app_webhooks.py); a failed delivery is redelivered, then dead-lettered."""

import functions_framework

from common.webhooks.app_webhooks import deliver
from common.webhooks.consumer import consumer


@functions_framework.cloud_event
@consumer()
def app_webhooks_worker(payload, attributes):
    deliver(payload)
