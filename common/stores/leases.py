"""Refresh leases: `token_leases/{connection id}:{uid}` (renewals and syncs use keys of their own),
taken with a create that fails when one exists, so of any number of instances exactly one holds
it. A crashed holder's lease expires and is taken over (a delete guarded by the lease's update
time, so two takers cannot both win); the new lease names the holder it superseded, whose work may
still land. `held_by` is the fence: read inside a writer's transaction, it says whether that writer
still holds the lease."""

import contextlib
import dataclasses
import datetime
import urllib.parse

from google.api_core.exceptions import Aborted, AlreadyExists, FailedPrecondition, NotFound

from common.platform.clients import firestore_client
from common.platform.timeutil import utcnow

COLLECTION = "token_leases"


def _ref(uid: str, key: str):
    return firestore_client().collection(COLLECTION).document(f"{key}:{urllib.parse.quote(uid, safe='')}")


def _lease(uid: str, key: str, owner: str, seconds: float) -> dict:
    return {"owner": owner, "uid": uid, "key": key, "expiresAt": utcnow() + datetime.timedelta(seconds=seconds)}


def try_take(uid: str, key: str, owner: str, seconds: float):
    """The lease's write time when taken (hand it to release), None when another instance holds it.
    A create that waited behind the holder's transaction (its last one reads the lease to give it
    back) and timed out is Aborted: held too."""
    ref, lease = _ref(uid, key), _lease(uid, key, owner, seconds)
    try:
        return ref.create(lease).update_time
    except Aborted:
        return None
    except AlreadyExists:
        pass
    held = ref.get()
    if held.exists and held.get("owner") == owner and held.get("expiresAt") > utcnow():
        return held.update_time  # our own create, retried after it had landed
    if held.exists and held.get("expiresAt") > utcnow():
        return None
    try:
        if held.exists:
            ref.delete(option=firestore_client().write_option(last_update_time=held.update_time))
            lease["supersedes"] = held.to_dict().get("owner") or "unknown"  # it never released: crashed or stalled
        return ref.create(lease).update_time
    except (Aborted, AlreadyExists, FailedPrecondition, NotFound):
        return None


def take_many(pairs: list[tuple[str, str]], owner: str, seconds: float) -> dict:
    """try_take for many leases at once: {(uid, key): write time} of those taken. The creates go out
    together (a BulkWriter sends them 20 to a call, side by side: 3 calls for 50 instead of 50);
    one that exists, whose create failed otherwise, or whose call reported nothing (BulkWriter does
    not raise a failed call) is tried again alone as try_take does: taken over when expired, left to
    its holder when not. If that raises (Firestore unreachable), the leases taken go back first."""
    refs = {pair: _ref(*pair) for pair in pairs}
    paths, taken = {ref.path: pair for pair, ref in refs.items()}, {}

    def created(ref, result, _writer):
        taken[paths[ref.path]] = result.update_time

    writer = firestore_client().bulk_writer()
    writer.on_write_result(created)
    writer.on_write_error(lambda _failure, _writer: False)  # not retried here: try_take below decides
    for (uid, key), ref in refs.items():
        writer.create(ref, _lease(uid, key, owner, seconds))
    writer.close()
    try:
        for uid, key in [pair for pair in pairs if pair not in taken]:
            taken_at = try_take(uid, key, owner, seconds)
            if taken_at is not None:
                taken[(uid, key)] = taken_at
    except Exception:
        release_many(taken)
        raise
    return taken


def release_many(held: dict) -> None:
    """release() for many {(uid, key): write time} at once, best effort: one that cannot be given
    back (Firestore unreachable) expires."""
    writer = firestore_client().bulk_writer()
    writer.on_write_error(lambda _failure, _writer: False)
    for (uid, key), taken_at in held.items():
        writer.delete(_ref(uid, key), option=firestore_client().write_option(last_update_time=taken_at))
    writer.close()


def held_by(transaction, uid: str, key: str, owner: str) -> dict | None:
    """The lease as read in `transaction` when `owner` still holds it (a lapsed lease nobody took
    over is still its holder's), else None."""
    snapshot = _ref(uid, key).get(transaction=transaction)
    lease = snapshot.to_dict() if snapshot.exists else None
    return lease if lease and lease.get("owner") == owner else None


def release_in(batch, uid: str, key: str, taken_at) -> None:
    """release() as part of a batch: the batch fails whole if the lease is no longer the one we wrote."""
    batch.delete(_ref(uid, key), option=firestore_client().write_option(last_update_time=taken_at))


@dataclasses.dataclass
class Held:
    """A lease try_take took, given back once: by the holder's last transaction (read it there with
    `ref`, hand its snapshot to release_if_ours, mark it `released` once that committed), else by release()."""

    uid: str
    key: str
    taken_at: datetime.datetime
    released: bool = False

    @property
    def ref(self):
        return _ref(self.uid, self.key)

    def release_if_ours(self, transaction, snapshot) -> None:
        """Delete the lease in `transaction` if `snapshot`, read in it, is still the one we wrote."""
        if snapshot.exists and snapshot.update_time == self.taken_at:
            transaction.delete(self.ref)

    def release(self) -> None:
        if not self.released:
            release(self.uid, self.key, self.taken_at)
            self.released = True


def release(uid: str, key: str, taken_at) -> None:
    """Give the lease back if it is still the one we wrote (an expired one may have been taken over)."""
    with contextlib.suppress(FailedPrecondition, NotFound):
        _ref(uid, key).delete(option=firestore_client().write_option(last_update_time=taken_at))
