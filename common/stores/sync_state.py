"""Per-user sync state of the Google services: `users/{uid}/sync_state/{service}`.
Gmail: the history cursor and the watch; Calendar: the sync token and the push channel. `renewAt`
(collection-group indexed) is when the renewal job should renew the watch or channel.
Calendar channels are also kept at `calendar_channels/{channel id}` so the push endpoint finds them."""

from google.cloud import firestore

from common.clients import firestore_client
from common.stores.connections import USERS

SYNC_STATE = "sync_state"
CHANNELS = "calendar_channels"


def state_ref(uid: str, service: str):
    return firestore_client().collection(USERS).document(uid).collection(SYNC_STATE).document(service)


def get_state(uid: str, service: str) -> dict:
    snapshot = state_ref(uid, service).get()
    return snapshot.to_dict() if snapshot.exists else {}


def merge_state(uid: str, service: str, fields: dict) -> None:
    state_ref(uid, service).set(fields, merge=True)


def delete_state(uid: str, service: str) -> None:
    state_ref(uid, service).delete()


@firestore.transactional
def _advance(transaction, ref, field: str, value: int) -> bool:
    snapshot = ref.get(transaction=transaction)
    current = snapshot.get(field) if snapshot.exists and field in (snapshot.to_dict() or {}) else None
    if current is not None and int(current) >= value:
        return False
    transaction.set(ref, {field: value}, merge=True)
    return True


def advance_cursor(uid: str, service: str, field: str, value: int) -> bool:
    """Move a numeric cursor forward only (in a transaction); False when it was already there."""
    return _advance(firestore_client().transaction(), state_ref(uid, service), field, value)


def channel_ref(channel_id: str):
    return firestore_client().collection(CHANNELS).document(channel_id)
