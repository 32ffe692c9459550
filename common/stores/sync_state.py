"""Per-connection sync state of the Google services: `users/{uid}/sync_state/{connection id}`.
Gmail: the history cursor and the watch; Calendar: the sync token and the push channel. `renewAt`
(collection-group indexed) is when the renewal job should renew the watch or channel.
Calendar channels are also kept at `calendar_channels/{channel id}` so the push endpoint finds them.

Every write here (the state, and the synced documents stored with it) is a transaction guarded by
the erasure fence (common/stores/erasures.py), `since` being when the work writing it started, and
by the connection itself: refused (NotConnected) once the connection is gone. A disconnect deletes
the connection before it deletes the state and removes what was synced, so work that outlives it (a
sync, a renewal) either wrote before the deletion, and its state and documents are removed with the
rest, or writes nothing.
The connection is read with the fence, in the same round trip."""

from common.platform.clients import firestore_client
from common.stores import erasures, leases
from common.stores.connections import USERS, NotConnected, connection_ref, record_of

SYNC_STATE = "sync_state"
CHANNELS = "calendar_channels"


def state_ref(uid: str, connection_id: str):
    return firestore_client().collection(USERS).document(uid).collection(SYNC_STATE).document(connection_id)


def read_state(uid: str, connection_id: str) -> tuple[dict, object]:
    """The state, and the server time it was read at: work syncing from it started then (its `since`)."""
    return _state_of(state_ref(uid, connection_id).get())


def _state_of(snapshot) -> tuple[dict, object]:
    return (snapshot.to_dict() if snapshot.exists else {}), snapshot.read_time


def get_state(uid: str, connection_id: str) -> dict:
    return read_state(uid, connection_id)[0]


def read_state_and_connection(uid: str, connection_id: str) -> tuple[dict, object, dict | None]:
    """read_state and the connection (None when it is gone) in one batched get: a sync's state and
    the record its first provider call takes its token from (ConnectionCalls' `read`)."""
    state, connection = state_ref(uid, connection_id), connection_ref(uid, connection_id)
    read = {snapshot.reference.path: snapshot for snapshot in firestore_client().get_all([state, connection])}
    return *_state_of(read[state.path]), record_of(read[connection.path])


def _merge_documents(transaction, documents) -> None:
    for ref, record in documents:
        transaction.set(ref, record, merge=True)


def _write(uid: str, connection_id: str, since, apply, refs=()):
    """erasures.write, with the connection read beside the fence and `refs`: NotConnected when it is gone."""
    connection = connection_ref(uid, connection_id)

    def apply_if_connected(transaction, snapshots):
        if not snapshots.pop(connection.path).exists:
            raise NotConnected()
        return apply(transaction, snapshots)

    return erasures.write(uid, since, apply_if_connected, [*refs, connection])


def _leading_documents(uid: str, connection_id: str, since, documents: list) -> list:
    """Store the documents beyond the last run of MAX_WRITES in transactions of their own; returns that run."""
    *leading, last = erasures.chunks(documents)
    for chunk in leading:
        _write(uid, connection_id, since, lambda transaction, _, chunk=chunk: _merge_documents(transaction, chunk))
    return last


def merge_state(
    uid: str,
    connection_id: str,
    fields: dict,
    since,
    documents=(),
    if_absent: dict | None = None,
    lease: leases.Held | None = None,
) -> None:
    """Merge `fields` into the state (none: leave it as it is), and each of `if_absent` the state
    does not hold yet (a first cursor), and each (ref, record) of `documents` into its document, in
    one fenced transaction; `lease`, the sync's own, is given back in that transaction too."""
    ref, last = state_ref(uid, connection_id), _leading_documents(uid, connection_id, since, list(documents))

    def apply(transaction, snapshots):
        _merge_documents(transaction, last)
        held = (snapshots[ref.path].to_dict() or {}) if if_absent and snapshots[ref.path].exists else {}
        merged = {**fields, **{name: value for name, value in (if_absent or {}).items() if held.get(name) is None}}
        if merged:
            transaction.set(ref, merged, merge=True)
        if lease is not None:
            lease.release_if_ours(transaction, snapshots[lease.ref.path])

    _write(uid, connection_id, since, apply, [*([ref] if if_absent else []), *([lease.ref] if lease else [])])
    if lease is not None:
        lease.released = True


def delete_state(uid: str, connection_id: str) -> None:
    state_ref(uid, connection_id).delete()


def advance_cursor(uid: str, connection_id: str, field: str, value: int, since, documents=()) -> bool:
    """Store `documents` as merge_state does, and move a numeric cursor forward only, in one fenced
    transaction; False when the cursor was already there."""
    ref, last = state_ref(uid, connection_id), _leading_documents(uid, connection_id, since, list(documents))

    def apply(transaction, snapshots) -> bool:
        _merge_documents(transaction, last)
        current = (snapshots[ref.path].to_dict() or {}).get(field) if snapshots[ref.path].exists else None
        if current is not None and int(current) >= value:
            return False
        transaction.set(ref, {field: value}, merge=True)
        return True

    return _write(uid, connection_id, since, apply, [ref])


def channel_ref(channel_id: str):
    return firestore_client().collection(CHANNELS).document(channel_id)
