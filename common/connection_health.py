"""Per-connection health: the calls made with a connection's tokens (refreshes and provider API
calls) that failed in a row. At CONNECTION_DEGRADED_AFTER of them the connection shows as
`degraded` (status and connections) and a `degraded` event goes to the app, once per episode; the
next success clears the count and sends `recovered`. A success costs no write unless the
connection had failures, so the hot path stays one read."""

from google.cloud import firestore

from common.clients import firestore_client
from common.events import publish_connection_event
from common.logs import get_logger
from common.settings import get_settings
from common.stores import connections
from common.timeutil import iso, utcnow

log = get_logger(__name__)
HEALTHY, DEGRADED = "healthy", "degraded"


def health(record: dict) -> dict:
    """What status and connections show of a stored connection's health."""
    failures = record.get("consecutiveFailures") or 0
    return {
        "health": DEGRADED if failures >= get_settings().connection_degraded_after else HEALTHY,
        "consecutiveFailures": failures,
        "lastFailureAt": iso(record.get("lastFailureAt")),
    }


def count_failure(transaction, ref, snapshot, update: dict) -> int:
    """Add one failure to `update` (written in the caller's transaction); returns the new count."""
    failures = (snapshot.get("consecutiveFailures") or 0) + 1
    transaction.update(ref, {**update, "consecutiveFailures": failures, "lastFailureAt": utcnow()})
    return failures


def announce_failure(uid: str, service: str, account: dict | None, failures: int, error: str) -> None:
    """Tell the app once, when the failures in a row reach the degraded threshold."""
    if failures != get_settings().connection_degraded_after:
        return
    fields = {"uid": uid, "service": service, "error": error, "failures": failures, "metric": "connection_degraded"}
    log.warning("connection degraded", extra={"fields": fields})
    publish_connection_event("degraded", uid, service, account, error=error, failures=failures)


def record_failure(uid: str, service: str, error: str) -> None:
    """A provider API call made with this connection's token failed."""
    ref = connections.connection_ref(uid, service)
    counted = _count_api_failure(firestore_client().transaction(), ref, error)
    if counted is not None:
        account, failures = counted
        announce_failure(uid, service, account, failures, error)


@firestore.transactional
def _count_api_failure(transaction, ref, error: str) -> tuple[dict | None, int] | None:
    snapshot = ref.get(transaction=transaction)
    if not snapshot.exists:
        return None
    return snapshot.to_dict().get("account"), count_failure(transaction, ref, snapshot, {"lastError": error})


def record_success(uid: str, service: str, record: dict) -> None:
    """A provider API call succeeded with the token read from `record`: clear a failure episode."""
    if not record.get("consecutiveFailures"):
        return
    ref = connections.connection_ref(uid, service)
    try:
        ref.update({"consecutiveFailures": 0, "lastError": firestore.DELETE_FIELD, "updatedAt": utcnow()})
    except Exception as error:  # the call itself succeeded; its bookkeeping must not fail it
        log.warning("connection health not reset", extra={"fields": {"service": service, "error": type(error).__name__}})
        return
    announce_recovery(uid, service, record.get("account"))


def announce_recovery(uid: str, service: str, account: dict | None) -> None:
    log.info("connection recovered", extra={"fields": {"uid": uid, "service": service}})
    publish_connection_event("recovered", uid, service, account)
