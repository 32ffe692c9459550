"""OAuth states: `oauth_states/{sha256(state)}`, written at start with the hash of the browser's
state cookie, consumed once at the callback. `expiresAt` carries a Firestore
TTL policy, so abandoned states are removed by Firestore too. A state is not created while its
user is being erased (the erasure fence), and its creation time is when the flow started.

Consuming is read-then-delete with a precondition on the document's update time: of concurrent
callbacks exactly one succeeds, the others are told the state is no longer theirs. (A
transaction would do the same, but under contention it can run out of retries and fail instead.)"""

import hmac

from google.api_core.exceptions import FailedPrecondition, NotFound

from common.platform.clients import firestore_client
from common.platform.timeutil import utcnow
from common.stores import erasures

COLLECTION = "oauth_states"


class StateRejected(Exception):
    """The callback or hop cannot use this state; `reason` is the failure reason shown to the app."""

    def __init__(self, reason: str):
        self.reason = reason
        super().__init__(reason)


def _ref(key: str):
    return firestore_client().collection(COLLECTION).document(key)


def _unchanged_since(snapshot):
    return firestore_client().write_option(last_update_time=snapshot.update_time)


def create_state(key: str, record: dict) -> None:
    """UserErased while the record's user is being erased: the erasure would miss the new state."""
    erasures.write(record["uid"], None, lambda transaction, _: transaction.create(_ref(key), record))


def consume_state(key: str, binding_hash: str) -> dict:
    """Delete and return the state, if this browser holds it, with its server creation time
    (`createTime`: when the flow started, for the erasure fence). Two concurrent callbacks: one
    wins, the other gets invalid_state. Another browser's attempt leaves the state to its owner."""
    snapshot = _ref(key).get()
    if not snapshot.exists:
        raise StateRejected("invalid_state")
    record = snapshot.to_dict()
    if not hmac.compare_digest(record.get("binding") or "", binding_hash):
        raise StateRejected("invalid_state")  # not the browser that started: leave the state to its owner
    try:
        _ref(key).delete(option=_unchanged_since(snapshot))
    except (FailedPrecondition, NotFound):
        raise StateRejected("invalid_state") from None
    if record["expiresAt"] <= utcnow():
        raise StateRejected("expired_state")
    return {**record, "createTime": snapshot.create_time}
