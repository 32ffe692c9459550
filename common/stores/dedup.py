"""Deduplication of deliveries: `webhook_dedup/{id}`, created when a delivery is first seen (a
create that fails if the id exists), marked `done` once its work is durable (a webhook on Pub/Sub,
a notification synced), and deleted if the work failed so the retry is not swallowed.
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


def complete(key: str, outcome: str) -> None:
    _ref(key).update({"state": "done", "outcome": outcome, "doneAt": utcnow()})


def release(key: str) -> None:
    """Forget a claim whose work failed, so the retry goes through."""
    with contextlib.suppress(NotFound):
        _ref(key).delete()
