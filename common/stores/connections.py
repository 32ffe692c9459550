"""Connections and the account index.

`users/{uid}/connections/{connection id}`: one per connected provider account; tokens only as
ciphertext. A user's first connection of a service is named after the service (`gmail`), so every
connection made before several accounts existed keeps its id; a further account is
`{service}-{digest of its account key}` (connection_id_for). `service_of` reads the service back
from either. Whatever was stored before connections had ids (an index entry, a channel, a synced
document without `connectionId`) belongs to the connection named after its service.
`users/{uid}` lists the ids of the user's connections of each service (`connectionIds`), so a request
that names none finds the only one, or says there are several, with one batched get and no query;
a service missing from it has at most its service-named connection (all there was before).
`account_index/{service}:{account key}`: provider account -> uid and connection id, so webhooks
find their user and a reconnect of the same account finds its connection. Entries written before
several accounts lack `connectionId`: theirs is the service's name, and the migration
(common/stores/connection_migration.py) writes it in.
Both change in one transaction, which also refuses an account another user has connected, and a
connect whose flow started before the user was erased (the erasure fence, common/stores/erasures.py).
A connection's `tags` (the app backend's, common/access/connection_tags.py) outlive a reconnect of its
account: they describe the connection, not its tokens (another account's connection has its own).
`tokenVersion` is new with every change of a connection's tokens (connect, refresh) and with nothing
else (re-encryption rewrites the ciphertexts, not the tokens): writers compare it to know whether
the tokens they started from are still the stored ones."""

import hashlib
import re
import secrets
import urllib.parse

from google.cloud import firestore

from common.platform.clients import firestore_client
from common.platform.errors import BadRequest, Conflict, NotFound
from common.stores import erasures

USERS = "users"
CONNECTIONS = "connections"
ACCOUNT_INDEX = "account_index"
DELETE_BATCH = 400
HELD = "connectionIds"  # on users/{uid}: {service: [the ids of the user's connections of it]}, kept by save and delete
NAMED_FOR = "serviceNamedFor"  # on users/{uid}: {service: connection_id_for of the account the service's name is given to}
MAX_CONNECTIONS_PER_SERVICE = 10  # a user's accounts of one service: bounds the list and a user's fan-out
CONNECTION_ID = re.compile(r"[a-z][a-z0-9]{1,31}(-[0-9a-f]{12})?")  # a service's name, or connection_id_for's


class TooManyConnections(Conflict):
    code = "too_many_connections"
    default_message = f"A user may connect at most {MAX_CONNECTIONS_PER_SERVICE} accounts of one service"


class NotConnected(NotFound):
    code = "not_connected"
    default_message = "This service is not connected"


class AccountInUse(Conflict):
    code = "account_in_use"
    default_message = "This provider account is connected by another user"


def new_token_version() -> str:
    """A fresh `tokenVersion`: random, so a reconnect after a disconnect never repeats an old one."""
    return secrets.token_hex(8)


def same_tokens(stored: dict, seen: dict) -> bool:
    """The stored connection still holds the tokens `seen` was read with (same version, same account)."""
    return stored.get("tokenVersion") == seen.get("tokenVersion") and stored.get("accountKey") == seen.get("accountKey")


def service_of(connection_id: str) -> str:
    """The service a connection id is of (service names hold no "-": the catalogue's rule)."""
    return connection_id.partition("-")[0]


def connection_id_for(service: str, account_key: str) -> str:
    """The id of a further account's connection: stable for the account, so a reconnect finds it."""
    return f"{service}-{hashlib.sha256(account_key.encode()).hexdigest()[:12]}"


def connection_ref(uid: str, connection_id: str):
    return firestore_client().collection(USERS).document(uid).collection(CONNECTIONS).document(connection_id)


def account_ref(service: str, account_key: str):
    return firestore_client().collection(ACCOUNT_INDEX).document(f"{service}:{urllib.parse.quote(account_key, safe='')}")


def record_of(snapshot) -> dict | None:
    """A stored connection with its id (the document's name) as `connectionId`."""
    return {**snapshot.to_dict(), "connectionId": snapshot.id} if snapshot.exists else None


def get_connection(uid: str, connection_id: str) -> dict | None:
    return record_of(connection_ref(uid, connection_id).get())


def read_connection(uid: str, connection_id: str) -> tuple[dict | None, object]:
    """The connection and its update time (for a write that must land on exactly what was read)."""
    snapshot = connection_ref(uid, connection_id).get()
    return record_of(snapshot), snapshot.update_time


def checked_connection_id(value) -> str | None:
    """A caller's optional connectionId: None when not given, 400 when it is not one we issue (an
    empty one among them)."""
    if value is None:
        return None
    if not isinstance(value, str) or not CONNECTION_ID.fullmatch(value):
        raise BadRequest("connectionId is not a connection id this gateway issues", code="invalid_connection_id")
    return value


def user_ref(uid: str):
    return firestore_client().collection(USERS).document(uid)


def find_connection(uid: str, service: str, connection_id: str | None = None) -> dict | None:
    """The user's connection of `service` that `connection_id` names (one get), or without one the
    only one: the service-named connection and the user's list of connections, in one batched get
    (a second get only when the one left is a further account's). None when there is none; 409
    connection_id_required when there are several."""
    if connection_id is not None:
        record = get_connection(uid, connection_id)
        return record if record is not None and record.get("service") == service else None
    named, user = connection_ref(uid, service), user_ref(uid)
    read = {snapshot.reference.path: snapshot for snapshot in firestore_client().get_all([named, user])}
    held = _held_ids(_profile(read[user.path]), service)
    if held is None or held == [service]:
        return record_of(read[named.path])
    if len(held) > 1:
        raise Conflict("The user has several connections of this service: name one (connectionId)", code="connection_id_required")
    return get_connection(uid, held[0]) if held else None


def _profile(user) -> dict:
    """The user document's fields (none when it does not exist)."""
    return (user.to_dict() or {}) if user.exists else {}


def _held_ids(profile: dict, service: str) -> list[str] | None:
    """The ids of the user's connections of `service` as the user document lists them; None when it
    lists none for it (nothing connected since several accounts: at most the service-named one)."""
    held = profile.get(HELD, {})
    return list(held[service]) if service in held else None


def resolve(uid: str, service: str, connection_id: str | None) -> tuple[str, dict | None]:
    """The id of the connection a request means, and its record when finding it read it: with an
    id, nothing is read (the id names its service; the caller's read finds whether it exists);
    without, find_connection's batched get. NotConnected when the id is of another service or the user
    has no connection of it."""
    if connection_id is not None:
        if service_of(connection_id) != service:
            raise NotConnected()
        return connection_id, None
    found = find_connection(uid, service)
    if found is None:
        raise NotConnected()
    return found["connectionId"], found


def list_connections(uid: str) -> list[dict]:
    return [record_of(doc) for doc in firestore_client().collection(USERS).document(uid).collection(CONNECTIONS).stream()]


def indexed_connection_id(entry) -> str:
    """The connection id an account index entry names (an entry from before several accounts: the service's)."""
    return entry.get("connectionId") or entry.get("service")


def find_account_owner(service: str, account_key: str) -> tuple[str, str] | None:
    """(uid, connection id) of the connection of this provider account, if any user holds one."""
    snapshot = account_ref(service, account_key).get()
    return (snapshot.get("uid"), indexed_connection_id(snapshot.to_dict())) if snapshot.exists else None


def _target_id(service: str, account_key: str, owner, first, named_for: str | None) -> str:
    """Where this account's connection goes: where the index says it is (a reconnect), else the
    service's own name when that name is this account's (`named_for`: the account it was first given
    to, so an id never passes to another account), else connection_id_for. An index entry without an
    id whose service-named connection holds another account is not believed (it cannot be from
    before several accounts)."""
    own = connection_id_for(service, account_key)
    if owner.exists:
        indexed = indexed_connection_id(owner.to_dict())
        stale = indexed == service and first.exists and first.get("accountKey") != account_key
        if not stale:
            return indexed
    return service if named_for in (None, own) else own


@firestore.transactional
def _save(transaction, uid: str, service: str, record: dict, since, also) -> tuple[str, dict | None, dict]:
    index, named, user = account_ref(service, record["accountKey"]), connection_ref(uid, service), user_ref(uid)
    read = erasures.check(transaction, uid, since, [index, named, user])
    owner, first = read[index.path], read[named.path]
    if owner.exists and owner.get("uid") != uid:
        raise AccountInUse()
    profile = _profile(read[user.path])
    named_for = profile.get(NAMED_FOR, {}).get(service) or (
        connection_id_for(service, first.get("accountKey")) if first.exists else None
    )
    connection_id = _target_id(service, record["accountKey"], owner, first, named_for)
    held = _held_ids(profile, service) or ([service] if first.exists else [])
    if connection_id not in held and len(held) >= MAX_CONNECTIONS_PER_SERVICE:
        raise TooManyConnections()
    ref = connection_ref(uid, connection_id)
    previous = first if connection_id == service else ref.get(transaction=transaction)
    previous = previous.to_dict() if previous.exists else None
    tags = (previous or {}).get("tags", {})
    if tags:
        record = {**record, "tags": tags}
    if also is not None:
        also(transaction, connection_id)
    if record.get("refreshToken") is None and previous:
        record = {**record, "refreshToken": previous.get("refreshToken")}  # Google sends none on re-consent
    transaction.set(ref, record)
    profile_update = {HELD: {service: sorted({*held, connection_id})}}
    if connection_id == service:
        profile_update[NAMED_FOR] = {service: connection_id_for(service, record["accountKey"])}
    transaction.set(user, profile_update, merge=True)
    entry = {"uid": uid, "service": service, "connectionId": connection_id, "account": record["account"]}
    transaction.set(index, {**entry, "updatedAt": record["updatedAt"]})
    return connection_id, previous, tags


def save_connection(uid: str, service: str, record: dict, since, *, also=None) -> tuple[str, dict | None, dict]:
    """Store the connection and its index entry, for a flow that started at `since`, and run
    also(transaction) in the same transaction (the audit entry); returns the connection's id, the
    record of the same account it updated, if any, and the tags it kept. A reconnect of an account
    updates its connection; another account gets a connection of its own. AccountInUse, or
    UserErased when the user was erased since."""
    return _save(firestore_client().transaction(), uid, service, record, since, also)


@firestore.transactional
def _delete(transaction, uid: str, connection_id: str) -> dict | None:
    ref = connection_ref(uid, connection_id)
    snapshot = ref.get(transaction=transaction)
    if not snapshot.exists:
        return None
    record, user = record_of(snapshot), user_ref(uid)
    index = account_ref(record["service"], record["accountKey"])
    read = {s.reference.path: s for s in transaction.get_all([index, user])}
    owner = read[index.path]
    if owner.exists and owner.get("uid") == uid:
        transaction.delete(index)
    transaction.delete(ref)
    held = _held_ids(_profile(read[user.path]), record["service"])
    if held is not None:
        transaction.set(user, {HELD: {record["service"]: [c for c in held if c != connection_id]}}, merge=True)
    return record


def delete_connection(uid: str, connection_id: str) -> dict | None:
    """Remove the connection and its index entry; returns what was removed (None if nothing)."""
    return _delete(firestore_client().transaction(), uid, connection_id)


@firestore.transactional
def _mark_needs_reauth(transaction, uid: str, connection_id: str, account_key: str, update: dict) -> bool:
    ref = connection_ref(uid, connection_id)
    snapshot = ref.get(transaction=transaction)
    if not snapshot.exists or snapshot.get("accountKey") != account_key:
        return False
    transaction.update(ref, update)
    return True


def mark_needs_reauth(uid: str, connection_id: str, account_key: str, reason: str, now) -> bool:
    """Make the connection `needs_reauth` with a reason, if it is still of that account (a reconnect
    in between keeps its new connection); False when it was not."""
    update = {"status": "needs_reauth", "statusReason": reason, "refreshDueAt": None, "updatedAt": now}
    return _mark_needs_reauth(firestore_client().transaction(), uid, connection_id, account_key, update)


def synced_ref(uid: str, collection: str, connection_id: str, item_id: str):
    """Where a connection's synced item is stored: by the provider's id for the connection named
    after its service (as before connections had ids), `{connection id}:{item id}` for a further
    account's (two calendars hold the same meeting under one event id)."""
    name = item_id if connection_id == service_of(connection_id) else f"{connection_id}:{item_id}"
    return firestore_client().collection(USERS).document(uid).collection(collection).document(name)


def delete_synced(uid: str, collection: str, connection_id: str) -> int:
    """Delete the connection's documents of users/{uid}/{collection} (one without `connectionId` is
    the service-named connection's), in batches; returns how many. Reads the user's whole collection,
    as deleting it did when a user had one connection of a service."""
    documents = firestore_client().collection(USERS).document(uid).collection(collection)
    query, deleted, last = documents.select(["connectionId"]).order_by("__name__").limit(DELETE_BATCH), 0, None
    default = service_of(connection_id)
    while page := list((query.start_after(last) if last else query).stream()):
        last = page[-1]
        doomed = [doc.reference for doc in page if (doc.to_dict() or {}).get("connectionId", default) == connection_id]
        if doomed:
            batch = firestore_client().batch()
            for ref in doomed:
                batch.delete(ref)
            batch.commit()
        deleted += len(doomed)
    return deleted
