"""The token manager's read path: every provider call gets its access token here. A fresh stored
token costs one Firestore read (none when the caller passes the record it has just read) and one
decryption; one near expiry is refreshed first (refresher.py), and one the provider refuses gets
one forced refresh and one retry."""

import dataclasses
import datetime

from common.oauth.refresh_policy import needs_refresh, refresh_margin
from common.platform.errors import Unavailable
from common.platform.settings import get_settings
from common.platform.timeutil import utcnow
from common.providers import provider
from common.stores import connections
from common.tokens.refresher import refresh
from common.tokens.stored import decrypt, load, usable


def get_access_token(uid: str, connection_id: str) -> str:
    """A valid access token for the user's connection, refreshed first when it is about to expire.
    A connection id: a service's own name for the user's (first) connection of it (common/stores/connections.py)."""
    return _token_and_record(uid, connection_id)[0]


def get_credentials(uid: str, connection_id: str, read: dict | None = None) -> tuple[str, datetime.datetime | None]:
    """A valid access token and when it expires, as one pair: one read (none when the caller passes
    the connection as it has just `read` it) while the stored token is fresh; refreshed first when
    due, then read back with its new expiry."""
    token, record, source = _token_and_record(uid, connection_id, read)
    if source != REFRESHED:
        return token, record.get("expiresAt")
    current = load(uid, connection_id)
    return decrypt(uid, current, "access_token"), current.get("expiresAt")


# Where _token_and_record's token came from: the record as read, a refresh, or the record as read
# after a refresh was due and failed (or is cooling down): the record no longer says what is stored.
STORED, REFRESHED, KEPT_AFTER_FAILED_REFRESH = "stored", "refreshed", "kept after a failed refresh"


def _token_and_record(uid: str, connection_id: str, read: dict | None = None) -> tuple[str, dict, str]:
    """The access token, the connection record it was read with (before any refresh: `read` when
    the caller has just read it, else one get), and where the token came from (STORED, ...)."""
    spec = provider(connections.service_of(connection_id))
    record = usable(read) if read is not None else load(uid, connection_id)
    margin = refresh_margin(spec.family, get_settings(), record.get("tokenLifetimeSeconds"))
    expiring = lambda current: needs_refresh(current.get("expiresAt"), margin, utcnow())  # noqa: E731
    if not expiring(record):
        return decrypt(uid, record, "access_token"), record, STORED
    try:
        return refresh(uid, spec, record, still_needed=expiring)[0], record, REFRESHED
    except Unavailable:
        # The refresh failed or is cooling down, but the token has not expired yet: use it rather
        # than fail the caller (a 401 still gets call_with_token's forced refresh).
        if not (record.get("expiresAt") and record["expiresAt"] > utcnow()):
            raise
        return decrypt(uid, record, "access_token"), record, KEPT_AFTER_FAILED_REFRESH


def _unauthorized(response) -> bool:
    return response.status_code == 401


@dataclasses.dataclass(frozen=True)
class TokenCall:
    """A provider call made with a connection's token."""

    response: object
    record: dict = dataclasses.field(repr=False)  # the connection as read before the call (its health, for the caller)
    # No refresh was due or made: `record` is still what is stored, for the caller's next call. After a
    # failed refresh it is not (the stored failures and cooldown are newer), so it is read again.
    token_kept: bool = False


def call_with_token(uid: str, connection_id: str, call, rejected=_unauthorized, read: dict | None = None) -> TokenCall:
    """Run call(access_token) -> response; a response the provider `rejected` the token with (a 401,
    or what the caller says: Slack's HTTP 200 invalid_auth) gets one forced refresh and one retry."""
    token, record, source = _token_and_record(uid, connection_id, read)
    response = call(token)
    if not rejected(response):
        return TokenCall(response, record, token_kept=source == STORED)
    refused = load(uid, connection_id)
    token, _ = refresh(
        uid, provider(refused["service"]), refused, still_needed=lambda current: connections.same_tokens(current, refused)
    )
    return TokenCall(call(token), record, token_kept=False)


def due_now(current: dict) -> bool:
    """The scheduled job's test: the connection's refresh time has come (and nobody did it since)."""
    due = current.get("refreshDueAt")
    return due is not None and due <= utcnow()
