"""Erasure fences: `erasures/{sha256(uid)}`, so that work already running for a user (a sync that
fetched mail before the erasure, a renewal, an OAuth flow) cannot write the user back afterwards.

The erasure sets the fence to `erasing` before it deletes anything, and to `erased` with the
server's commit time (`erasedAt`) once everything is gone. Every writer of a user's documents
writes in a transaction that reads the fence and is refused (UserErased) while the user is being
erased, or when its work started before the erasure ended. "Started" (`since`) is a Firestore
server time the work took before its first provider call: the read time of the state it syncs from,
the write time of its lease, the creation time of its OAuth state; so no two clocks are compared.
Work that starts after the erasure (the same uid signing in and connecting again) writes as usual:
an erasure is not a ban.

The fence names nobody (its id is the uid's SHA-256, it holds no uid) and expires a day after the
erasure (TTL on `expiresAt`), far beyond the longest function timeout, so no work that started
before it can outlive it. A fence left `erasing` by an erasure that failed part-way does not
expire: the user's writes stay refused until the erasure is retried and completes (fail closed)."""

import datetime
import hashlib

from google.cloud import firestore

from common.platform.clients import firestore_client
from common.platform.errors import Conflict
from common.platform.timeutil import utcnow

COLLECTION = "erasures"
ERASING, ERASED = "erasing", "erased"
KEPT_FOR = datetime.timedelta(days=1)
# Writes per fenced transaction: a commit request is at most 10 MiB (https://cloud.google.com/firestore/quotas;
# it used to be 500 writes), and 400 of our records (mail metadata, events, Slack items) stay far below it.
MAX_WRITES = 400


class UserErased(Conflict):
    code = "user_erased"
    default_message = "This user's data is being erased, or was erased after this work began"


def _ref(uid: str):
    return firestore_client().collection(COLLECTION).document(hashlib.sha256(uid.encode()).hexdigest())


def begin(uid: str) -> None:
    """From now on every fenced write for the user is refused."""
    _ref(uid).set({"state": ERASING, "startedAt": firestore.SERVER_TIMESTAMP})


def end(uid: str) -> None:
    """The erasure is complete: work that started before this commit stays refused, later work writes."""
    _ref(uid).set({"state": ERASED, "erasedAt": firestore.SERVER_TIMESTAMP, "expiresAt": utcnow() + KEPT_FOR})


def _refuses(fence, since) -> bool:
    if not fence.exists:
        return False
    record = fence.to_dict()
    if record.get("state") != ERASED:
        return True  # erasing (or unreadable: fail closed)
    return since is not None and since <= record["erasedAt"]


def read(transaction, since, uids, refs=()) -> tuple[set[str], dict]:
    """In the caller's transaction, one read of the fences of `uids` and of `refs`: (the uids whose
    fence refuses work that started at `since`, the snapshots of `refs` by path). `since` None is
    work that starts in this very transaction: refused only while an erasure is running."""
    fences = {uid: _ref(uid) for uid in set(uids)}
    snapshots = {snapshot.reference.path: snapshot for snapshot in transaction.get_all([*fences.values(), *refs])}
    refused = {uid for uid, fence in fences.items() if _refuses(snapshots.pop(fence.path), since)}
    return refused, snapshots


def check(transaction, uid: str, since, refs=()) -> dict:
    """read() for one user: the snapshots of `refs`, or UserErased."""
    refused, snapshots = read(transaction, since, [uid], refs)
    if refused:
        raise UserErased()
    return snapshots


def write(uid: str, since, apply, refs=()):
    """Run apply(transaction, snapshots of refs) in a new transaction that check()s the fence first
    (in the same round trip as its own reads); returns what apply returned."""
    return _write(firestore_client().transaction(), uid, since, apply, tuple(refs))


@firestore.transactional
def _write(transaction, uid, since, apply, refs):
    return apply(transaction, check(transaction, uid, since, refs))


def chunks(items: list) -> list[list]:
    """`items` in runs of at most MAX_WRITES (at least one run, maybe empty)."""
    return [items[start : start + MAX_WRITES] for start in range(0, len(items), MAX_WRITES)] or [[]]
