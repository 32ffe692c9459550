"""The app backend's credential fetch: a user's connection's fresh access token and its expiry, for
apps that call a provider's SDK themselves. The only reply that holds a token (Cache-Control:
no-store, as every reply); refused when its audit entry (who: the backend's account, which uid,
which service) cannot be written. A refused fetch (not connected, needs re-auth) is audited too,
with the error code as its outcome."""

from common.access.backend_auth import BackendCaller
from common.platform.errors import AppError, Unavailable
from common.platform.timeutil import iso
from common.product import audit
from common.stores import connections
from common.tokens.reader import get_credentials


def credentials(caller: BackendCaller, uid: str, service: str, connection_id: str | None) -> dict:
    """Refreshed under the lease when due (common/tokens/refresher.py); 404 not_connected, 409
    needs_reauth, 409 connection_id_required when the user has several and none is named."""
    entry = {"service": service, "backend": caller.email}
    try:
        connection_id, found = connections.resolve(uid, service, connection_id)
        entry["connectionId"] = connection_id
        token, expires_at = get_credentials(uid, connection_id, read=found)
    except AppError as error:
        audit.record("backend_credentials", uid, **entry, outcome=error.code)
        raise
    if not audit.record("backend_credentials", uid, **entry, outcome="ok"):
        raise Unavailable("The credential fetch could not be audited; retry", code="audit_unavailable", retry_after=1)
    return {"uid": uid, "service": service, "connectionId": connection_id, "accessToken": token, "expiresAt": iso(expires_at)}
