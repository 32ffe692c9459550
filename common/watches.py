"""Push subscriptions of the Google services over a connection's life: opened on connect, stopped
on disconnect, renewed by the daily job (a collection-group query on `sync_state.renewAt`)."""

from google.cloud.firestore_v1.base_query import FieldFilter

from common import calendar_sync, gmail_sync
from common.clients import firestore_client
from common.errors import AppError
from common.logs import get_logger
from common.stores import sync_state
from common.timeutil import utcnow

log = get_logger(__name__)


def start(uid: str, service: str) -> None:
    """Open the service's watch after a connect. Best effort: a failure is logged, and the renewal
    job (which also picks up connections with no watch yet) tries again."""
    try:
        if service == "gmail":
            gmail_sync.start_watch(uid)
        elif service == "calendar":
            calendar_sync.start_channel(uid)
    except Exception as error:
        sync_state.merge_state(uid, service, {"service": service, "uid": uid, "renewAt": utcnow()})
        log.warning(
            "watch not started; the renewal job will retry",
            extra={"fields": {"uid": uid, "service": service, "error": type(error).__name__}},
        )


def stop(uid: str, service: str) -> None:
    """Stop the watch before a disconnect (while the token still works); forget the sync state."""
    if service not in ("gmail", "calendar"):
        return
    try:
        if service == "gmail":
            gmail_sync.stop_watch(uid)
        else:
            calendar_sync.stop_channel(uid, sync_state.get_state(uid, service).get("channelId"))
    except Exception as error:
        log.warning(
            "watch not stopped at the provider", extra={"fields": {"uid": uid, "service": service, "error": type(error).__name__}}
        )
    sync_state.delete_state(uid, service)


def renew_due() -> dict:
    """Renew every Gmail watch and Calendar channel whose renewAt has come."""
    counts = {"due": 0, "renewed": 0, "failed": 0}
    due = firestore_client().collection_group(sync_state.SYNC_STATE).where(filter=FieldFilter("renewAt", "<=", utcnow())).stream()
    for doc in due:
        record, counts["due"] = doc.to_dict(), counts["due"] + 1
        try:
            if record.get("service") == "gmail":
                gmail_sync.start_watch(record["uid"])  # calling watch again renews it
            else:
                calendar_sync.renew_channel(record["uid"])  # new channel first, then stop the old one
            counts["renewed"] += 1
        except AppError as error:
            counts["failed"] += 1
            log.warning(
                "watch renewal failed",
                extra={"fields": {"uid": record.get("uid"), "service": record.get("service"), "errorCode": error.code}},
            )
    log.info("watch renewal finished", extra={"fields": counts})
    return counts
