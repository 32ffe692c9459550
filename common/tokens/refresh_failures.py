"""A failed refresh, written down: only by the lease's current holder, in the transaction that
checks the lease, onto the tokens it used. Errors only the user can fix make the connection
`needs_reauth`; transient ones put it in a cooldown; either counts towards `degraded`."""

import datetime

from google.cloud import firestore

from common.oauth.oauth_protocol import TokenResponseError
from common.platform.clients import firestore_client
from common.platform.errors import Unavailable
from common.platform.settings import get_settings
from common.platform.timeutil import utcnow
from common.providers import ProviderSpec
from common.stores import connections, leases
from common.tokens import connection_health, refresh_events
from common.tokens.stored import ReauthRequired

WRITTEN, REFUSED, IN_DOUBT = "written", "refused", "in_doubt"


@firestore.transactional
def _set_failure(transaction, uid: str, connection_id: str, owner: str, seen: dict, update: dict, doubtful: bool):
    """(outcome, first failure of the episode, this failure degraded the connection). The fence: only
    the lease's current holder writes, and only onto the tokens it used; else REFUSED. A `doubtful`
    failure (a grant error from the provider) of a holder that took the lease over from one that
    never released it is IN_DOUBT: that one may have spent the refresh token and still store its
    rotation, so only a cooldown of one lease period is written, for it to land."""
    lease = leases.held_by(transaction, uid, connection_id, owner)
    ref = connections.connection_ref(uid, connection_id)
    snapshot = ref.get(transaction=transaction)
    if lease is None or not snapshot.exists or not connections.same_tokens(snapshot.to_dict(), seen):
        return REFUSED, False, False
    record = snapshot.to_dict()
    if doubtful and lease.get("supersedes"):
        now = utcnow()
        grace = datetime.timedelta(seconds=get_settings().token_lease_seconds)
        transaction.update(ref, {"lastError": update["lastError"], "cooldownUntil": now + grace, "updatedAt": now})
        return IN_DOUBT, False, False
    first = record.get("status") != "needs_reauth" and not record.get("consecutiveFailures")
    return WRITTEN, first, connection_health.count_failure(transaction, ref, record, "consecutiveFailures", update)


def conflict() -> Unavailable:
    """Another writer changed the tokens, or took the lease over, meanwhile: the reader retries."""
    return Unavailable("The connection changed during refresh; retry", code="refresh_conflict", retry_after=1)


def mark_reauth(uid: str, spec: ProviderSpec, current: dict, owner: str, error: str, *, from_provider: bool) -> None:
    """The connection waits for the user (raises ReauthRequired), unless the fence says otherwise."""
    update = {"status": "needs_reauth", "statusReason": error, "lastError": error, "refreshDueAt": None, "updatedAt": utcnow()}
    outcome, first, degraded = _set_failure(
        firestore_client().transaction(), uid, current["connectionId"], owner, current, update, from_provider
    )
    if outcome == IN_DOUBT:
        refresh_events.in_doubt(uid, spec.service, error)
        raise Unavailable(
            "A stalled refresh may still store this connection's token; retry later",
            code="refresh_in_doubt",
            retry_after=get_settings().token_lease_seconds,
        )
    if outcome == REFUSED:
        raise conflict()
    refresh_events.needs_reauth(uid, spec.service, current, error, first=first, degraded=degraded)
    raise ReauthRequired()


def record_cooldown(uid: str, spec: ProviderSpec, current: dict, owner: str, error: TokenResponseError) -> str:
    """The connection pauses its refreshes (raises Unavailable with the pause as retry_after)."""
    settings, now = get_settings(), utcnow()
    pause = max(settings.token_refresh_cooldown_seconds, error.retry_after or 0)
    update = {"lastError": error.error, "cooldownUntil": now + datetime.timedelta(seconds=pause), "updatedAt": now}
    outcome, first, degraded = _set_failure(
        firestore_client().transaction(), uid, current["connectionId"], owner, current, update, False
    )
    if outcome == REFUSED:
        raise conflict()
    refresh_events.cooling_down(uid, spec.service, current, error.error, pause, first=first, degraded=degraded)
    raise Unavailable("The provider did not refresh the token; retry later", code="refresh_failed", retry_after=pause)
