"""OAuth states: `oauth_states/{sha256(state)}`, written at start, bound to one browser on its
first visit to the authorize hop, consumed once in a transaction at the callback.
`expiresAt` carries a Firestore TTL policy, so abandoned states are removed by Firestore too."""

import hmac

from google.cloud import firestore

from common.clients import firestore_client
from common.timeutil import utcnow

COLLECTION = "oauth_states"


class StateRejected(Exception):
    """The callback or hop cannot use this state; `reason` is the failure reason shown to the app."""

    def __init__(self, reason: str):
        self.reason = reason
        super().__init__(reason)


def _ref(key: str):
    return firestore_client().collection(COLLECTION).document(key)


def create_state(key: str, record: dict) -> None:
    _ref(key).create(record)


@firestore.transactional
def _bind(transaction, ref, binding_hash: str) -> dict:
    snapshot = ref.get(transaction=transaction)
    if not snapshot.exists:
        raise StateRejected("invalid_state")
    record = snapshot.to_dict()
    if record["expiresAt"] <= utcnow():
        raise StateRejected("expired_state")
    if record.get("binding"):
        raise StateRejected("invalid_state")  # another browser took this state first
    transaction.update(ref, {"binding": binding_hash})
    return record


def bind_browser(key: str, binding_hash: str) -> dict:
    """Tie the state to the browser that first follows authUrl (one time only)."""
    return _bind(firestore_client().transaction(), _ref(key), binding_hash)


@firestore.transactional
def _consume(transaction, ref, binding_hash: str) -> tuple[dict | None, str | None]:
    snapshot = ref.get(transaction=transaction)
    if not snapshot.exists:
        return None, "invalid_state"
    record = snapshot.to_dict()
    if not hmac.compare_digest(record.get("binding") or "", binding_hash):
        return None, "invalid_state"  # not the browser that started: leave the state to its owner
    transaction.delete(ref)
    if record["expiresAt"] <= utcnow():
        return None, "expired_state"
    return record, None


def consume_state(key: str, binding_hash: str) -> dict:
    """Delete and return the state, if this browser holds it. Two concurrent callbacks: one wins,
    the other gets invalid_state. Another browser's attempt leaves the state to its owner."""
    record, reason = _consume(firestore_client().transaction(), _ref(key), binding_hash)
    if reason:
        raise StateRejected(reason)
    return record
