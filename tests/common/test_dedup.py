"""The webhook dedup claim against the Firestore emulator: a delivery releases only the claim it
wrote, so neither a claim taken over from it nor one its own work already marked done is deleted."""

import datetime
import uuid

import pytest

from common.stores import dedup
from common.stores.dedup import Claim

pytestmark = pytest.mark.usefixtures("stack")


def _key() -> str:
    return f"test-{uuid.uuid4().hex}"


def _later(monkeypatch, seconds: int) -> None:
    """The clock `seconds` on, so a claim left as it is looks like a crashed handler's (no write to
    it: a write would change its update time on its own)."""
    now = dedup.utcnow()
    monkeypatch.setattr(dedup, "utcnow", lambda: now + datetime.timedelta(seconds=seconds))


def test_a_new_claim_is_new_then_in_flight_and_a_released_one_is_new_again():
    key = _key()
    first = dedup.claim(key, "test")
    assert first.outcome is Claim.NEW
    assert dedup.claim(key, "test").outcome is Claim.IN_FLIGHT
    dedup.release(first)
    assert dedup.claim(key, "test").outcome is Claim.NEW


def test_a_late_release_does_not_free_a_claim_another_delivery_took_over(monkeypatch):
    key = _key()
    slow = dedup.claim(key, "test")
    _later(monkeypatch, 3600)
    taken_over = dedup.claim(key, "test")
    assert taken_over.outcome is Claim.NEW
    dedup.release(slow)  # the first handler was not dead, only slow, and then failed
    assert dedup.claim(key, "test").outcome is Claim.IN_FLIGHT  # the second is still syncing
    dedup.release(taken_over)
    assert dedup.claim(key, "test").outcome is Claim.NEW


def test_a_release_after_the_work_marked_the_claim_done_leaves_it_done():
    key = _key()
    held = dedup.claim(key, "test")
    ref, fields = dedup.completion(key, "synced")
    ref.set(fields, merge=True)  # the work's last transaction committed, then something after it failed
    dedup.release(held)
    assert dedup.claim(key, "test").outcome is Claim.DUPLICATE
    assert ref.get().get("outcome") == "synced"


def test_a_claim_released_by_its_holder_before_another_reads_it_is_taken_fresh():
    key = _key()
    dedup.release(dedup.claim(key, "test"))
    dedup.release(dedup.claim(key, "test"))  # a release of a claim already gone is a no-op
    assert dedup.claim(key, "test").outcome is Claim.NEW
