"""Pub/Sub `connection-migration` ({"restart": true} to start): write each stored connection's id
into its account index entry (common/stores/connection_migration.py), publishing a continuation
message until every entry is done."""

import functions_framework

from common.platform.settings import get_settings
from common.product.events import publish_json
from common.stores.connection_migration import run_migration
from common.webhooks.consumer import consumer

BUDGET_SECONDS = 300  # well inside the function's 540 s timeout
BATCH_SIZE = 200  # index entries a page (each its own transaction)


@functions_framework.cloud_event
@consumer()
def migrate_connections(payload, attributes):
    progress = run_migration(bool(payload.get("restart")), BATCH_SIZE, BUDGET_SECONDS)
    if not progress["done"] and not progress.get("busy"):
        publish_json(get_settings().topic_connection_migration, {"restart": False})
