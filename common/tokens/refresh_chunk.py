"""One chunk of a scheduled refresh run (token_refresh_worker), in waves of REFRESH_JOB_CONCURRENCY:
take a wave's refresh leases together, read its connections in one batched get (the read each
refresh makes under its lease, for the wave at once: a refresh then costs one Firestore call of its
own, the write of its reply), refresh them side by side through the token manager; then add the
counts to the run.

Pub/Sub delivers a chunk at least once, and a worker that crashes or raises (Firestore unreachable,
the instance gone) has its chunk redelivered. Doing a chunk twice is harmless: a connection
refreshed meanwhile is no longer due (checked as read under the lease), and the lease keeps two
workers, or a worker and an on-demand reader, from spending one refresh token. The counts go in once
per chunk (its marker), so the run's totals add up; a connection a crashed attempt refreshed, or
whose lease a crashed attempt still holds, counts as skipped (still due, the next tick takes it)."""

import collections
import concurrent.futures
import secrets
import time

from common.platform.clients import firestore_client
from common.platform.errors import AppError, BadRequest
from common.platform.logs import get_logger
from common.platform.settings import get_settings
from common.platform.timeutil import utcnow
from common.platform.traced_pool import submit_traced
from common.providers import services
from common.stores import leases, refresh_runs
from common.stores.connections import connection_ref, service_of
from common.tokens.reader import due_now
from common.tokens.refresher import Lease, refresh_leased
from common.tokens.stored import ReauthRequired

log = get_logger(__name__)
SKIPPED = ("refresh_in_progress", "refresh_cooldown", "refresh_in_doubt", "not_connected")


def _refreshable(record: dict) -> bool:
    """Still the scheduled job's to refresh, as read under the lease: active, not cooling down, and
    due (nobody refreshed it since the tick)."""
    cooldown = record.get("cooldownUntil")
    return record.get("status") == "active" and not (cooldown and cooldown > utcnow()) and due_now(record)


def _refresh_one(uid: str, snapshot, lease: Lease) -> str:
    try:
        refreshed = refresh_leased(uid, lease, snapshot, still_needed=_refreshable)
        return "refreshed" if refreshed else "skipped"  # gone, not due, a reader got there first, or too late
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


def _read_leased(taken: dict) -> list:
    """The leased connections in one batched get; the leases given back if the read fails (the chunk
    is then redelivered and must find them free)."""
    try:
        return list(firestore_client().get_all([connection_ref(uid, connection_id) for uid, connection_id in taken]))
    except Exception:
        leases.release_many(taken)
        raise


def _refresh_wave(pool, wave: list, owner: str) -> list[str]:
    """REFRESH_JOB_CONCURRENCY connections at a time: their leases taken together just before their
    refreshes start side by side, so no lease waits behind another connection's refresh (nor holds
    up a reader meanwhile). One outcome per connection of the wave."""
    asked = time.monotonic()  # the leases' expiry is set from here on
    taken = leases.take_many(wave, owner, get_settings().token_lease_seconds)
    snapshots = _read_leased(taken) if taken else []
    names = {connection_ref(uid, connection_id).path: (uid, connection_id) for uid, connection_id in taken}
    tasks = []
    for snapshot in snapshots:
        uid, connection_id = names[snapshot.reference.path]
        lease = Lease(uid, connection_id, owner, taken[(uid, connection_id)], asked)
        tasks.append(submit_traced(pool, _refresh_one, uid, snapshot, lease))  # keeps the run's trace
    held_elsewhere = ["skipped"] * (len(wave) - len(taken))  # another instance is refreshing it now
    return held_elsewhere + [task.result() for task in tasks]  # an unexpected error raises: the chunk is redelivered


def refresh_chunk(payload: dict) -> None:
    run_id, index, chunks, pairs = _parse(payload)
    size, owner = get_settings().refresh_job_concurrency, secrets.token_hex(8)
    offered = set(services())  # one no longer offered here (its client id unset) is skipped, not the chunk
    wanted = [(uid, connection_id) for uid, connection_id in pairs if service_of(connection_id) in offered]
    counts = collections.Counter(dict.fromkeys(refresh_runs.OUTCOMES, 0))
    counts["skipped"] += len(pairs) - len(wanted)
    with concurrent.futures.ThreadPoolExecutor(max_workers=size) as pool:
        for start in range(0, len(wanted), size):
            counts.update(_refresh_wave(pool, wanted[start : start + size], owner))
    recorded = refresh_runs.record_chunk(run_id, index, dict(counts))
    log.info("refresh chunk done", extra={"fields": {"runId": run_id, "chunk": index, "recorded": recorded, **counts}})
    run = refresh_runs.totals(run_id) if recorded else None
    if run and run["chunksDone"] == chunks and refresh_runs.claim_summary(run_id):
        log.info(refresh_runs.FINISHED, extra={"fields": run})
