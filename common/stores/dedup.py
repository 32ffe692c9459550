"""Deduplication of deliveries: `webhook_dedup/{id}`, created when a delivery is first seen (a
create that fails if the id exists), marked `done` once its work is durable (a notification synced:
in the sync's last transaction), and deleted if the work failed so the retry is not swallowed.
A delivery deletes only the claim it wrote (a precondition on its write time): not one another
delivery took over from it, nor one its work already marked done. `expiresAt` carries a TTL policy."""

import contextlib
import dataclasses
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


@dataclasses.dataclass(frozen=True)
class Claimed:
    """What claim() found, and for NEW the claim this delivery wrote (its key and write time)."""

    outcome: Claim
    key: str
    written: datetime.datetime | None = None


def _ref(key: str):
    return firestore_client().collection(COLLECTION).document(key)


def claim(key: str, kind: str) -> Claimed:
    now = utcnow()
    record = {
        "state": "pending",
        "kind": kind,
        "createdAt": now,
        "expiresAt": now + datetime.timedelta(seconds=get_settings().webhook_dedup_ttl_seconds),
    }
    ref = _ref(key)
    try:
        return Claimed(Claim.NEW, key, ref.create(record).update_time)
    except AlreadyExists:
        pass
    held = ref.get()
    if not held.exists:
        return claim(key, kind)
    if held.get("state") == "done":
        return Claimed(Claim.DUPLICATE, key)
    if (now - held.get("createdAt")).total_seconds() < get_settings().webhook_claim_stale_seconds:
        return Claimed(Claim.IN_FLIGHT, key)
    try:
        taken = ref.update({"createdAt": now}, option=_unchanged_since(held.update_time))
        return Claimed(Claim.NEW, key, taken.update_time)
    except (FailedPrecondition, NotFound):
        return Claimed(Claim.IN_FLIGHT, key)


def _unchanged_since(update_time):
    return firestore_client().write_option(last_update_time=update_time)


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


def release(claimed: Claimed) -> None:
    """Forget the claim this delivery wrote, its work having failed, so the retry goes through. A
    claim written since (taken over as stale, or marked done by the work's last transaction before
    a later step failed) is left as it is."""
    with contextlib.suppress(NotFound, FailedPrecondition):
        _ref(claimed.key).delete(option=_unchanged_since(claimed.written))
