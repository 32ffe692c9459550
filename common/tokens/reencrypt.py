"""Key rotation: rewrite every stored secret under the active key, so an old key can leave the ring.

Resumable (common/stores/resumable_pass.py): progress and a cursor live in `maintenance/reencrypt`,
and each run stops after a time budget (the function then publishes a continuation message).
Idempotent: a value already under the active key is left alone, and each document is rewritten in
a transaction, so a refresh writing the same document at the same time is not overwritten with
older tokens. It changes ciphertexts only,
never the tokens or their `tokenVersion` (what a refresh in flight compares before storing its
reply), so it needs no refresh lease and never makes a refresh drop a rotated token."""

from google.cloud import firestore

from common.platform.clients import firestore_client
from common.platform.errors import CryptoError
from common.stores import resumable_pass
from common.stores.connections import CONNECTIONS
from common.stores.oauth_states import COLLECTION as OAUTH_STATES
from common.tokens.crypto import get_cipher
from common.tokens.token_fields import token_field, verifier_field


def _connection_fields(snapshot) -> dict:
    record = snapshot.to_dict()
    return {
        "accessToken": (record["uid"], token_field(record["service"], "access_token")),
        "refreshToken": (record["uid"], token_field(record["service"], "refresh_token")),
    }


def _state_fields(snapshot) -> dict:
    return {"codeVerifier": (snapshot.get("uid"), verifier_field(snapshot.id))}


@firestore.transactional
def _rewrite(transaction, ref, fields_of) -> int:
    snapshot = ref.get(transaction=transaction)
    if not snapshot.exists:
        return 0
    cipher, record, updates = get_cipher(), snapshot.to_dict(), {}
    for column, (owner, field) in fields_of(snapshot).items():
        value = record.get(column)
        if value and cipher.key_id_of(value) != cipher.ring.active:
            updates[column] = cipher.encrypt(cipher.decrypt(value, owner, field), owner, field)
    if updates:
        transaction.update(ref, updates)
    return len(updates)


def _rewriter(fields_of):
    return lambda snapshot: _rewrite(firestore_client().transaction(), snapshot.reference, fields_of)


REENCRYPTION = resumable_pass.Pass(
    name="reencrypt",
    title="re-encryption",
    phases=(  # (name, query over the documents, their rewrite: where the ciphertexts are, what they are bound to)
        ("connections", lambda: firestore_client().collection_group(CONNECTIONS), _rewriter(_connection_fields)),
        ("oauth_states", lambda: firestore_client().collection(OAUTH_STATES), _rewriter(_state_fields)),
    ),
    counted="rewritten",
    failures=(CryptoError, KeyError),
    first_progress=lambda: {"activeKey": get_cipher().ring.active},
)


def run_reencryption(restart: bool, batch_size: int, budget_seconds: float) -> dict:
    """Continue (or restart) the rewrite; returns the progress record (`done` when finished, `busy`
    when another run holds the job's lease: a duplicated message must not fork the chain)."""
    return resumable_pass.run(REENCRYPTION, restart, batch_size, budget_seconds)
