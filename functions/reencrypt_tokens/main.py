"""Pub/Sub `key-rotation` ({"restart": true} to start): rewrite stored secrets under the active key,
publishing a continuation message until every document is done."""

import functions_framework

from common.platform.settings import get_settings
from common.product.events import publish_json
from common.tokens.reencrypt import run_reencryption
from common.webhooks.consumer import consumer

BUDGET_SECONDS = 300  # well inside the function's 540 s timeout


@functions_framework.cloud_event
@consumer()
def reencrypt_tokens(payload, attributes):
    settings = get_settings()
    progress = run_reencryption(bool(payload.get("restart")), settings.reencrypt_batch_size, BUDGET_SECONDS)
    if not progress["done"] and not progress.get("busy"):
        publish_json(settings.topic_key_rotation, {"restart": False})
