"""GDPR erasure: disconnect every service (revoke at the provider, stop watches and channels, delete
synced data), then delete every document of the user in every collection, and leave one audit
entry without personal data (an erasure id, the time and what was removed).

All of it runs inside the erasure fence (common/stores/erasures.py): raised before the first
delete, so no writer adds anything meanwhile, and closed with the time it ended, so work that
started before then (a sync that already fetched mail, a renewal, an OAuth flow) writes nothing
afterwards either."""

import secrets

from common.connect.oauth_flow import disconnect
from common.platform.clients import firestore_client
from common.privacy.user_export import COLLECTIONS_BY_UID, documents_naming
from common.product import audit
from common.product.events import publish_connection_event
from common.providers import services
from common.stores import erasures
from common.stores.connections import USERS, list_connections


def erase(uid: str) -> dict:
    erasures.begin(uid)
    disconnected = _disconnect_all(uid)
    user = firestore_client().collection(USERS).document(uid)
    removed = {sub.id: sum(1 for _ in sub.list_documents()) for sub in user.collections()}
    firestore_client().recursive_delete(user)
    for collection in COLLECTIONS_BY_UID:
        docs = list(documents_naming(collection, uid))
        for doc in docs:
            doc.reference.delete()
        if docs:
            removed[collection] = len(docs)
    erasures.end(uid)
    erasure_id = secrets.token_hex(12)
    audit.record("erase", None, erasureId=erasure_id, disconnected=disconnected, removed=removed)
    publish_connection_event("erased", uid, None, None, erasureId=erasure_id, disconnected=disconnected)
    return {"erasureId": erasure_id, "disconnected": disconnected, "removed": removed}


def _disconnect_all(uid: str) -> list[str]:
    """Disconnect each of the user's connections of a service offered here (one not offered has no
    client to revoke with: the recursive delete removes its tokens); the services disconnected."""
    offered = services()
    held = [record for record in list_connections(uid) if record["service"] in offered]
    done = {record["service"] for record in held if disconnect(uid, record["service"], record["connectionId"])["wasConnected"]}
    return [service for service in offered if service in done]
