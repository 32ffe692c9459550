"""Scheduled refresh runs: `refresh_runs/{runId}` holds what the tick found (due, chunks, complete);
each chunk's counts sit in `refresh_runs/{runId}/chunks/{index}`, created once: a redelivered chunk
that has already recorded adds nothing, so the totals add up. The totals are an aggregation query
over those chunk documents (a count and one sum per outcome), never a counter.

Why not a counter on the run: a document sustains about one write per second, however written
(increments too: https://firebase.google.com/docs/firestore/solutions/counters), and a run's chunks
finish together: 10,000 due connections are 100 chunk writes within seconds, 1,000,000 connections
about 750 per five-minute run. Each chunk writes its own document instead, so the run document is
written twice per run (started, finished) whatever its size. Runs expire a week after they start
(TTL on `expiresAt`); they name no user."""

import datetime

from google.api_core.exceptions import AlreadyExists
from google.cloud import firestore

from common.platform.clients import firestore_client
from common.platform.timeutil import utcnow

COLLECTION, CHUNKS = "refresh_runs", "chunks"
OUTCOMES = ("refreshed", "failed", "needs_reauth", "skipped")
RETENTION = datetime.timedelta(days=7)
FINISHED = "refresh run finished"  # the run's summary log line, with its totals


def _ref(run_id: str):
    return firestore_client().collection(COLLECTION).document(run_id)


def _chunks(run_id: str):
    return _ref(run_id).collection(CHUNKS)


def start(run_id: str, due: int, chunks: int, complete: bool) -> None:
    now = utcnow()
    found = {"due": due, "chunks": chunks, "complete": complete, "startedAt": now, "expiresAt": now + RETENTION}
    _ref(run_id).set(found, merge=True)


def record_chunk(run_id: str, index: int, counts: dict) -> bool:
    """Record one chunk's counts, once: False when the chunk had already been recorded (a redelivery)."""
    try:
        _chunks(run_id).document(str(index)).create({**counts, "expiresAt": utcnow() + RETENTION})
    except AlreadyExists:
        return False
    return True


def totals(run_id: str) -> dict | None:
    """What the run found and what its chunks did so far; finished when chunksDone == chunks."""
    snapshot = _ref(run_id).get()
    if not snapshot.exists:
        return None
    run = snapshot.to_dict()
    query = _chunks(run_id).count(alias="chunksDone")
    for outcome in OUTCOMES:
        query = query.sum(outcome, alias=outcome)
    (results,) = query.get()
    done = {result.alias: int(result.value or 0) for result in results}
    return {
        "runId": run_id,
        "due": run.get("due", 0),
        "chunks": run.get("chunks", 0),
        "chunksDone": done["chunksDone"],
        "complete": run.get("complete", True),
        **{outcome: done[outcome] for outcome in OUTCOMES},
    }


def claim_summary(run_id: str) -> bool:
    """True for exactly one caller per run: the one that logs its summary (the last chunks to record
    may finish at the same moment and each see the run complete)."""
    return _claim(firestore_client().transaction(), _ref(run_id))


@firestore.transactional
def _claim(transaction, ref) -> bool:
    snapshot = ref.get(transaction=transaction)
    if not snapshot.exists or (snapshot.to_dict() or {}).get("summarizedAt") is not None:
        return False
    transaction.update(ref, {"summarizedAt": utcnow()})
    return True


def finished(run: dict | None) -> bool:
    return run is not None and run["chunksDone"] >= run["chunks"]
