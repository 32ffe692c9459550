"""Refresh leases: `token_leases/{service}:{uid}`, taken with a create that fails when one exists,
so of any number of instances exactly one holds it. A crashed holder's lease expires and is taken
over (a delete guarded by the lease's update time, so two takers cannot both win)."""

import contextlib
import datetime
import urllib.parse

from google.api_core.exceptions import AlreadyExists, FailedPrecondition, NotFound

from common.clients import firestore_client
from common.timeutil import utcnow

COLLECTION = "token_leases"


def _ref(uid: str, service: str):
    return firestore_client().collection(COLLECTION).document(f"{service}:{urllib.parse.quote(uid, safe='')}")


def try_take(uid: str, service: str, owner: str, seconds: float) -> bool:
    ref = _ref(uid, service)
    lease = {"owner": owner, "uid": uid, "service": service, "expiresAt": utcnow() + datetime.timedelta(seconds=seconds)}
    try:
        ref.create(lease)
        return True
    except AlreadyExists:
        pass
    held = ref.get()
    if held.exists and held.get("expiresAt") > utcnow():
        return False
    try:
        if held.exists:
            ref.delete(option=firestore_client().write_option(last_update_time=held.update_time))
        ref.create(lease)
        return True
    except (AlreadyExists, FailedPrecondition, NotFound):
        return False


def release(uid: str, service: str, owner: str) -> None:
    """Give the lease back if it is still ours (an expired one may have been taken over)."""
    ref = _ref(uid, service)
    held = ref.get()
    if held.exists and held.get("owner") == owner:
        with contextlib.suppress(FailedPrecondition, NotFound):
            ref.delete(option=firestore_client().write_option(last_update_time=held.update_time))
