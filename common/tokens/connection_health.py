"""Per-connection health, from two counters of failures in a row: refreshes (`consecutiveFailures`,
kept by the token manager, which also sends `refresh_failed` and `recovered` for them) and provider
API calls made with the connection's token (`callFailures`, kept here). When either reaches
CONNECTION_DEGRADED_AFTER the connection shows as `degraded` and one `degraded` event goes to the
app; when the API-call counter that caused it is cleared by a success, `recovered` follows.

The counters are separate so that one kind of success does not hide the other kind of failure (a
fresh token says nothing about a 403 on every Calendar call). A success on a connection with no
call failures writes nothing, so the hot path stays one read."""

from google.cloud import firestore

from common.platform.clients import firestore_client
from common.platform.logs import get_logger
from common.platform.settings import get_settings
from common.platform.timeutil import iso, utcnow
from common.product.events import publish_connection_event
from common.stores import connections

log = get_logger(__name__)
HEALTHY, DEGRADED = "healthy", "degraded"


def _worst(record: dict) -> int:
    return max(record.get("consecutiveFailures") or 0, record.get("callFailures") or 0)


def health(record: dict) -> dict:
    """What status and connections show of a stored connection's health."""
    failures = _worst(record)
    return {
        "health": DEGRADED if failures >= get_settings().connection_degraded_after else HEALTHY,
        "consecutiveFailures": failures,
        "lastFailureAt": iso(record.get("lastFailureAt")),
    }


def count_failure(transaction, ref, stored: dict, counter: str, update: dict) -> bool:
    """Add one to `counter` with `update`, in the caller's transaction. True when this failure makes
    the connection degraded (the caller announces it once the transaction has committed)."""
    threshold = get_settings().connection_degraded_after
    failures = (stored.get(counter) or 0) + 1
    transaction.update(ref, {**update, counter: failures, "lastFailureAt": utcnow()})
    return failures == threshold and _worst(stored) < threshold


def announce_degraded(uid: str, connection_id: str, record: dict, error: str) -> None:
    """`degraded` for the connection `record` (as stored when it failed)."""
    failures, service = get_settings().connection_degraded_after, connections.service_of(connection_id)
    fields = {"uid": uid, "service": service, "error": error, "failures": failures, "metric": "connection_degraded"}
    log.warning("connection degraded", extra={"fields": fields})
    publish_connection_event(
        "degraded", uid, connection_id, record.get("account"), tags=record.get("tags"), error=error, failures=failures
    )


def record_failure(uid: str, connection_id: str, error: str) -> None:
    """A provider API call made with this connection's token failed. Bookkeeping only: a Firestore
    error here is logged, and the caller reports the provider's failure, not this one."""
    ref, service = connections.connection_ref(uid, connection_id), connections.service_of(connection_id)
    try:
        degraded, stored = _count_call_failure(firestore_client().transaction(), ref, error)
    except Exception as failure:
        log.warning("connection health not recorded", extra={"fields": {"service": service, "error": type(failure).__name__}})
        return
    if degraded:
        announce_degraded(uid, connection_id, stored, error)


@firestore.transactional
def _count_call_failure(transaction, ref, error: str) -> tuple[bool, dict]:
    """(whether this failure degraded the connection, the connection as stored before it)."""
    snapshot = ref.get(transaction=transaction)
    if not snapshot.exists:
        return False, {}
    stored = snapshot.to_dict()
    return count_failure(transaction, ref, stored, "callFailures", {"lastCallError": error}), stored


def record_success(uid: str, connection_id: str, read: dict) -> None:
    """A provider API call succeeded with the token from `read` (the record as read before the call).
    Clears the call failures; `recovered` only when they had made the connection degraded."""
    if not read.get("callFailures"):
        return
    service = connections.service_of(connection_id)
    try:
        cleared = _clear_call_failures(firestore_client().transaction(), connections.connection_ref(uid, connection_id))
    except Exception as failure:
        log.warning("connection health not reset", extra={"fields": {"service": service, "error": type(failure).__name__}})
        return
    if cleared >= get_settings().connection_degraded_after:
        log.info("connection recovered", extra={"fields": {"uid": uid, "service": service}})
        publish_connection_event("recovered", uid, connection_id, read.get("account"), tags=read.get("tags"))


@firestore.transactional
def _clear_call_failures(transaction, ref) -> int:
    """The call failures cleared (0 when another success got there first)."""
    snapshot = ref.get(transaction=transaction)
    if not snapshot.exists:
        return 0
    cleared = snapshot.to_dict().get("callFailures") or 0
    if cleared:
        transaction.update(ref, {"callFailures": 0, "lastCallError": firestore.DELETE_FIELD, "updatedAt": utcnow()})
    return cleared
