"""Key rotation: rewrite every stored secret under the active key, so an old key can leave the ring.

Resumable: progress and a cursor live in `maintenance/reencrypt`, and each run stops after a time
budget (the function then publishes a continuation message). Idempotent: a value already under the
active key is left alone, and each document is rewritten in a transaction, so a refresh writing the
same document at the same time is not overwritten with older tokens. It changes ciphertexts only,
never the tokens or their `tokenVersion` (what a refresh in flight compares before storing its
reply), so it needs no refresh lease and never makes a refresh drop a rotated token."""

import secrets
import time

from google.cloud import firestore

from common.platform.clients import firestore_client
from common.platform.errors import CryptoError
from common.platform.logs import get_logger
from common.platform.timeutil import utcnow
from common.stores import leases
from common.stores.connections import CONNECTIONS
from common.stores.oauth_states import COLLECTION as OAUTH_STATES
from common.tokens.crypto import get_cipher
from common.tokens.token_fields import token_field, verifier_field

log = get_logger(__name__)
PROGRESS = ("maintenance", "reencrypt")
JOB_LEASE = ("maintenance", "reencrypt")  # (uid, service) slots of the lease store
LEASE_MARGIN_SECONDS = 60


def _connection_fields(snapshot) -> dict:
    record = snapshot.to_dict()
    return {
        "accessToken": (record["uid"], token_field(record["service"], "access_token")),
        "refreshToken": (record["uid"], token_field(record["service"], "refresh_token")),
    }


def _state_fields(snapshot) -> dict:
    return {"codeVerifier": (snapshot.get("uid"), verifier_field(snapshot.id))}


# (name, query over the documents, where their ciphertexts are and what they are bound to)
PHASES = (
    ("connections", lambda: firestore_client().collection_group(CONNECTIONS), _connection_fields),
    ("oauth_states", lambda: firestore_client().collection(OAUTH_STATES), _state_fields),
)


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


def _progress_ref():
    return firestore_client().collection(PROGRESS[0]).document(PROGRESS[1])


def run_reencryption(restart: bool, batch_size: int, budget_seconds: float) -> dict:
    """Continue (or restart) the rewrite; returns the progress record (`done` when finished, `busy`
    when another run holds the job's lease: a duplicated message must not fork the chain)."""
    taken_at = leases.try_take(*JOB_LEASE, secrets.token_hex(8), budget_seconds + LEASE_MARGIN_SECONDS)
    if taken_at is None:
        return {"done": False, "busy": True}
    try:
        return _run(restart, batch_size, budget_seconds)
    finally:
        leases.release(*JOB_LEASE, taken_at)


def _run(restart: bool, batch_size: int, budget_seconds: float) -> dict:
    started = time.monotonic()
    snapshot = _progress_ref().get()
    progress = snapshot.to_dict() if snapshot.exists else None
    if restart or progress is None or progress.get("done"):
        progress = {
            "phase": 0,
            "cursor": None,
            "scanned": 0,
            "rewritten": 0,
            "failed": 0,
            "done": False,
            "activeKey": get_cipher().ring.active,
            "startedAt": utcnow(),
        }
    while progress["phase"] < len(PHASES):
        name, query_of, fields_of = PHASES[progress["phase"]]
        query = query_of().order_by("__name__").limit(batch_size)
        if progress["cursor"]:  # after its path: the document itself may be gone (a disconnect, a used state)
            query = query.start_after({"__name__": firestore_client().document(progress["cursor"])})
        page = list(query.stream())
        if not page:
            progress.update(phase=progress["phase"] + 1, cursor=None)
            continue
        for doc in page:
            try:
                progress["rewritten"] += _rewrite(firestore_client().transaction(), doc.reference, fields_of)
            except (CryptoError, KeyError) as error:
                progress["failed"] += 1
                log.error(
                    "stored secret not re-encrypted",
                    extra={"fields": {"path": doc.reference.path, "error": type(error).__name__}},
                )
        progress.update(scanned=progress["scanned"] + len(page), cursor=page[-1].reference.path, updatedAt=utcnow())
        _progress_ref().set(progress)
        log.info(
            "re-encryption progress",
            extra={"fields": {"phase": name, "scanned": progress["scanned"], "rewritten": progress["rewritten"]}},
        )
        if time.monotonic() - started > budget_seconds:
            return progress
    progress.update(done=True, updatedAt=utcnow())
    _progress_ref().set(progress)
    log.info("re-encryption finished", extra={"fields": {k: progress[k] for k in ("scanned", "rewritten", "failed")}})
    return progress
