"""The audit trail: `audit_log/{id}` entries for connect, disconnect, re-auth and erase. Entries name
the user (so an erasure can remove them); the erase entry itself carries no personal data."""

from common.clients import firestore_client
from common.logs import get_logger
from common.timeutil import utcnow

COLLECTION = "audit_log"
log = get_logger(__name__)


def record(action: str, uid: str | None, **details) -> None:
    """Best effort: an audit write never fails the action it records (it is logged instead)."""
    try:
        firestore_client().collection(COLLECTION).add({"action": action, "uid": uid, "time": utcnow(), **details})
    except Exception as error:
        log.error("audit entry not written", extra={"fields": {"action": action, "error": type(error).__name__}})
