"""The scheduled refresh's tick: every active connection whose refresh time (refreshDueAt) has come,
found by an indexed query on (status, refreshDueAt) so its cost grows with the connections due, not
with all of them; paged; split into chunks of REFRESH_JOB_CHUNK_SIZE published to
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


def due_query(until: datetime.datetime, page_size: int):
    return (
        firestore_client()
        .collection_group(CONNECTIONS)
        .where(filter=FieldFilter("status", "==", "active"))
        .where(filter=FieldFilter("refreshDueAt", "<=", until))
        .order_by("refreshDueAt")
        .select(FIELDS)
        .limit(page_size)
    )


def _warn_short_lived(records: list[dict], warned: set, window: float) -> None:
    """Once per service and run: its tokens live less than TOKEN_REFRESH_WINDOW_SECONDS."""
    for record in records:
        lifetime = record.get("tokenLifetimeSeconds")
        if lifetime and lifetime < window and record["service"] not in warned:
            warned.add(record["service"])
            fields = {"service": record["service"], "lifetimeSeconds": lifetime, "windowSeconds": window}
            log.warning(SHORT_LIVED, extra={"fields": {**fields, "refreshedEverySeconds": LIFETIME_SHARE * lifetime}})


def _due_connections(started: float) -> tuple[list, int, bool]:
    """(uid, connection id) of every due connection, the pages read, and whether the budget allowed them all."""
    settings = get_settings()
    until = utcnow()  # refreshDueAt already sits TOKEN_REFRESH_WINDOW_SECONDS ahead of expiry
    due, warned, pages, last = {}, set(), 0, None
    offered = set(services())  # a service not offered here (its client id unset) has no client to refresh with
    while time.monotonic() - started <= settings.refresh_job_budget_seconds:
        query = due_query(until, settings.refresh_job_page_size)
        page = list((query.start_after(last) if last else query).stream())
        if not page:
            return list(due.values()), pages, True
        pages += 1
        records = {doc.reference.path: (doc.id, doc.to_dict()) for doc in page}
        _warn_short_lived([r for _, r in records.values()], warned, settings.token_refresh_window_seconds)
        due.update((path, [r["uid"], cid]) for path, (cid, r) in records.items() if r["service"] in offered)
        last = page[-1]
    return list(due.values()), pages, False


def start_run() -> dict:
    """Find the due connections and hand them out in chunks; returns the run as recorded."""
    settings = get_settings()
    started = time.monotonic()
    run_id = f"{utcnow():%Y%m%dT%H%M%SZ}-{uuid.uuid4().hex[:8]}"
    due, pages, complete = _due_connections(started)
    size = settings.refresh_job_chunk_size
    chunks = [due[i : i + size] for i in range(0, len(due), size)]
    refresh_runs.start(run_id, len(due), len(chunks), complete)
    messages = [{"runId": run_id, "chunk": i, "chunks": len(chunks), "connections": chunk} for i, chunk in enumerate(chunks)]
    publish_json_many(settings.topic_token_refresh_chunks, messages)
    run = {"runId": run_id, "due": len(due), "chunks": len(chunks), "pages": pages, "complete": complete}
    log.info("refresh run started", extra={"fields": {**run, "seconds": round(time.monotonic() - started, 3)}})
    if not chunks:
        log.info(refresh_runs.FINISHED, extra={"fields": refresh_runs.totals(run_id)})
    return run
