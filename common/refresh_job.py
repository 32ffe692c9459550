"""The scheduled refresh: every active connection whose refresh time (refreshDueAt) has come, found
by an indexed query on (status, refreshDueAt) so its cost grows with the connections due, not with
all of them; paged; refreshed with bounded concurrency through the token manager, whose leases make
two overlapping runs (or a run and a reader) safe. A run refreshes each connection at most once,
and warns once per service about tokens that live less than the window (they are refreshed after a
share of their lifetime instead, see refresh_policy)."""

import concurrent.futures
import contextvars
import dataclasses
import datetime
import time

from google.cloud.firestore_v1.base_query import FieldFilter

from common.clients import firestore_client
from common.errors import AppError
from common.logs import get_logger
from common.providers import provider
from common.refresh_policy import LIFETIME_SHARE
from common.settings import get_settings
from common.stores.connections import CONNECTIONS
from common.timeutil import utcnow
from common.tokens import ReauthRequired, due_now, refresh

log = get_logger(__name__)
SHORT_LIVED = "tokens live shorter than the refresh window"


@dataclasses.dataclass
class Summary:
    due: int = 0
    refreshed: int = 0
    failed: int = 0
    needs_reauth: int = 0
    skipped: int = 0
    pages: int = 0
    complete: bool = True
    seconds: float = 0.0


def _refresh_one(record: dict) -> str:
    now = utcnow()
    cooldown = record.get("cooldownUntil")
    if cooldown and cooldown > now:
        return "skipped"
    try:
        _, refreshed = refresh(record["uid"], provider(record["service"]), record, still_needed=due_now)
        return "refreshed" if refreshed else "skipped"  # skipped: another run or a reader got there first
    except ReauthRequired:
        return "needs_reauth"
    except AppError as error:
        skipped = ("refresh_in_progress", "refresh_cooldown", "refresh_in_doubt", "not_connected")
        return "skipped" if error.code in skipped else "failed"


def due_query(until: datetime.datetime, page_size: int):
    return (
        firestore_client()
        .collection_group(CONNECTIONS)
        .where(filter=FieldFilter("status", "==", "active"))
        .where(filter=FieldFilter("refreshDueAt", "<=", until))
        .order_by("refreshDueAt")
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


def run_refresh_job() -> Summary:
    settings = get_settings()
    started, summary = time.monotonic(), Summary()
    until = utcnow()  # refreshDueAt already sits TOKEN_REFRESH_WINDOW_SECONDS ahead of expiry
    done, warned = set(), set()  # connections this run has handled; services warned about
    with concurrent.futures.ThreadPoolExecutor(max_workers=settings.refresh_job_concurrency) as pool:
        last = None
        while True:
            if time.monotonic() - started > settings.refresh_job_budget_seconds:
                summary.complete = False
                break
            query = due_query(until, settings.refresh_job_page_size)
            page = list((query.start_after(last) if last else query).stream())
            if not page:
                break
            summary.pages += 1
            records = [doc.to_dict() for doc in page if doc.reference.path not in done]
            done.update(doc.reference.path for doc in page)
            summary.due += len(records)
            _warn_short_lived(records, warned, settings.token_refresh_window_seconds)
            # Each task runs in a copy of this context, so its log lines and messages keep the job's trace.
            tasks = [pool.submit(contextvars.copy_context().run, _refresh_one, record) for record in records]
            for outcome in (task.result() for task in tasks):
                setattr(summary, outcome, getattr(summary, outcome) + 1)
            last = page[-1]
            log.info(
                "refresh job progress",
                extra={"fields": {"page": summary.pages, "due": summary.due, "refreshed": summary.refreshed}},
            )
    summary.seconds = round(time.monotonic() - started, 3)
    log.info("refresh job finished", extra={"fields": dataclasses.asdict(summary)})
    return summary
