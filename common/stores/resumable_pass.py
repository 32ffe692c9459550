"""A maintenance pass over stored documents that outlives one function run: re-encryption
(common/tokens/reencrypt.py) and the connection-id migration (common/stores/connection_migration.py).

Progress and a cursor live in `maintenance/{name}`, so each run stops after its time budget and the
next one resumes after the last document it saw (by path: that document may be gone since). One run
at a time: the pass holds a lease for the whole run, and a second run (a duplicated message) answers
`busy` instead of forking the chain. Each document is handled by the pass's own function, which
does its write in a transaction of its own (so it is idempotent and races nothing)."""

import dataclasses
import secrets
import time
from collections.abc import Callable

from common.platform.clients import firestore_client
from common.platform.logs import get_logger
from common.platform.timeutil import utcnow
from common.stores import leases

log = get_logger(__name__)
MAINTENANCE = "maintenance"
LEASE_MARGIN_SECONDS = 60


@dataclasses.dataclass(frozen=True)
class Pass:
    name: str  # its progress document and lease
    title: str  # what its log lines call it ("re-encryption")
    phases: tuple  # (phase name, query over its documents, handle(snapshot) -> how many it changed)
    counted: str  # what the progress calls the changes ("rewritten", "migrated")
    failures: tuple[type[Exception], ...] = ()  # a document failing so is counted and logged; the pass goes on
    first_progress: Callable[[], dict] = dict  # what a new run also records (re-encryption's activeKey)


def run(job: Pass, restart: bool, batch_size: int, budget_seconds: float) -> dict:
    """Continue (or restart) the pass; returns the progress record (`done` when finished, `busy`
    when another run holds the pass's lease)."""
    taken_at = leases.try_take(MAINTENANCE, job.name, secrets.token_hex(8), budget_seconds + LEASE_MARGIN_SECONDS)
    if taken_at is None:
        return {"done": False, "busy": True}
    try:
        return _run(job, restart, batch_size, budget_seconds)
    finally:
        leases.release(MAINTENANCE, job.name, taken_at)


def _progress_ref(job: Pass):
    return firestore_client().collection(MAINTENANCE).document(job.name)


def _run(job: Pass, restart: bool, batch_size: int, budget_seconds: float) -> dict:
    started = time.monotonic()
    snapshot = _progress_ref(job).get()
    progress = snapshot.to_dict() if snapshot.exists else None
    if restart or progress is None or progress.get("done"):
        progress = {"phase": 0, "cursor": None, "scanned": 0, job.counted: 0, "failed": 0, "done": False, "startedAt": utcnow()}
        progress.update(job.first_progress())
    while progress["phase"] < len(job.phases):
        name, query_of, handle = job.phases[progress["phase"]]
        query = query_of().order_by("__name__").limit(batch_size)
        if progress["cursor"]:
            query = query.start_after({"__name__": firestore_client().document(progress["cursor"])})
        page = list(query.stream())
        if not page:
            progress.update(phase=progress["phase"] + 1, cursor=None)
            continue
        for doc in page:
            try:
                progress[job.counted] += handle(doc)
            except job.failures as error:
                progress["failed"] += 1
                fields = {"path": doc.reference.path, "error": type(error).__name__}
                log.error(f"{job.title}: document not done", extra={"fields": fields})
        progress.update(scanned=progress["scanned"] + len(page), cursor=page[-1].reference.path, updatedAt=utcnow())
        _progress_ref(job).set(progress)
        fields = {"phase": name, "scanned": progress["scanned"], job.counted: progress[job.counted]}
        log.info(f"{job.title} progress", extra={"fields": fields})
        if time.monotonic() - started > budget_seconds:
            return progress
    progress.update(done=True, updatedAt=utcnow())
    _progress_ref(job).set(progress)
    log.info(f"{job.title} finished", extra={"fields": {k: progress[k] for k in ("scanned", job.counted, "failed")}})
    return progress
