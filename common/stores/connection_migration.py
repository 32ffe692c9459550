"""The migration to several accounts per service: every account index entry names its connection.

Connections stored before several accounts keep their documents and ids (a user's first connection
of a service is named after the service: common/stores/connections.py), so their tokens, leases,
sync state and refresh messages in flight stay valid. What they lack is the index entry's
`connectionId`, which webhooks and reconnects read to find the connection of a provider account;
until an entry has it, the reader takes the service's name (indexed_connection_id). This pass
writes it in, so that rule is no longer needed for stored data (and repairs an entry of a further
account that lost its id). Resumable and one run at a time
(common/stores/resumable_pass.py, progress in `maintenance/connection_ids`); each entry is checked
and written in a transaction, so a connect or disconnect meanwhile is never undone: an entry that
already names its connection, or is gone, is left as it is."""

import urllib.parse

from google.cloud import firestore

from common.platform.clients import firestore_client
from common.stores import resumable_pass
from common.stores.connections import ACCOUNT_INDEX, account_ref, connection_id_for, connection_ref


@firestore.transactional
def _name_connection(transaction, ref) -> int:
    """Name the entry's connection: the user's connection of the service, named after it (an entry
    from before several accounts) or after the account (an entry that lost its id), that holds this
    very account. Anything else is left alone (0)."""
    snapshot = ref.get(transaction=transaction)
    entry = snapshot.to_dict() if snapshot.exists else {}
    uid, service = entry.get("uid"), entry.get("service")
    if entry.get("connectionId") or not uid or not service:
        return 0
    account_key = urllib.parse.unquote(ref.id.partition(":")[2])
    candidates = [connection_ref(uid, service), connection_ref(uid, connection_id_for(service, account_key))]
    for connection in transaction.get_all(candidates):
        if connection.exists and account_ref(service, connection.get("accountKey")).path == ref.path:
            transaction.update(ref, {"connectionId": connection.id})
            return 1
    return 0


MIGRATION = resumable_pass.Pass(
    name="connection_ids",
    title="connection-id migration",
    phases=(
        (
            "account_index",
            lambda: firestore_client().collection(ACCOUNT_INDEX),
            lambda snapshot: _name_connection(firestore_client().transaction(), snapshot.reference),
        ),
    ),
    counted="migrated",
)


def run_migration(restart: bool, batch_size: int, budget_seconds: float) -> dict:
    """Continue (or restart) the migration; returns the progress record (`done` when finished,
    `busy` when another run holds its lease)."""
    return resumable_pass.run(MIGRATION, restart, batch_size, budget_seconds)
