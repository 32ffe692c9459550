"""Scheduled refresh runs: `refresh_runs/{runId}` holds what the tick found (due, chunks, complete)
and the sum of what its chunks did (chunksDone and one count per outcome), added by increments.
Each chunk's own counts sit in `refresh_runs/{runId}/chunks/{index}`, created in the same commit as
the increments: a redelivered chunk that has already recorded adds nothing, so the totals add up.

One document takes every chunk's write, and a document sustains about one write per second, however
written (increments too: https://firebase.google.com/docs/firestore/solutions/counters). A chunk
writes once, after about REFRESH_JOB_CHUNK_SIZE refreshes: 10,000 due connections are 100 writes
spread over the run, inside it; a much larger run would shard the counts. Runs expire a week after
they start (TTL on `expiresAt`); they name no user."""

import datetime

from google.api_core.exceptions import AlreadyExists
from google.cloud.firestore_v1.transforms import Increment

from common.clients import firestore_client
from common.timeutil import utcnow

COLLECTION, CHUNKS = "refresh_runs", "chunks"
OUTCOMES = ("refreshed", "failed", "needs_reauth", "skipped")
RETENTION = datetime.timedelta(days=7)
FINISHED = "refresh run finished"  # the run's summary log line, with its totals


def _ref(run_id: str):
    return firestore_client().collection(COLLECTION).document(run_id)


def start(run_id: str, due: int, chunks: int, complete: bool) -> None:
    now = utcnow()
    found = {"due": due, "chunks": chunks, "complete": complete, "startedAt": now, "expiresAt": now + RETENTION}
    _ref(run_id).set(found, merge=True)


def record_chunk(run_id: str, index: int, counts: dict) -> int | None:
    """Add one chunk's counts to its run, once: the run's chunksDone after this chunk, or None when
    the chunk had already been recorded (a redelivery)."""
    increments = {"chunksDone": 1, **counts}
    batch = firestore_client().batch()
    batch.create(_ref(run_id).collection(CHUNKS).document(str(index)), {**counts, "expiresAt": utcnow() + RETENTION})
    batch.set(_ref(run_id), {name: Increment(value) for name, value in increments.items()}, merge=True)
    try:
        results = batch.commit()
    except AlreadyExists:
        return None
    # The write's transform results: each field's new value, in the order of the field names.
    return results[1].transform_results[sorted(increments).index("chunksDone")].integer_value


def totals(run_id: str) -> dict | None:
    """What the run found and what its chunks did so far; finished when chunksDone == chunks."""
    snapshot = _ref(run_id).get()
    if not snapshot.exists:
        return None
    run = snapshot.to_dict()
    return {
        "runId": run_id,
        "due": run.get("due", 0),
        "chunks": run.get("chunks", 0),
        "chunksDone": run.get("chunksDone", 0),
        "complete": run.get("complete", True),
        **{outcome: run.get(outcome, 0) for outcome in OUTCOMES},
    }


def finished(run: dict | None) -> bool:
    return run is not None and run["chunksDone"] >= run["chunks"]
