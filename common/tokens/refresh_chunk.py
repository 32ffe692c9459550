"""One chunk of a scheduled refresh run (token_refresh_worker): read its connections in one batched
get, refresh them with bounded concurrency through the token manager, and add the counts to the run.

Pub/Sub delivers a chunk at least once, and a worker that crashes or raises (Firestore unreachable,
the instance gone) has its chunk redelivered. Doing a chunk twice is harmless: a connection
refreshed meanwhile is no longer due (the due check, before and under the lease), and the lease
keeps two workers from spending one refresh token. The counts go in once per chunk (its marker), so
the run's totals add up; a connection a crashed attempt refreshed counts as skipped."""

import collections
import concurrent.futures

from common.platform.clients import firestore_client
from common.platform.errors import AppError, BadRequest
from common.platform.logs import get_logger
from common.platform.settings import get_settings
from common.platform.timeutil import utcnow
from common.platform.traced_pool import submit_traced
from common.providers import provider, services
from common.stores import refresh_runs
from common.stores.connections import connection_ref, record_of, service_of
from common.tokens.reader import due_now
from common.tokens.refresher import refresh
from common.tokens.stored import ReauthRequired

log = get_logger(__name__)
SKIPPED = ("refresh_in_progress", "refresh_cooldown", "refresh_in_doubt", "not_connected")


def _refresh_one(record: dict) -> str:
    cooldown = record.get("cooldownUntil")
    if record.get("status") != "active" or (cooldown and cooldown > utcnow()):
        return "skipped"
    try:
        _, refreshed = refresh(record["uid"], provider(record["service"]), record, still_needed=due_now)
        return "refreshed" if refreshed else "skipped"  # skipped: another worker or a reader got there first
    except ReauthRequired:
        return "needs_reauth"
    except AppError as error:
        return "skipped" if error.code in SKIPPED else "failed"


def _document_id(value) -> bool:
    return isinstance(value, str) and value != "" and "/" not in value


def _parse(payload: dict) -> tuple[str, int, int, list]:
    """The chunk the tick published; anything else is refused for good (logged, acknowledged)."""
    try:
        run_id, index, chunks = payload["runId"], payload["chunk"], payload["chunks"]
        pairs = [(uid, connection_id) for uid, connection_id in payload["connections"]]
    except (KeyError, TypeError, ValueError):
        pairs = None
    if (
        pairs is None
        or not _document_id(run_id)
        or not (isinstance(index, int) and isinstance(chunks, int))
        or not all(_document_id(uid) and _document_id(connection_id) for uid, connection_id in pairs)
    ):
        raise BadRequest("Not a refresh chunk", code="bad_refresh_chunk")
    return run_id, index, chunks, pairs


def refresh_chunk(payload: dict) -> None:
    run_id, index, chunks, pairs = _parse(payload)
    offered = set(services())  # one no longer offered here (its client id unset) is skipped, not the chunk
    refs = [connection_ref(uid, connection_id) for uid, connection_id in pairs if service_of(connection_id) in offered]
    records = [record_of(snapshot) for snapshot in firestore_client().get_all(refs) if snapshot.exists] if refs else []
    counts = collections.Counter(dict.fromkeys(refresh_runs.OUTCOMES, 0))
    counts["skipped"] += len(pairs) - len(records)  # gone since the tick (disconnected, erased) or not offered
    with concurrent.futures.ThreadPoolExecutor(max_workers=get_settings().refresh_job_concurrency) as pool:
        tasks = [submit_traced(pool, _refresh_one, record) for record in records]  # log lines and messages keep the run's trace
        counts.update(task.result() for task in tasks)  # an unexpected error raises: the chunk is redelivered
    recorded = refresh_runs.record_chunk(run_id, index, dict(counts))
    log.info("refresh chunk done", extra={"fields": {"runId": run_id, "chunk": index, "recorded": recorded, **counts}})
    run = refresh_runs.totals(run_id) if recorded else None
    if run and run["chunksDone"] == chunks and refresh_runs.claim_summary(run_id):
        log.info(refresh_runs.FINISHED, extra={"fields": run})
