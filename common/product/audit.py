"""The audit trail: `audit_log/{id}` entries for connect, disconnect, re-auth, erase and what the
app's backend does (credential fetches, tags, listings; `backend` names its account). Entries name
the user (so an erasure can remove them); the erase entry itself carries no personal data. An entry
naming a user is written only if the erasure fence lets it (common/stores/erasures.py), so none
lands after the erasure that would have removed it."""

from common.platform.clients import firestore_client
from common.platform.logs import get_logger
from common.platform.timeutil import utcnow
from common.stores import erasures

COLLECTION = "audit_log"
log = get_logger(__name__)


def record_in(transaction, action: str, uid: str, **details) -> None:
    """Write the entry in the caller's transaction, which has checked the erasure fence: it lands
    with the change it records, in the same commit (the OAuth callback's connect)."""
    transaction.create(
        firestore_client().collection(COLLECTION).document(), {"action": action, "uid": uid, "time": utcnow(), **details}
    )


def record(action: str, uid: str | None, since=None, **details) -> bool:
    """Best effort: an audit write never fails the action it records (it is logged instead); True
    when it was written, for an action that must not happen unaudited (a backend's token fetch).
    `since`: when the work recording it started (None: now)."""
    ref = firestore_client().collection(COLLECTION).document()
    entry = {"action": action, "uid": uid, "time": utcnow(), **details}
    try:
        if uid is None:
            ref.create(entry)
        else:
            erasures.write(uid, since, lambda transaction, _: transaction.create(ref, entry))
    except erasures.UserErased:
        log.info("audit entry not written: the user is being erased", extra={"fields": {"action": action}})
        return False
    except Exception as error:
        log.error("audit entry not written", extra={"fields": {"action": action, "error": type(error).__name__}})
        return False
    return True
