"""The per-user OAuth connection flow after `start` (common/connect/oauth_start.py): the callback, and
disconnect.

A flow that started before its user was erased connects nothing afterwards: the connection, its
audit entry and its watch are written only if the erasure fence lets work started with the state
(common/stores/erasures.py); otherwise the tokens it was issued are revoked (they are stored nowhere)
and the browser lands on the failure URL with `user_erased`.
"""

import datetime
import re
import time
import urllib.parse

from common.connect.browser import BrowserStep
from common.connect.oauth_start import cookie_name, state_binding
from common.oauth.oauth_client import exchange_code, identify_account, revoke
from common.oauth.oauth_protocol import (
    TokenResponseError,
    holds_scopes_of,
    missing_scopes,
    state_key,
)
from common.oauth.refresh_policy import refresh_due_at
from common.platform.errors import CryptoError
from common.platform.logs import get_logger
from common.platform.settings import get_settings
from common.platform.timeutil import ms_since, utcnow
from common.product import audit
from common.product.analytics import track
from common.product.events import publish_connection_event
from common.providers import family_of, provider, redirect_uri, services
from common.stores import connections
from common.stores.erasures import UserErased
from common.stores.oauth_states import StateRejected, consume_state
from common.sync import watches
from common.tokens.crypto import get_cipher
from common.tokens.token_fields import token_field, verifier_field

ISSUED_TOKEN = re.compile(r"[A-Za-z0-9_-]{1,256}")  # a state or state cookie as start issues them
log = get_logger(__name__)


def _with_query(url: str, **params: str) -> str:
    parts = urllib.parse.urlsplit(url)
    query = urllib.parse.urlencode([*urllib.parse.parse_qsl(parts.query), *params.items()])
    return urllib.parse.urlunsplit(parts._replace(query=query))


def _fail(service: str, reason: str, record: dict | None = None, cookie: str | None = None) -> BrowserStep:
    uid = (record or {}).get("uid")
    track("integration_oauth_error", uid=uid, provider=service, status="failed", error_code=reason)
    track("integration_connection_failed", uid=uid, provider=service, status="failed", error_code=reason)
    log.info(
        "oauth connection failed", extra={"fields": {"service": service, "reason": reason, "uid": (record or {}).get("uid")}}
    )
    base = (record or {}).get("returnTo") or get_settings().oauth_failure_url
    return BrowserStep(_with_query(base, service=service, reason=reason), cookie, None, f"/api/v1/oauth/{service}/")


def callback(service: str, args, cookies) -> BrowserStep:
    """Finish the flow; every outcome, even an unexpected error, is a redirect to the app."""
    spec = provider(service)
    try:
        return _complete(spec, args, cookies)
    except Exception:
        log.exception("oauth callback failed", extra={"fields": {"service": service}})
        return _fail(service, "server_error")


def state_and_cookie(args) -> tuple[str, str]:
    """The callback's state, checked for shape before anything is looked up: its storage key and
    the name of its cookie. States are issued as base64url text (new_state), so anything else,
    an absent state included, is invalid_state."""
    state = args.get("state", "")
    if not isinstance(state, str) or not ISSUED_TOKEN.fullmatch(state):
        raise StateRejected("invalid_state")
    key = state_key(state)
    return key, cookie_name(key)


def cookie_binding(cookies, name: str) -> str:
    """The hash of the state cookie's value, to compare with the one stored with the state. The value
    was issued as base64url text too (start), so an absent or different one is invalid_state."""
    value = cookies.get(name, "")
    if not isinstance(value, str) or not ISSUED_TOKEN.fullmatch(value):
        raise StateRejected("invalid_state")
    return state_binding(value)


def _complete(spec, args, cookies) -> BrowserStep:
    service = spec.service
    try:
        key, cookie = state_and_cookie(args)
    except StateRejected as rejected:
        return _fail(service, rejected.reason)
    try:
        record = consume_state(key, cookie_binding(cookies, cookie))
    except StateRejected as rejected:
        return _fail(service, rejected.reason, cookie=cookie)
    track("integration_oauth_callback_received", uid=record["uid"], provider=service)
    if record["service"] != service:
        return _fail(service, "invalid_state", record, cookie)
    if args.get("error"):
        return _fail(service, "access_denied" if args["error"] == "access_denied" else "provider_error", record, cookie)
    if not args.get("code"):
        return _fail(service, "invalid_request", record, cookie)
    if spec.pkce and not record.get("codeVerifier"):
        return _fail(service, "invalid_state", record, cookie)  # started before this service used PKCE
    uid = record["uid"]
    track("integration_connection_authorized", uid=uid, provider=service)
    exchange_started = time.perf_counter()
    try:
        verifier = get_cipher().decrypt(record["codeVerifier"], uid, verifier_field(key)) if record.get("codeVerifier") else None
        tokens = exchange_code(spec, args["code"], redirect_uri(service), verifier)
        track(
            "integration_oauth_token_exchange",
            uid=uid,
            provider=service,
            status="success",
            duration_ms=ms_since(exchange_started),
        )
        asked = tuple(record["scopes"])
        granted = asked if tokens.scopes is None else tokens.scopes
        if missing_scopes(tuple(s for s in asked if s not in spec.unreturned_scopes), granted):
            return _fail(service, "insufficient_scope", record, cookie)
        account_key, account = identify_account(spec, tokens)
    except (TokenResponseError, CryptoError) as error:
        log.warning("oauth exchange failed", extra={"fields": {"service": service, "uid": uid, "error": str(error)}})
        track(
            "integration_oauth_token_exchange",
            uid=uid,
            provider=service,
            status="failed",
            duration_ms=ms_since(exchange_started),
            error_code=getattr(error, "error", None) or error.code,
        )
        return _fail(service, "exchange_failed", record, cookie)
    started = record["createTime"]
    try:
        connection_id, previous, tags = _save(
            spec, uid, connection_record(spec, uid, tokens, granted, account_key, account), started
        )
        publish_connection_event("connected", uid, connection_id, account, tags=tags)
        watches.start(uid, connection_id, started, tokens.access_token)
    except connections.AccountInUse:
        return _fail(service, "account_in_use", record, cookie)
    except connections.TooManyConnections:
        _revoke_issued(spec, tokens)  # stored nowhere: not left live at the provider
        return _fail(service, "too_many_connections", record, cookie)
    except UserErased:
        _revoke_issued(spec, tokens)
        return _fail(service, "user_erased", record, cookie)
    if previous and previous.get("status") == "needs_reauth":
        publish_connection_event("recovered", uid, connection_id, account, tags=tags)
    elapsed = (utcnow() - record["createdAt"]).total_seconds() * 1000
    track("integration_connection_completed", uid=uid, provider=service, status="success", duration_ms=round(elapsed, 1))
    target = record.get("returnTo") or get_settings().oauth_success_url
    return BrowserStep(
        _with_query(target, service=service, connectionId=connection_id), cookie, None, f"/api/v1/oauth/{service}/"
    )


def _save(spec, uid: str, new: dict, started) -> tuple[str, dict | None, dict]:
    """Store the connection with its audit entry in one transaction (which also refuses an account
    in use and a user erased since `started`); returns its id, the record of the same account it
    updated, and its tags. Another account of the service is a connection of its own."""

    def audited(transaction, connection_id: str):
        audit.record_in(transaction, "connect", uid, service=spec.service, connectionId=connection_id)

    return connections.save_connection(uid, spec.service, new, started, also=audited)


def connection_record(spec, uid, tokens, granted, account_key, account) -> dict:
    """A new connection document: tokens encrypted, refresh bookkeeping set."""
    cipher, now, service = get_cipher(), utcnow(), spec.service
    expires_at = now + datetime.timedelta(seconds=tokens.expires_in) if tokens.expires_in else None
    return {
        "uid": uid,
        "service": service,
        "status": "active",
        "account": account,
        "accountKey": account_key,
        "scopes": list(granted),
        "accessToken": cipher.encrypt(tokens.access_token, uid, token_field(service, "access_token")),
        "refreshToken": cipher.encrypt(tokens.refresh_token, uid, token_field(service, "refresh_token"))
        if tokens.refresh_token
        else None,
        "tokenVersion": connections.new_token_version(),
        "tokenLifetimeSeconds": tokens.expires_in,
        "expiresAt": expires_at,
        "refreshDueAt": refresh_due_at(spec.family, expires_at, now, bool(tokens.refresh_token), get_settings()),
        "refreshedAt": now,
        "connectedAt": now,
        "updatedAt": now,
        "consecutiveFailures": 0,
    }


def disconnect(uid: str, service: str, connection_id: str | None = None) -> dict:
    """Stop the watch while the token still works, delete locally (always succeeds), then revoke at
    the provider (best effort, logged) and remove what was synced. Idempotent. `connection_id`
    names one of several connections of the service (409 connection_id_required without it)."""
    spec = provider(service)
    found = connections.find_connection(uid, service, connection_id)
    record, revoked = None, None
    if found is not None:
        watches.stop(uid, found["connectionId"])
        record = connections.delete_connection(uid, found["connectionId"])
        watches.forget(uid, found["connectionId"])
    if record is not None:
        revoked = _revoke_unless_shared(uid, spec, record)
        publish_connection_event("disconnected", uid, record["connectionId"], record.get("account"), tags=record.get("tags"))
        audit.record("disconnect", uid, service=service, connectionId=record["connectionId"], revoked=revoked)
    # What was synced goes with its connection. Not named and nothing connected: leftovers of the
    # service-named connection, as before connection ids. Named but not there (gone, or another
    # service's id): nothing, so a wrong id never touches a live connection's data.
    synced_by = found["connectionId"] if found is not None else service if connection_id is None else None
    removed = _remove_synced(uid, spec, synced_by) if synced_by else {}
    return {
        "service": service,
        "connectionId": found["connectionId"] if found is not None else None,
        "connected": False,
        "wasConnected": record is not None,
        "revoked": revoked,
        "revokeNote": spec.revoke_note,
        "removed": removed,
    }


def _remove_synced(uid: str, spec, connection_id: str) -> dict:
    return {name: connections.delete_synced(uid, name, connection_id) for name in spec.synced_collections}


def _revoke_unless_shared(uid: str, spec, record: dict) -> bool | None:
    """Revoke the connection's grant, unless another service's connection on the same provider account
    still uses it and holds none of this service's scopes (then no kept token reaches this service).
    Revoking one Google token ends the account's whole grant to the client, so the connections that
    shared it are made `needs_reauth` (reason `grant_revoked`): connecting again grants their scopes alone."""
    if spec.revoke_url is None:
        return None  # nothing to revoke at this provider: disconnect deleted the tokens (spec.revoke_note)
    sharing = _sharing(spec, record)
    if sharing and not any(holds_scopes_of(o.get("scopes", []), provider(o["service"]).scopes, spec.scopes) for o in sharing):
        log.info("provider grant kept: another service uses it", extra={"fields": {"uid": uid, "service": spec.service}})
        return None
    revoked = _revoke_stored(uid, spec, record)
    for other in sharing:
        _grant_ended(other)
    return revoked


def _sharing(spec, record: dict) -> list[dict]:
    """The connections (any user's) of this family's other services on the same provider account: Gmail
    and Calendar share one Google client, so their tokens are of one grant."""
    found = []
    for service in services():
        if service == spec.service or family_of(service) != spec.family:
            continue
        owner = connections.find_account_owner(service, record["accountKey"])
        other = connections.get_connection(*owner) if owner else None
        if other is not None and other.get("accountKey") == record["accountKey"]:
            found.append(other)
    return found


def _grant_ended(record: dict) -> None:
    uid, service, reason = record["uid"], record["service"], "grant_revoked"
    if not connections.mark_needs_reauth(uid, record["connectionId"], record["accountKey"], reason, utcnow()):
        return
    log.warning("connection needs re-auth: its grant was revoked", extra={"fields": {"uid": uid, "service": service}})
    publish_connection_event(
        "needs_reauth", uid, record["connectionId"], record.get("account"), tags=record.get("tags"), reason=reason
    )
    audit.record("needs_reauth", uid, service=service, connectionId=record["connectionId"], reason=reason)


def _revoke_issued(spec, tokens) -> bool | None:
    """Revoke what the provider issued to a flow that cannot keep it (best effort, logged)."""
    if spec.revoke_url is None:
        return None
    by_refresh = spec.revoke_kind == "refresh_token" and tokens.refresh_token
    return revoke(spec, tokens.refresh_token if by_refresh else tokens.access_token)


def _revoke_stored(uid: str, spec, record: dict) -> bool:
    kind = spec.revoke_kind if record.get("refreshToken") else "access_token"
    ciphertext = record["refreshToken"] if kind == "refresh_token" else record["accessToken"]
    try:
        token = get_cipher().decrypt(ciphertext, uid, token_field(spec.service, kind))
    except CryptoError:
        log.error("stored token unreadable; not revoked", extra={"fields": {"uid": uid, "service": spec.service}})
        return False
    return revoke(spec, token)
