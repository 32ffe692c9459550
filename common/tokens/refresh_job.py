"""The scheduled refresh's tick: every active connection whose refresh time (refreshDueAt) has come,
found by an indexed query on (status, refreshDueAt) so its cost grows with the connections due, not
with all of them; read as one stream (one query, not pages: a store without the index, like the
emulator, scans once per query; the client resumes a broken stream after the last document it
gave); split into chunks of REFRESH_JOB_CHUNK_SIZE published to
`token-refresh-chunks`, where token_refresh_worker instances refresh them side by side
(common/tokens/refresh_chunk.py). The tick reads no token: only the fields that name and schedule a
connection. It records the run (common/stores/refresh_runs.py) before publishing, so the chunks
always find it, and warns once per service about tokens that live less than the window (they are
refreshed after a share of their lifetime instead, see refresh_policy)."""

import datetime
import time
import uuid

from google.cloud.firestore_v1.base_query import FieldFilter

from common.oauth.refresh_policy import LIFETIME_SHARE
from common.platform.clients import firestore_client
from common.platform.logs import get_logger
from common.platform.settings import get_settings
from common.platform.timeutil import utcnow
from common.product.events import publish_json_many
from common.providers import services
from common.stores import refresh_runs
from common.stores.connections import CONNECTIONS

log = get_logger(__name__)
SHORT_LIVED = "tokens live shorter than the refresh window"
FIELDS = ("uid", "service", "refreshDueAt", "tokenLifetimeSeconds")


def due_query(until: datetime.datetime):
    return (
        firestore_client()
        .collection_group(CONNECTIONS)
        .where(filter=FieldFilter("status", "==", "active"))
        .where(filter=FieldFilter("refreshDueAt", "<=", until))
        .order_by("refreshDueAt")
        .select(FIELDS)
    )


def _warn_short_lived(record: dict, warned: set, window: float) -> None:
    """Once per service and run: its tokens live less than TOKEN_REFRESH_WINDOW_SECONDS."""
    lifetime = record.get("tokenLifetimeSeconds")
    if lifetime and lifetime < window and record["service"] not in warned:
        warned.add(record["service"])
        fields = {"service": record["service"], "lifetimeSeconds": lifetime, "windowSeconds": window}
        log.warning(SHORT_LIVED, extra={"fields": {**fields, "refreshedEverySeconds": LIFETIME_SHARE * lifetime}})


def _due_connections(started: float) -> tuple[list, bool]:
    """(uid, connection id) of every due connection, and whether the budget allowed them all."""
    settings = get_settings()
    until = utcnow()  # refreshDueAt already sits TOKEN_REFRESH_WINDOW_SECONDS ahead of expiry
    due, warned = {}, set()
    offered = set(services())  # a service not offered here (its client id unset) has no client to refresh with
    stream = due_query(until).stream()
    try:
        for snapshot in stream:
            record = snapshot.to_dict()
            _warn_short_lived(record, warned, settings.token_refresh_window_seconds)
            if record["service"] in offered:
                due[snapshot.reference.path] = [record["uid"], snapshot.id]
            if time.monotonic() - started > settings.refresh_job_budget_seconds:
                return list(due.values()), False
    finally:
        stream.close()
    return list(due.values()), True


def start_run() -> dict:
    """Find the due connections and hand them out in chunks; returns the run as recorded."""
    settings = get_settings()
    started = time.monotonic()
    run_id = f"{utcnow():%Y%m%dT%H%M%SZ}-{uuid.uuid4().hex[:8]}"
    due, complete = _due_connections(started)
    size = settings.refresh_job_chunk_size
    chunks = [due[i : i + size] for i in range(0, len(due), size)]
    refresh_runs.start(run_id, len(due), len(chunks), complete)
    messages = [{"runId": run_id, "chunk": i, "chunks": len(chunks), "connections": chunk} for i, chunk in enumerate(chunks)]
    publish_json_many(settings.topic_token_refresh_chunks, messages)
    run = {"runId": run_id, "due": len(due), "chunks": len(chunks), "complete": complete}
    log.info("refresh run started", extra={"fields": {**run, "seconds": round(time.monotonic() - started, 3)}})
    if not chunks:
        log.info(refresh_runs.FINISHED, extra={"fields": refresh_runs.totals(run_id)})
    return run
