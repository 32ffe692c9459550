"""Connections and the account index.

`users/{uid}/connections/{service}`: one per connected service; tokens only as ciphertext.
`account_index/{service}:{account key}`: provider account -> uid, so webhooks find their user.
Both change in one transaction, which also refuses an account another user has connected, and a
connect whose flow started before the user was erased (the erasure fence, common/stores/erasures.py).
A connection's `tags` (the app backend's, common/access/connection_tags.py) outlive a reconnect, of the
same account or another: they describe the user's connection to the service, not its tokens.
`tokenVersion` is new with every change of a connection's tokens (connect, refresh) and with nothing
else (re-encryption rewrites the ciphertexts, not the tokens): writers compare it to know whether
the tokens they started from are still the stored ones."""

import secrets
import urllib.parse

from google.cloud import firestore

from common.platform.clients import firestore_client
from common.platform.errors import Conflict, NotFound
from common.stores import erasures

USERS = "users"
CONNECTIONS = "connections"
ACCOUNT_INDEX = "account_index"
DELETE_BATCH = 400


class NotConnected(NotFound):
    code = "not_connected"
    default_message = "This service is not connected"


class AccountInUse(Conflict):
    code = "account_in_use"
    default_message = "This provider account is connected by another user"


class ReplacesAnotherAccount(Exception):
    """The user's connection of this service is of another provider account: the caller retires it
    (watch, grant, synced data) before saving again with replace=True."""

    def __init__(self, previous: dict):
        super().__init__("the connection is of another account")
        self.previous = previous


def new_token_version() -> str:
    """A fresh `tokenVersion`: random, so a reconnect after a disconnect never repeats an old one."""
    return secrets.token_hex(8)


def same_tokens(stored: dict, seen: dict) -> bool:
    """The stored connection still holds the tokens `seen` was read with (same version, same account)."""
    return stored.get("tokenVersion") == seen.get("tokenVersion") and stored.get("accountKey") == seen.get("accountKey")


def connection_ref(uid: str, service: str):
    return firestore_client().collection(USERS).document(uid).collection(CONNECTIONS).document(service)


def account_ref(service: str, account_key: str):
    return firestore_client().collection(ACCOUNT_INDEX).document(f"{service}:{urllib.parse.quote(account_key, safe='')}")


def get_connection(uid: str, service: str) -> dict | None:
    snapshot = connection_ref(uid, service).get()
    return snapshot.to_dict() if snapshot.exists else None


def read_connection(uid: str, service: str) -> tuple[dict | None, object]:
    """The connection and its update time (for a write that must land on exactly what was read)."""
    snapshot = connection_ref(uid, service).get()
    return (snapshot.to_dict() if snapshot.exists else None), snapshot.update_time


def list_connections(uid: str) -> list[dict]:
    return [doc.to_dict() for doc in firestore_client().collection(USERS).document(uid).collection(CONNECTIONS).stream()]


def find_account_owner(service: str, account_key: str) -> str | None:
    snapshot = account_ref(service, account_key).get()
    return snapshot.get("uid") if snapshot.exists else None


@firestore.transactional
def _save(transaction, uid: str, service: str, record: dict, since, replace: bool, also) -> tuple[dict | None, dict]:
    index, ref = account_ref(service, record["accountKey"]), connection_ref(uid, service)
    read = erasures.check(transaction, uid, since, [index, ref])
    owner, previous = read[index.path], read[ref.path]
    if owner.exists and owner.get("uid") != uid:
        raise AccountInUse()
    previous = previous.to_dict() if previous.exists else None
    tags = (previous or {}).get("tags", {})
    if tags:
        record = {**record, "tags": tags}
    if previous and previous.get("accountKey") != record["accountKey"]:
        if not replace:
            raise ReplacesAnotherAccount(previous)
        transaction.delete(account_ref(service, previous["accountKey"]))
        previous = None  # another account: nothing of the old one carries over but its tags
    if also is not None:
        also(transaction)
    if record.get("refreshToken") is None and previous:
        record = {**record, "refreshToken": previous.get("refreshToken")}  # Google sends none on re-consent
    transaction.set(ref, record)
    transaction.set(index, {"uid": uid, "service": service, "account": record["account"], "updatedAt": record["updatedAt"]})
    return previous, tags


def save_connection(uid: str, service: str, record: dict, since, *, replace: bool = False, also=None) -> tuple[dict | None, dict]:
    """Store the connection and its index entry, for a flow that started at `since`, and run
    also(transaction) in the same transaction (the audit entry); returns the record of the same
    account it replaced, if any, and the tags it kept. AccountInUse, UserErased when the user was
    erased since, or ReplacesAnotherAccount unless `replace`."""
    return _save(firestore_client().transaction(), uid, service, record, since, replace, also)


@firestore.transactional
def _delete(transaction, uid: str, service: str) -> dict | None:
    ref = connection_ref(uid, service)
    snapshot = ref.get(transaction=transaction)
    if not snapshot.exists:
        return None
    record = snapshot.to_dict()
    index = account_ref(service, record["accountKey"])
    owner = index.get(transaction=transaction)
    if owner.exists and owner.get("uid") == uid:
        transaction.delete(index)
    transaction.delete(ref)
    return record


def delete_connection(uid: str, service: str) -> dict | None:
    """Remove the connection and its index entry; returns what was removed (None if nothing)."""
    return _delete(firestore_client().transaction(), uid, service)


@firestore.transactional
def _mark_needs_reauth(transaction, uid: str, service: str, account_key: str, update: dict) -> bool:
    ref = connection_ref(uid, service)
    snapshot = ref.get(transaction=transaction)
    if not snapshot.exists or snapshot.get("accountKey") != account_key:
        return False
    transaction.update(ref, update)
    return True


def mark_needs_reauth(uid: str, service: str, account_key: str, reason: str, now) -> bool:
    """Make the connection `needs_reauth` with a reason, if it is still of that account (a reconnect
    in between keeps its new connection); False when it was not."""
    update = {"status": "needs_reauth", "statusReason": reason, "refreshDueAt": None, "updatedAt": now}
    return _mark_needs_reauth(firestore_client().transaction(), uid, service, account_key, update)


def delete_user_collection(uid: str, collection: str) -> int:
    """Delete every document of users/{uid}/{collection}, in batches; returns how many."""
    documents = firestore_client().collection(USERS).document(uid).collection(collection)
    deleted = 0
    while True:
        page = list(documents.limit(DELETE_BATCH).stream())
        if not page:
            return deleted
        batch = firestore_client().batch()
        for doc in page:
            batch.delete(doc.reference)
        batch.commit()
        deleted += len(page)
