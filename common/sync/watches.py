"""Push subscriptions of the Google services over a connection's life: opened on connect, stopped
on disconnect, renewed by the daily job (a collection-group query on `sync_state.renewAt`). One per
connection: a user's two Gmail accounts have a watch each."""

import concurrent.futures
import contextlib
import secrets

from google.cloud.firestore_v1.base_query import FieldFilter

from common.platform.clients import firestore_client
from common.platform.logs import get_logger
from common.platform.timeutil import utcnow
from common.platform.traced_pool import submit_traced
from common.stores import leases, sync_state
from common.stores.connections import NotConnected, service_of
from common.stores.erasures import UserErased
from common.sync import calendar_sync, gmail_sync

log = get_logger(__name__)
RENEW_PAGE_SIZE = 200
RENEW_LEASE_SECONDS = 120
# Renewals one run makes at once: each waits on a provider call and a few Firestore round trips
# (about 250 ms), so one at a time a 540 s run renewed about 2,000 (docs/capacity.md).
RENEW_CONCURRENCY = 16


def start(uid: str, connection_id: str, since, access_token: str) -> None:
    """Open the connection's watch after a connect (the flow that connected started at `since`), with
    the access token it was just issued. Best effort: a failure is logged, and the renewal job (which
    also picks up connections with no watch yet) tries again. UserErased is raised: the user was
    erased meanwhile."""
    service = service_of(connection_id)
    try:
        if service == "gmail":
            gmail_sync.start_watch(uid, connection_id, since, access_token)
        elif service == "calendar":
            calendar_sync.start_channel(uid, connection_id, since, access_token)
    except UserErased:
        raise
    except NotConnected:
        log.info("watch not recorded: the connection was removed meanwhile", extra={"fields": {"uid": uid, "service": service}})
    except Exception as error:
        with contextlib.suppress(NotConnected):  # removed meanwhile: nothing to renew
            sync_state.merge_state(uid, connection_id, {"service": service, "uid": uid, "renewAt": utcnow()}, since)
        log.warning(
            "watch not started; the renewal job will retry",
            extra={"fields": {"uid": uid, "service": service, "error": type(error).__name__}},
        )


def stop(uid: str, connection_id: str) -> None:
    """Stop the connection's watch before a disconnect (while the token still works)."""
    service = service_of(connection_id)
    if service not in ("gmail", "calendar"):
        return
    try:
        if service == "gmail":
            gmail_sync.stop_watch(uid, connection_id)
        else:
            calendar_sync.stop_channel(uid, connection_id, sync_state.get_state(uid, connection_id).get("channelId"))
    except Exception as error:
        log.warning(
            "watch not stopped at the provider", extra={"fields": {"uid": uid, "service": service, "error": type(error).__name__}}
        )


def forget(uid: str, connection_id: str) -> None:
    """Delete the connection's sync state, once the connection is deleted: a sync or renewal whose
    write saw the connection has landed by then (sync_state refuses the later ones), so none
    writes the state back."""
    sync_state.delete_state(uid, connection_id)


def renew_due() -> dict:
    """Renew every Gmail watch and Calendar channel whose renewAt has come. Paged with a cursor, a
    page's renewals RENEW_CONCURRENCY at once; each under a per-user lease with the due time
    re-checked, so overlapping runs (Scheduler delivers at least once) do not open two channels;
    one failure does not stop the others. A renewal started (took its lease) before its user was
    erased records nothing: skipped."""
    counts = {"due": 0, "renewed": 0, "skipped": 0, "failed": 0}
    query = firestore_client().collection_group(sync_state.SYNC_STATE).where(filter=FieldFilter("renewAt", "<=", utcnow()))
    query = query.order_by("renewAt").limit(RENEW_PAGE_SIZE)
    last = None
    with concurrent.futures.ThreadPoolExecutor(max_workers=RENEW_CONCURRENCY) as pool:
        while True:
            page = list((query.start_after(last) if last else query).stream())
            if not page:
                break
            tasks = [submit_traced(pool, _renew_one, doc.id, doc.to_dict()) for doc in page]
            for task in tasks:
                counts["due"] += 1
                counts[task.result()] += 1
            last = page[-1]
    log.info("watch renewal finished", extra={"fields": counts})
    return counts


def _renew_one(connection_id: str, record: dict) -> str:
    """Renew the watch of the connection whose sync state this is (the state is named after it)."""
    uid, service, owner = record.get("uid"), service_of(connection_id), secrets.token_hex(8)
    taken_at = leases.try_take(uid, f"{connection_id}-renew", owner, RENEW_LEASE_SECONDS)
    if taken_at is None:
        return "skipped"
    try:
        if sync_state.get_state(uid, connection_id).get("renewAt", utcnow()) > utcnow():
            return "skipped"  # another run renewed it
        if service == "gmail":
            gmail_sync.start_watch(uid, connection_id, taken_at)  # calling watch again renews it
        else:
            calendar_sync.renew_channel(uid, connection_id, taken_at)  # new channel first, then stop the old one
        return "renewed"
    except UserErased:
        log.info("watch renewal refused: the user was erased meanwhile", extra={"fields": {"uid": uid, "service": service}})
        return "skipped"
    except NotConnected:
        log.info("watch renewal ended: the connection was removed", extra={"fields": {"uid": uid, "service": service}})
        return "skipped"
    except Exception as error:
        log.warning("watch renewal failed", extra={"fields": {"uid": uid, "service": service, "error": type(error).__name__}})
        return "failed"
    finally:
        leases.release(uid, f"{connection_id}-renew", taken_at)
