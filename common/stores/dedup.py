"""Deduplication of deliveries: `webhook_dedup/{id}`, created when a delivery is first seen (a
create that fails if the id exists), marked `done` once its work is durable (a notification synced:
in the sync's last transaction), and deleted if the work failed so the retry is not swallowed.
`expiresAt` carries a TTL policy."""

import contextlib
import datetime
import enum

from google.api_core.exceptions import AlreadyExists, FailedPrecondition, NotFound

from common.platform.clients import firestore_client
from common.platform.settings import get_settings
from common.platform.timeutil import utcnow

COLLECTION = "webhook_dedup"


class Claim(enum.Enum):
    NEW = "new"  # this delivery does the work
    DUPLICATE = "duplicate"  # already done: acknowledge, do nothing
    IN_FLIGHT = "in_flight"  # another delivery is doing it right now


def _ref(key: str):
    return firestore_client().collection(COLLECTION).document(key)


def claim(key: str, kind: str) -> Claim:
    now = utcnow()
    record = {
        "state": "pending",
        "kind": kind,
        "createdAt": now,
        "expiresAt": now + datetime.timedelta(seconds=get_settings().webhook_dedup_ttl_seconds),
    }
    ref = _ref(key)
    try:
        ref.create(record)
        return Claim.NEW
    except AlreadyExists:
        pass
    held = ref.get()
    if not held.exists:
        return claim(key, kind)
    if held.get("state") == "done":
        return Claim.DUPLICATE
    if (now - held.get("createdAt")).total_seconds() < get_settings().webhook_claim_stale_seconds:
        return Claim.IN_FLIGHT
    try:
        ref.update({"createdAt": now}, option=firestore_client().write_option(last_update_time=held.update_time))
        return Claim.NEW
    except (FailedPrecondition, NotFound):
        return Claim.IN_FLIGHT


def completion(key: str, outcome: str) -> tuple:
    """The claim marked done, as a (document, fields) for the work's own last transaction to merge:
    the work and its completion then land in one commit, with no write of their own. Its expiry is
    set again, so a claim that lapsed meanwhile is not recreated forever."""
    now = utcnow()
    expires = now + datetime.timedelta(seconds=get_settings().webhook_dedup_ttl_seconds)
    return _ref(key), {"state": "done", "outcome": outcome, "doneAt": now, "expiresAt": expires}


def complete(key: str, outcome: str) -> None:
    """Mark the claim done on its own, for work that ended without a write of its own."""
    ref, fields = completion(key, outcome)
    ref.set(fields, merge=True)


def release(key: str) -> None:
    """Forget a claim whose work failed, so the retry goes through."""
    with contextlib.suppress(NotFound):
        _ref(key).delete()
