"""A refresh under the lease. One instance refreshes while the others wait and pick up its result,
so a single-use refresh token is never spent twice. The reply is stored in one write (a rotated
refresh token with its access token) before anything else happens, onto the tokens it started from
(same `tokenVersion`, which re-encryption leaves alone), whether or not its lease has lapsed since:
the provider has already rotated, so that reply holds the only live refresh token. Failures are
written by refresh_failures.py, what is said about either by refresh_events.py."""

import datetime
import random
import secrets
import time

from google.api_core import exceptions as google_errors
from google.cloud import firestore

from common.oauth.oauth_client import refresh_grant
from common.oauth.oauth_protocol import TokenResponseError
from common.oauth.refresh_policy import backoff_delay, needs_user, refresh_due_at
from common.platform.clients import firestore_client
from common.platform.errors import Unavailable
from common.platform.settings import get_settings
from common.platform.timeutil import utcnow
from common.providers import ProviderSpec, provider
from common.stores import connections, leases
from common.stores.connections import NotConnected
from common.tokens import refresh_events
from common.tokens.crypto import get_cipher
from common.tokens.refresh_failures import conflict, mark_reauth, record_cooldown
from common.tokens.stored import decrypt, load, load_with_time
from common.tokens.token_fields import token_field


def refresh(uid: str, spec: ProviderSpec, seen: dict, *, still_needed) -> tuple[str, bool]:
    """Refresh under the lease, or wait for the instance that holds it: (access token, whether this
    call refreshed). `still_needed(current)` is asked before and after taking the lease: False means
    another instance refreshed meanwhile, and its token is used."""
    settings = get_settings()
    owner, deadline, attempt = secrets.token_hex(8), time.monotonic() + settings.token_wait_seconds, 0
    current, connection_id = seen, seen["connectionId"]  # the caller has just read it
    while True:
        if not still_needed(current):
            return decrypt(uid, current, "access_token"), False
        _respect_cooldown(current)
        asked = time.monotonic()
        taken_at = leases.try_take(uid, connection_id, owner, settings.token_lease_seconds)
        if taken_at is not None:
            break
        if time.monotonic() > deadline:
            raise Unavailable("A refresh of this connection is in progress", code="refresh_in_progress", retry_after=1)
        time.sleep(min(0.05 * 2**attempt, 0.5) * random.uniform(0.5, 1.0))
        attempt += 1
        current = load(uid, connection_id)
    lease = Lease(uid, connection_id, owner, taken_at, asked)
    try:
        # Re-read under the lease: another holder may have finished.
        current, lease.read_at = load_with_time(uid, connection_id)
        if not still_needed(current):
            return decrypt(uid, current, "access_token"), False
        return _refresh_with_provider(uid, spec, current, lease), True
    finally:
        lease.give_back()


def refresh_leased(uid: str, lease: "Lease", snapshot, *, still_needed) -> bool:
    """refresh() from the re-read on, for a lease taken beforehand (the refresh job takes a wave's
    leases together) and the connection as read after it: whether it refreshed. False when the
    connection is gone, `still_needed` says no (another instance refreshed it meanwhile), or too
    little of the lease is left for a provider call: a lease that lapses before its call lets
    another refresher spend the same refresh token (that connection stays due for the next run)."""
    try:
        current = connections.record_of(snapshot)
        if current is None or not still_needed(current):
            return False
        if lease.seconds_left() < call_seconds():
            return False
        lease.read_at = snapshot.update_time
        _refresh_with_provider(uid, provider(connections.service_of(lease.connection_id)), current, lease)
        return True
    finally:
        lease.give_back()


LEASE_MARGIN_SECONDS = 2  # the reply's write after the call, and clocks that differ between instances


def call_seconds() -> float:
    """How much of a lease one provider call may need: its connect and read timeouts, and the margin."""
    return 2 * get_settings().provider_timeout_seconds + LEASE_MARGIN_SECONDS


class Lease:
    """The refresh lease a call holds: whose connection, its owner id and write time, when it was
    asked for (monotonic: its expiry was set then), when the connection was read under it, and
    whether the reply's write gave it back (in the same commit)."""

    def __init__(self, uid: str, connection_id: str, owner: str, taken_at, asked: float):
        self.uid, self.connection_id, self.owner, self.taken_at, self.asked = uid, connection_id, owner, taken_at, asked
        self.read_at, self.released = None, False

    def seconds_left(self) -> float:
        return get_settings().token_lease_seconds - (time.monotonic() - self.asked)

    def give_back(self) -> None:
        if not self.released:
            leases.release(self.uid, self.connection_id, self.taken_at)


def _respect_cooldown(record: dict) -> None:
    cooldown = record.get("cooldownUntil")
    now = utcnow()
    if cooldown and cooldown > now:
        raise Unavailable(
            "The provider is failing; retry later", code="refresh_cooldown", retry_after=(cooldown - now).total_seconds()
        )


def _refresh_with_provider(uid: str, spec: ProviderSpec, current: dict, lease: Lease) -> str:
    settings, owner = get_settings(), lease.owner
    if not current.get("refreshToken"):
        mark_reauth(uid, spec, current, owner, "no_refresh_token", from_provider=False)
    refresh_token = decrypt(uid, current, "refresh_token")
    refresh_events.attempted(uid, spec.service)
    error = None
    for attempt in range(settings.token_refresh_attempts):
        try:
            return _store_refreshed(uid, spec, current, refresh_grant(spec, refresh_token), lease)
        except TokenResponseError as failure:
            error = failure
            if needs_user(failure.error):
                mark_reauth(uid, spec, current, owner, failure.error, from_provider=True)
            if not failure.retryable or attempt + 1 == settings.token_refresh_attempts:
                break
            delay = backoff_delay(attempt, failure.retry_after)
            if delay + call_seconds() > lease.seconds_left():
                break  # the lease could lapse mid-call and let a second refresher in
            time.sleep(delay)
    return record_cooldown(uid, spec, current, owner, error)


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
    replaced = _write_onto_read(uid, current["connectionId"], current, update, lease)
    if replaced is None:
        replaced = _write_if_unchanged(
            firestore_client().transaction(), connections.connection_ref(uid, current["connectionId"]), current, update
        )
    if replaced is None:
        raise NotConnected()
    if replaced is False:
        raise conflict()
    refresh_events.refreshed(uid, spec.service, current, replaced, rotated=bool(tokens.refresh_token))
    return tokens.access_token


def _write_onto_read(uid: str, connection_id: str, current: dict, update: dict, lease: Lease) -> dict | None:
    """The common case in one commit: the update, preconditioned on the connection being exactly as
    read under the lease, and the lease given back. None when either changed meanwhile (a health
    counter, re-encryption, a takeover): then the transaction below compares the tokens themselves."""
    batch = firestore_client().batch()
    batch.update(
        connections.connection_ref(uid, connection_id),
        update,
        option=firestore_client().write_option(last_update_time=lease.read_at),
    )
    leases.release_in(batch, uid, connection_id, lease.taken_at)
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
