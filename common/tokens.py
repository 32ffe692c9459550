"""The token manager: every provider call gets its access token here.

A read returns the stored token while it is fresh (one Firestore read and one decryption). Near
expiry, one instance refreshes under a lease while the others wait and pick up its result, so a
single-use refresh token is never spent twice. A refresh reply is stored in one write (a rotated
refresh token with its access token) before anything else happens, onto the tokens it started from
(same `tokenVersion`, which re-encryption leaves alone), whether or not its lease has lapsed since:
the provider has already rotated, so that reply holds the only live refresh token. Failures:
errors only the user can fix make the connection `needs_reauth`; transient ones are retried with
backoff and then put the connection in a cooldown; either is written only by the lease's current
holder, in the transaction that checks the lease. One `refresh_failed` event per failure episode,
`recovered` after it.
"""

import datetime
import random
import secrets
import time

from google.api_core import exceptions as google_errors
from google.cloud import firestore

from common import audit, connection_health
from common.analytics import track
from common.clients import firestore_client
from common.crypto import get_cipher
from common.errors import AppError, Unavailable
from common.events import publish_connection_event
from common.logs import get_logger
from common.oauth_client import refresh_grant
from common.oauth_protocol import TokenResponseError
from common.providers import ProviderSpec, provider
from common.refresh_policy import backoff_delay, needs_refresh, needs_user, refresh_due_at, refresh_margin
from common.settings import get_settings
from common.stores import connections, leases
from common.stores.connections import NotConnected
from common.timeutil import utcnow
from common.token_fields import token_field

log = get_logger(__name__)


class ReauthRequired(AppError):
    status = 409
    code = "needs_reauth"
    default_message = "The connection needs the user to connect again"


def _decrypt(uid: str, record: dict, kind: str) -> str:
    column = "accessToken" if kind == "access_token" else "refreshToken"
    return get_cipher().decrypt(record[column], uid, token_field(record["service"], kind))


def _load(uid: str, service: str) -> dict:
    return _load_with_time(uid, service)[0]


def _load_with_time(uid: str, service: str) -> tuple[dict, object]:
    record, update_time = connections.read_connection(uid, service)
    if record is None:
        raise NotConnected()
    if record.get("status") == "needs_reauth":
        raise ReauthRequired(code="needs_reauth")
    return record, update_time


def get_access_token(uid: str, service: str) -> str:
    """A valid access token for the user's connection, refreshed first when it is about to expire."""
    return _token_and_record(uid, service)[0]


def get_credentials(uid: str, service: str) -> tuple[str, datetime.datetime | None]:
    """A valid access token and when it expires, as one pair: refreshed first when due (as
    get_access_token), then read back with its expiry from the stored connection."""
    get_access_token(uid, service)
    record = _load(uid, service)
    return _decrypt(uid, record, "access_token"), record.get("expiresAt")


def _token_and_record(uid: str, service: str) -> tuple[str, dict]:
    """The access token and the connection record it was read with (before any refresh)."""
    spec = provider(service)
    record = _load(uid, service)
    margin = refresh_margin(spec.family, get_settings(), record.get("tokenLifetimeSeconds"))
    expiring = lambda current: needs_refresh(current.get("expiresAt"), margin, utcnow())  # noqa: E731
    if not expiring(record):
        return _decrypt(uid, record, "access_token"), record
    try:
        return refresh(uid, spec, record, still_needed=expiring)[0], record
    except Unavailable:
        # The refresh failed or is cooling down, but the token has not expired yet: use it rather
        # than fail the caller (a 401 still gets call_with_token's forced refresh).
        if not (record.get("expiresAt") and record["expiresAt"] > utcnow()):
            raise
        return _decrypt(uid, record, "access_token"), record


def _unauthorized(response) -> bool:
    return response.status_code == 401


def call_with_token(uid: str, service: str, call, rejected=_unauthorized) -> tuple[object, dict]:
    """Run call(access_token) -> response; a response the provider `rejected` the token with (a 401,
    or what the caller says: Slack's HTTP 200 invalid_auth) gets one forced refresh and one retry.
    Returns the response and the connection record as read before the call (its health, for the caller)."""
    token, record = _token_and_record(uid, service)
    response = call(token)
    if not rejected(response):
        return response, record
    refused = _load(uid, service)
    token, _ = refresh(uid, provider(service), refused, still_needed=lambda current: connections.same_tokens(current, refused))
    return call(token), record


def due_now(current: dict) -> bool:
    """The scheduled job's test: the connection's refresh time has come (and nobody did it since)."""
    due = current.get("refreshDueAt")
    return due is not None and due <= utcnow()


def refresh(uid: str, spec: ProviderSpec, seen: dict, *, still_needed) -> tuple[str, bool]:
    """Refresh under the lease, or wait for the instance that holds it: (access token, whether this
    call refreshed). `still_needed(current)` is asked before and after taking the lease: False means
    another instance refreshed meanwhile, and its token is used."""
    settings = get_settings()
    owner, deadline, attempt = secrets.token_hex(8), time.monotonic() + settings.token_wait_seconds, 0
    current = seen  # the caller has just read it
    while True:
        if not still_needed(current):
            return _decrypt(uid, current, "access_token"), False
        _respect_cooldown(uid, current)
        taken_at = leases.try_take(uid, spec.service, owner, settings.token_lease_seconds)
        if taken_at is not None:
            break
        if time.monotonic() > deadline:
            raise Unavailable("A refresh of this connection is in progress", code="refresh_in_progress", retry_after=1)
        time.sleep(min(0.05 * 2**attempt, 0.5) * random.uniform(0.5, 1.0))
        attempt += 1
        current = _load(uid, spec.service)
    lease = Lease(owner, taken_at)
    try:
        # Re-read under the lease: another holder may have finished.
        current, lease.read_at = _load_with_time(uid, spec.service)
        if not still_needed(current):
            return _decrypt(uid, current, "access_token"), False
        return _refresh_with_provider(uid, spec, current, lease), True
    finally:
        if not lease.released:
            leases.release(uid, spec.service, taken_at)


class Lease:
    """The refresh lease this call holds: its owner id and write time, when the connection was read
    under it, and whether the reply's write gave it back (in the same commit)."""

    def __init__(self, owner: str, taken_at):
        self.owner, self.taken_at, self.read_at, self.released = owner, taken_at, None, False


def _respect_cooldown(uid: str, record: dict) -> None:
    cooldown = record.get("cooldownUntil")
    now = utcnow()
    if cooldown and cooldown > now:
        raise Unavailable(
            "The provider is failing; retry later", code="refresh_cooldown", retry_after=(cooldown - now).total_seconds()
        )


def _refresh_with_provider(uid: str, spec: ProviderSpec, current: dict, lease: Lease) -> str:
    settings, owner = get_settings(), lease.owner
    if not current.get("refreshToken"):
        _mark_reauth(uid, spec, current, owner, "no_refresh_token", from_provider=False)
    refresh_token = _decrypt(uid, current, "refresh_token")
    track("integration_token_refresh_attempted", uid=uid, provider=spec.service)
    started, error = time.monotonic(), None
    for attempt in range(settings.token_refresh_attempts):
        try:
            return _store_refreshed(uid, spec, current, refresh_grant(spec, refresh_token), lease)
        except TokenResponseError as failure:
            error = failure
            if needs_user(failure.error):
                _mark_reauth(uid, spec, current, owner, failure.error, from_provider=True)
            if not failure.retryable or attempt + 1 == settings.token_refresh_attempts:
                break
            delay = backoff_delay(attempt, failure.retry_after)
            worst_next_attempt = delay + 2 * settings.provider_timeout_seconds  # connect + read timeouts
            if time.monotonic() - started + worst_next_attempt > settings.token_lease_seconds:
                break  # the lease could lapse mid-call and let a second refresher in
            time.sleep(delay)
    return _record_cooldown(uid, spec, current, owner, error)


def _store_refreshed(uid: str, spec: ProviderSpec, current: dict, tokens, lease: Lease) -> str:
    cipher, now, settings = get_cipher(), utcnow(), get_settings()
    expires_at = now + datetime.timedelta(seconds=tokens.expires_in) if tokens.expires_in else None
    update = {
        "accessToken": cipher.encrypt(tokens.access_token, uid, token_field(spec.service, "access_token")),
        "tokenVersion": connections.new_token_version(),
        "tokenLifetimeSeconds": tokens.expires_in,
        "expiresAt": expires_at,
        "refreshDueAt": refresh_due_at(spec.family, expires_at, now, True, settings),
        "refreshedAt": now,
        "updatedAt": now,
        "status": "active",
        "consecutiveFailures": 0,
        "statusReason": firestore.DELETE_FIELD,
        "lastError": firestore.DELETE_FIELD,
        "cooldownUntil": firestore.DELETE_FIELD,
    }
    if tokens.refresh_token:  # rotated; else the stored one stays (as re-encryption may have rewritten it)
        update["refreshToken"] = cipher.encrypt(tokens.refresh_token, uid, token_field(spec.service, "refresh_token"))
    if tokens.scopes:
        update["scopes"] = list(tokens.scopes)
    # One write, so a rotated refresh token is never lost; and only onto the tokens it came from
    # (not a reconnect or another refresh meanwhile, whose newer tokens it would undo). Not fenced by
    # the lease: a holder that outlived its lease still has the provider's newest rotation.
    replaced = _write_onto_read(uid, spec.service, current, update, lease)
    if replaced is None:
        replaced = _write_if_unchanged(
            firestore_client().transaction(), connections.connection_ref(uid, spec.service), current, update
        )
    if replaced is None:
        raise NotConnected()
    if replaced is False:
        raise _conflict()
    if replaced.get("consecutiveFailures"):
        publish_connection_event("recovered", uid, spec.service, current.get("account"), tags=current.get("tags"))
    fields = {"uid": uid, "service": spec.service, "rotated": bool(tokens.refresh_token), "metric": "token_refresh_succeeded"}
    log.info("token refreshed", extra={"fields": fields})
    track("integration_token_refresh_success", uid=uid, provider=spec.service, status="success")
    return tokens.access_token


def _write_onto_read(uid: str, service: str, current: dict, update: dict, lease: Lease) -> dict | None:
    """The common case in one commit: the update, preconditioned on the connection being exactly as
    read under the lease, and the lease given back. None when either changed meanwhile (a health
    counter, re-encryption, a takeover): then the transaction below compares the tokens themselves."""
    batch = firestore_client().batch()
    batch.update(
        connections.connection_ref(uid, service), update, option=firestore_client().write_option(last_update_time=lease.read_at)
    )
    leases.release_in(batch, uid, service, lease.taken_at)
    try:
        batch.commit()
    except (google_errors.FailedPrecondition, google_errors.NotFound):
        return None
    lease.released = True
    return current


@firestore.transactional
def _write_if_unchanged(transaction, ref, current: dict, update: dict) -> dict | bool | None:
    """The record it replaced when written; False when the tokens or account changed meanwhile;
    None when gone."""
    snapshot = ref.get(transaction=transaction)
    if not snapshot.exists:
        return None
    stored = snapshot.to_dict()
    if not connections.same_tokens(stored, current):
        return False
    transaction.update(ref, update)
    return stored


WRITTEN, REFUSED, IN_DOUBT = "written", "refused", "in_doubt"


@firestore.transactional
def _set_failure(transaction, uid: str, service: str, owner: str, seen: dict, update: dict, doubtful: bool):
    """(outcome, first failure of the episode, this failure degraded the connection). The fence: only
    the lease's current holder writes, and only onto the tokens it used; else REFUSED. A `doubtful`
    failure (a grant error from the provider) of a holder that took the lease over from one that
    never released it is IN_DOUBT: that one may have spent the refresh token and still store its
    rotation, so only a cooldown of one lease period is written, for it to land."""
    lease = leases.held_by(transaction, uid, service, owner)
    ref = connections.connection_ref(uid, service)
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


def _conflict() -> Unavailable:
    """Another writer changed the tokens, or took the lease over, meanwhile: the reader retries."""
    return Unavailable("The connection changed during refresh; retry", code="refresh_conflict", retry_after=1)


def _mark_reauth(uid: str, spec: ProviderSpec, current: dict, owner: str, error: str, *, from_provider: bool) -> None:
    update = {"status": "needs_reauth", "statusReason": error, "lastError": error, "refreshDueAt": None, "updatedAt": utcnow()}
    outcome, first, degraded = _set_failure(
        firestore_client().transaction(), uid, spec.service, owner, current, update, from_provider
    )
    if outcome == IN_DOUBT:
        fields = {"uid": uid, "service": spec.service, "error": error, "metric": "token_refresh_in_doubt"}
        log.warning("refresh token may have been spent by a stalled refresh; not marking re-auth yet", extra={"fields": fields})
        raise Unavailable(
            "A stalled refresh may still store this connection's token; retry later",
            code="refresh_in_doubt",
            retry_after=get_settings().token_lease_seconds,
        )
    if outcome == REFUSED:
        raise _conflict()
    fields = {"uid": uid, "service": spec.service, "error": error, "metric": "token_refresh_failed"}
    log.warning("connection needs re-auth", extra={"fields": fields})
    track("integration_token_refresh_failed", uid=uid, provider=spec.service, status="needs_reauth", error_code=error)
    if first:
        publish_connection_event(
            "refresh_failed", uid, spec.service, current.get("account"), tags=current.get("tags"), error=error, needsReauth=True
        )
        audit.record("needs_reauth", uid, service=spec.service, reason=error)
    if degraded:
        connection_health.announce_degraded(uid, spec.service, current, error)
    raise ReauthRequired()


def _record_cooldown(uid: str, spec: ProviderSpec, current: dict, owner: str, error: TokenResponseError) -> str:
    settings, now = get_settings(), utcnow()
    pause = max(settings.token_refresh_cooldown_seconds, error.retry_after or 0)
    update = {"lastError": error.error, "cooldownUntil": now + datetime.timedelta(seconds=pause), "updatedAt": now}
    outcome, first, degraded = _set_failure(firestore_client().transaction(), uid, spec.service, owner, current, update, False)
    if outcome == REFUSED:
        raise _conflict()
    track("integration_token_refresh_failed", uid=uid, provider=spec.service, status="cooldown", error_code=error.error)
    fields = {"uid": uid, "service": spec.service, "error": error.error, "cooldownSeconds": pause}
    log.warning("token refresh failed; cooling down", extra={"fields": {**fields, "metric": "token_refresh_failed"}})
    if first:
        publish_connection_event(
            "refresh_failed",
            uid,
            spec.service,
            current.get("account"),
            tags=current.get("tags"),
            error=error.error,
            needsReauth=False,
        )
    if degraded:
        connection_health.announce_degraded(uid, spec.service, current, error.error)
    raise Unavailable("The provider did not refresh the token; retry later", code="refresh_failed", retry_after=pause)
