"""GDPR export: every document under `users/{uid}` and every document elsewhere that names the user
(account index, pending OAuth states, channels, leases, audit entries), with secrets left out."""

from google.cloud.firestore_v1.base_query import FieldFilter

from common.platform.clients import firestore_client
from common.platform.timeutil import iso
from common.product import audit
from common.stores.connections import ACCOUNT_INDEX, USERS
from common.stores.leases import COLLECTION as LEASES
from common.stores.oauth_states import COLLECTION as OAUTH_STATES
from common.stores.sync_state import CHANNELS

SECRET_FIELDS = frozenset({"accessToken", "refreshToken", "codeVerifier", "binding", "tokenHash"})
COLLECTIONS_BY_UID = (ACCOUNT_INDEX, OAUTH_STATES, CHANNELS, LEASES, audit.COLLECTION)


def _plain(value):
    """JSON-ready: timestamps as RFC 3339, secrets dropped."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items() if k not in SECRET_FIELDS}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if hasattr(value, "isoformat"):
        return iso(value)
    return value


def documents_naming(collection: str, uid: str):
    return firestore_client().collection(collection).where(filter=FieldFilter("uid", "==", uid)).stream()


def export(uid: str) -> dict:
    user = firestore_client().collection(USERS).document(uid)
    data = {sub.id: {doc.id: _plain(doc.to_dict()) for doc in sub.stream()} for sub in user.collections()}
    snapshot = user.get()  # the user's own document: which connections they hold of each service
    if snapshot.exists:
        data[USERS] = {uid: _plain(snapshot.to_dict())}
    for collection in COLLECTIONS_BY_UID:
        found = {doc.id: _plain(doc.to_dict()) for doc in documents_naming(collection, uid)}
        if found:
            data[collection] = found
    return {"uid": uid, "collections": data}
